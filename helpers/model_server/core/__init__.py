"""Core layer: the model manager, loading, servables, infer-request pool, sequences, threads."""
