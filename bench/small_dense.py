"""A small configured sub-space of the dense space, for CPU-sized train searches:
`--space bench/small_dense.py:SPACE`. Three stages of 1 to 3 nodes; widths 8/16 (x2 per stage),
kernels 3/5, no dilation, groups or bottlenecks; any skip inputs, merges and stage outputs."""

from __future__ import annotations

from search_spaces.dense import DenseSpace, DenseSpaceConfig

SPACE = DenseSpace(DenseSpaceConfig(stages=3, min_nodes=1, max_nodes=3, stem=16, widths=(8, 16), kernels=(3, 5),
                                    dilations=(1,), groups=(1,), bottlenecks=(0,)))
