"""Accuracy and latency predictors, encodings, ranking metrics."""
