"""The project's tests: a package, so that pytest names every module by its dotted path."""
