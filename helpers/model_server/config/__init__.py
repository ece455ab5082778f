"""Configuration layer: the command line, config.json, one model's settings, the repository."""
