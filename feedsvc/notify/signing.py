"""Message signing: Standard Webhooks (https://www.standardwebhooks.com/, spec "Signature
scheme") and WebSub 8 (Authenticated Content Distribution, ``X-Hub-Signature``)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets

SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    """``whsec_`` + base64 of 24 random bytes (Standard Webhooks: 24 to 64 bytes)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def check_secret(secret: str) -> str | None:
    """Why ``secret`` is not a usable ``whsec_`` secret, or None."""
    if not secret.startswith(SECRET_PREFIX):
        return "secret must start with whsec_"
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX):], validate=True)
    except (binascii.Error, ValueError):
        return "secret must be whsec_ followed by base64"
    if not 24 <= len(key) <= 64:
        return "secret must encode 24 to 64 bytes"
    return None


def webhook_headers(msg_id: str, timestamp: int, body: bytes, secret: str) -> dict[str, str]:
    """``webhook-id``, ``webhook-timestamp`` and ``webhook-signature: v1,<base64 HMAC-SHA256
    of id.timestamp.body>`` keyed with the base64-decoded part of the secret."""
    key = base64.b64decode(secret[len(SECRET_PREFIX):])
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return {"webhook-id": msg_id, "webhook-timestamp": str(timestamp), "webhook-signature": f"v1,{digest}"}


def hub_signature(secret: str, body: bytes) -> str:
    """WebSub 8: ``X-Hub-Signature: sha256=<hex HMAC of the body keyed with hub.secret>``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
