"""Search spaces: the dense DAG space and its presets, the NAS-Bench-201 cell space, the base protocol."""

from search_spaces.base import SPACES, Architecture, SearchSpace, default_space, register_space
from search_spaces.registry import Registry

__all__ = ["SPACES", "Architecture", "Registry", "SearchSpace", "default_space", "register_space"]

from search_spaces.dense import DenseSpace  # noqa: E402  (registers after the base types exist)

register_space("dense", DenseSpace)

from search_spaces.nb201 import NB201Space  # noqa: E402

register_space("nb201", NB201Space)
