"""Helpers for the stateful-OpenVINO notebooks: builders, plotting, widgets, timing, serving."""
