"""The TFS REST API (`/v1/...`): `service.py` routes predict, metadata, model status and config
status (`/v1/config`); `bodies.py` parses and renders the predict bodies (column and row formats).
"""
