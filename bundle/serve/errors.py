"""Errors a request can cause: each carries the HTTP status it maps to."""

from __future__ import annotations

from bundle.errors import BundleError


class RequestError(BundleError, ValueError):
    """A request the server refuses (wrong shape, dtype or name, unreadable body or image): a 4xx."""

    status = 400

    def __init__(self, message: str, *, status: int = 400, hint: str = "") -> None:
        super().__init__(message, hint=hint)
        self.status = status


class ModelNotFound(RequestError):
    """A request names a model this server does not serve (404)."""

    def __init__(self, name: str, served: str) -> None:
        super().__init__(f"unknown model '{name}'; this server serves '{served}'", status=404)
