"""Differentiable weight-sharing search on the NAS-Bench-201 cell: DARTS (softmax mixture),
GDAS (Gumbel-softmax, one op per edge) and ProxylessNAS-style binary gates (one or two paths).

`config.py` holds `DiffOptions` (no torch), `modes.py` how each mode mixes an edge, `nb201.py` the
supernet's modules, `model.py` the `Differentiable` supernet (bilevel fit, discretise, propose),
`strategy.py` how the pipeline proposes trials from it (the discretised cell first, then samples),
`perturb.py` the perturbation-based discretisation (`select=pt`: DARTS-PT, `select=zc`: Zero-Cost-PT).
The dense DAG: `dense.py` (modules), `dense_model.py` (`DenseDifferentiable`), `dense_choices.py`
(its decisions as the sub-space names them), `dense_latency.py` (expected latency, hard budget).
`bilevel.py` holds the bilevel loop both share.
"""

from nas.supernets.differentiable.config import MODES, DiffOptions

__all__ = ["MODES", "DiffOptions", "Differentiable", "make_supernet"]


def make_supernet(space, mode: str, num_classes: int, in_channels: int, input_size: int, options: DiffOptions,
                  steps: int, seed: int, latency=None, budget_ms: float | None = None):
    """The differentiable supernet of `space` (nb201's cell or the dense DAG); a latency budget
    (dense only) needs `latency` (`dense_latency.ExpectedLatency`)."""
    options.check_space(getattr(space, "name", None))
    if getattr(space, "name", None) == "dense":
        from nas.supernets.differentiable.dense_model import DenseDifferentiable

        return DenseDifferentiable(space, mode, num_classes, in_channels, input_size, options, steps, seed,
                                   latency, budget_ms)
    from nas.supernets.differentiable.model import Differentiable

    if budget_ms is not None:
        raise ValueError("the NB201 supernet has no latency budget; drop --max-latency-ms or use --space dense")
    return Differentiable(space, mode, num_classes, in_channels, input_size, options, steps, seed)


def __getattr__(name: str):  # torch loads only when the supernet itself is used
    if name == "Differentiable":
        from nas.supernets.differentiable.model import Differentiable

        return Differentiable
    raise AttributeError(f"module 'nas.supernets.differentiable' has no attribute {name!r}")
