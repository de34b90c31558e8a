"""The error a user can fix: the CLI prints its message on one line and exits with code 2."""

from __future__ import annotations


class UserError(ValueError):
    """Bad input from the user (a flag value, a file, an architecture)."""


class StorageLost(RuntimeError):
    """The search's storage (a database server) went away and did not come back in time: the CLI
    prints the one line and exits with code 1 (nothing is wrong with the user's input)."""
