"""SMASH: one-shot architecture search with a HyperNet that generates weights for any architecture
of the dense space (Brock et al., ICLR 2018), with per-architecture BN recalibration."""

from nas.smash.hypertrain import Smash, SmashConfig
from nas.smash.search import SmashSearchConfig, run_smash

__all__ = ["Smash", "SmashConfig", "SmashSearchConfig", "run_smash"]
