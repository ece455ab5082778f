"""Notebook widgets (ipywidgets): the state panel, the stream panel and a training progress bar."""
