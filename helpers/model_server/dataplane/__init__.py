"""The calls both front ends serve over the model manager: Predict, metadata and status."""
