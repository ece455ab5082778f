"""A local model server that serves OpenVINO models like OVMS 2026.2, stateful ones included.

Taught in notebook 05 and used in notebook 06; README.md shows its layers.
"""
