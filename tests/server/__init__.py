"""The model server's tests: conformance against real server processes, plus unit tests."""
