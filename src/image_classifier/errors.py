"""The two kinds of failure: ones the user can fix, and our own."""


class UserError(Exception):
    """Something the user can fix: its message names the problem and the fix, on one line."""
