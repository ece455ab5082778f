"""Helpers for the stateful-OpenVINO notebooks, grouped by audience.

For the notebooks' readers: `models` (what the notebooks build), `graph` (draw and list a model),
`widgets` (interactive panels), `timing` (per-step latency), `llm` (the tiny LM, 07 and 08),
`audio` (Silero VAD, 06) and `isolated` (run code that may crash in a child process, 07). For a
client of the model server (notebooks 06 and 09 to 12, the tests, the benchmarks): `serving`.
The server itself: `model_server`.
"""
