"""SMASH: one-shot architecture search with a HyperNet that generates weights for any architecture
of the dense space (Brock et al., ICLR 2018), with per-architecture BN recalibration.

`config.py` holds `SmashConfig` (no torch), `network.py` the supernet's modules, `model.py` the
`Smash` supernet (fit, score, propose), `strategy.py` how SMASH proposes trials (samples, then
hill-climbing around the best scored).
"""

from nas.supernets.smash.config import SmashConfig

__all__ = ["Smash", "SmashConfig"]


def __getattr__(name: str):  # torch loads only when the supernet itself is used
    if name == "Smash":
        from nas.supernets.smash.model import Smash

        return Smash
    raise AttributeError(f"module 'nas.supernets.smash' has no attribute {name!r}")
