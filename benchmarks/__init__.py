"""Side-by-side benchmark harness (not part of the test suite; see README.md)."""
