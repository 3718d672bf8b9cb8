"""Benchmark peers (popularity, item-kNN, EASE, ALS, BPR, surprise) on the project splits."""
