"""Timing small inference calls and plotting the per-step latencies."""
