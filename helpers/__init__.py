"""Helpers for the stateful-OpenVINO notebooks, grouped by audience.

For the notebooks' readers: `models` (what the notebooks build), `graph` (draw and list a model),
`widgets` (interactive panels), `timing` (per-step latency). For clients of a server:
`serving` (requests, launching, model repositories). The server itself: `model_server`.
"""
