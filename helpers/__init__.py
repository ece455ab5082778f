"""Helpers for the stateful-OpenVINO notebooks, grouped by audience.

For the notebooks' readers: `models` (what the notebooks build), `graph` (draw and list a model),
`widgets` (interactive panels) and `timing` (per-step latency). For a client of the model server
(notebooks 05 and 06, the tests, the benchmarks): `serving`. The server itself: `model_server`.
"""
