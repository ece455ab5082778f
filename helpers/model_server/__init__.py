"""A local model server that serves OpenVINO models like OVMS 2026.2, stateful ones included."""
