"""The two kinds of failure: ones the user can fix, and our own; and how a library's error enters a message."""


class UserError(Exception):
    """Something the user can fix: its message names the problem and the fix, on one line."""


def error_line(error: BaseException) -> str:
    """A library's error (MXNet's, Gluon's) reduced to its last line, short enough for a one-line message."""
    lines = str(error).strip().splitlines() or [type(error).__name__]
    return lines[-1][:200]
