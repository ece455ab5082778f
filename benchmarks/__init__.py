"""Benchmarks and the soak (`make bench`, `make soak`), and the load the server tests reuse."""
