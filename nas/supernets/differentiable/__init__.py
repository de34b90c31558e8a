"""Differentiable weight-sharing search on the NAS-Bench-201 cell: DARTS (softmax mixture),
GDAS (Gumbel-softmax, one op per edge) and ProxylessNAS-style binary gates (one or two paths).

`config.py` holds `DiffOptions` (no torch), `modes.py` how each mode mixes an edge, `nb201.py` the
supernet's modules, `model.py` the `Differentiable` supernet (bilevel fit, discretise, propose),
`strategy.py` how the pipeline proposes trials from it (argmax first, then samples).
"""

from nas.supernets.differentiable.config import MODES, DiffOptions

__all__ = ["MODES", "DiffOptions", "Differentiable"]


def __getattr__(name: str):  # torch loads only when the supernet itself is used
    if name == "Differentiable":
        from nas.supernets.differentiable.model import Differentiable

        return Differentiable
    raise AttributeError(f"module 'nas.supernets.differentiable' has no attribute {name!r}")
