"""Tiny models gain nothing from intra-op threads, and threads that spin on a busy machine make
them many times slower: the suite runs torch on one thread."""

import torch

torch.set_num_threads(1)
