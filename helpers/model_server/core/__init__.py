"""Core layer: the model manager, loading, servables, infer-request pool, sequences, sequence
batching, control inputs, snapshots, threads."""
