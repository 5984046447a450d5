"""Secrets of the annotation app: link tokens, session ids and the CSRF token of a session.

A token or session id is 32 random bytes (URL-safe base64) shown once; the store keeps its
sha256 only. The CSRF token of a session is an HMAC of the session id, so it needs no storage and
a page from another site (which cannot read the HttpOnly cookie) cannot forge it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

__all__ = ["csrf_token", "digest", "new_secret", "same"]

_CSRF = b"crisiseval-annotate/csrf"


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    """sha256 of a secret (what the store keeps)."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def csrf_token(session_id: str) -> str:
    return hmac.new(session_id.encode("utf-8"), _CSRF, hashlib.sha256).hexdigest()


def same(a: str, b: str) -> bool:
    """Constant-time comparison."""
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))
