"""A tiny GPT-style decoder and its export the way Optimum-Intel exports LLMs (notebook 07)."""
