"""The models the notebooks build: summator, recurrent builders and references, Keras forecaster."""
