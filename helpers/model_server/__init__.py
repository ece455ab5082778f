"""A local model server that serves OpenVINO models like OVMS 2026.2, stateful ones included.

Taught in notebook 09 and used in notebooks 11 and 12; README.md shows its layers.
"""
