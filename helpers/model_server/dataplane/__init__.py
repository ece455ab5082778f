"""The calls the front ends serve over the model manager: TFS Predict, metadata and status
(`predict.py`, `metadata.py`) and KServe v2 infer, readiness and metadata (`kserve*.py`)."""
