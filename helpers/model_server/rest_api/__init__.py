"""REST adapter: TF Serving's REST API (JSON bodies, strict HTTP/1.1) over the protocol layer."""
