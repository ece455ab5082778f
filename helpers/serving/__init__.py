"""The client side of serving: start a model server and talk to it (notebooks 05 and 06)."""
