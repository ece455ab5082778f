"""gRPC adapter: TF Serving's PredictionService and ModelService over the protocol layer."""
