"""Looking at an ov.Model: a drawing of its graph and text listings of its ops."""
