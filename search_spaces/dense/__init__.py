"""The dense DAG space: ResNet, DenseNet, FractalNet, HarDNet and VoVNet are exact special cases."""

from search_spaces.dense.presets import preset_genotype
from search_spaces.dense.space import DenseSpace, DenseSpaceConfig, smash_subspace

__all__ = ["DenseSpace", "DenseSpaceConfig", "preset_genotype", "smash_subspace"]
