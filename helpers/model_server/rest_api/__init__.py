"""REST adapter on one port (strict HTTP/1.1): the TFS API (`tfs/`), the KServe v2 API
(`kserve/`) and our admin routes, chosen by path prefix (`service.py`, `routing.py`)."""
