"""Benchmarks: measured figures and ratios against a peer run side by side."""
