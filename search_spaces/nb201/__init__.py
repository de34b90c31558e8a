"""NAS-Bench-201 cell space (Dong & Yang, ICLR 2020), written only against the public API."""

from search_spaces.nb201.cell import (
    EDGES,
    OPS,
    canonical_edges,
    format_arch_string,
    live_edges,
    parse_arch_string,
)
from search_spaces.nb201.shapes import NB201Shape
from search_spaces.nb201.space import NB201Space

__all__ = ["EDGES", "OPS", "NB201Shape", "NB201Space", "canonical_edges", "format_arch_string", "live_edges",
           "parse_arch_string"]
