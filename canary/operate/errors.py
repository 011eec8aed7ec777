"""The one error the operator commands raise: what is wrong, and how to fix it."""

from __future__ import annotations


class CliError(Exception):
    """A failure told to the operator in words (no traceback); `exit_code` is the process's."""

    def __init__(self, message: str, *, exit_code: int = 3) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class ApiStatusError(CliError):
    """The API server answered with an error Status; `code` is its HTTP status."""

    def __init__(self, message: str, code: int, status: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.status = status or {}
