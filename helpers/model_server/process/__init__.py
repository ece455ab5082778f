"""Process plumbing: logging, heap trimming, the parent watch, protos without TensorFlow."""
