"""gRPC adapter: TF Serving's PredictionService and ModelService, and KServe v2's
GRPCInferenceService (ModelStreamInfer over models with the sequence extension: `streams.py`)."""
