"""The KServe v2 REST API (`/v2/...`), as OVMS 2026.2 serves it.

`service.py` is the route (readiness, metadata, infer); `urls.py` matches paths and methods;
`request.py` decodes an infer body (JSON and the binary data extension); `response.py` renders
answers and errors; `json_text.py` parses and writes JSON as OVMS's rapidjson does; `status.py`
holds the REST status codes and errors.
"""
