"""Example search spaces written only through the public API, as a user would (see README)."""
