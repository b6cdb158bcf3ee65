"""Errors of the platform that a user causes; the web layer maps them to HTTP status codes
(InputError → 422, PermissionDeniedError → 403, NotFoundError → 404, ConflictError → 409,
ThrottledError → 429, AuthRequiredError → 401, UnavailableError → 503)."""

from __future__ import annotations

from lifecircle.errors import LifecircleError


class PermissionDeniedError(LifecircleError):
    """The signed-in user's role or district does not allow this."""


class NotFoundError(LifecircleError, LookupError):
    """No such circle, report, file ..."""


class ThrottledError(LifecircleError):
    """Too many failed logins for this user and address; try again later."""

    def __init__(self, message: str, retry_after_s: int):
        super().__init__(message)
        self.retry_after_s = retry_after_s


class AuthRequiredError(LifecircleError):
    """Not signed in, or the session expired."""


class BusyError(ThrottledError):
    """Too many password hashes at once in this process (a flood of sign-ins); try again shortly (HTTP 429)."""


class ConflictError(LifecircleError):
    """The change lost a race: the record moved on since the sender saw it (a concurrent status
    change), or the same record was created at the same moment. ``current`` names the state now."""

    def __init__(self, message: str, current: str | None = None):
        super().__init__(message)
        self.current = current


class UnavailableError(LifecircleError):
    """A part the request needs is not ready (the live indicators still being computed, retry in
    ``retry_after_s`` seconds) or cannot run here (no city behind the platform: ``retry_after_s`` None)."""

    def __init__(self, message: str, retry_after_s: int | None = None):
        super().__init__(message)
        self.retry_after_s = retry_after_s
