"""Configuration layer: the command line, config.json, one model's settings (control inputs
included), the repository."""
