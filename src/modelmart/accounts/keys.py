"""API key format: ``mm_<prefix>_<secret>``. The prefix finds the row; only a SHA-256 of the
secret is stored, compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from modelmart.errors import Unauthenticated

_SCHEME = "mm"
_PREFIX_BYTES = 6
_SECRET_BYTES = 24


@dataclass(frozen=True)
class NewKey:
    raw: str  # shown once, never stored
    prefix: str
    secret_hash: str


def generate_key() -> NewKey:
    prefix = secrets.token_hex(_PREFIX_BYTES)
    secret = secrets.token_urlsafe(_SECRET_BYTES)
    return NewKey(f"{_SCHEME}_{prefix}_{secret}", prefix, hash_secret(secret))


def parse_key(raw: str) -> tuple[str, str] | None:
    """The prefix and secret of ``raw``, or None if it does not have the shape of a key."""
    scheme, _, rest = raw.partition("_")
    prefix, _, secret = rest.partition("_")
    if scheme != _SCHEME or len(prefix) != 2 * _PREFIX_BYTES or not secret:
        return None
    return prefix, secret


def split_key(raw: str) -> tuple[str, str]:
    """The prefix and secret of a key an operator chose; refused, with the expected shape, if
    malformed."""
    parts = parse_key(raw)
    if parts is None:
        raise Unauthenticated("the API key is malformed; keys look like mm_<12 hex>_<secret>")
    return parts


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def secret_matches(secret: str, secret_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), secret_hash)
