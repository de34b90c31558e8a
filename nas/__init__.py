"""The engine: strategies, supernets, training, evaluation, selection, export, CLI."""

__version__ = "0.1.0"
