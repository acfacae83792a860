"""Signed, expiring API tokens: JWT with HS256, the secret kept in the state dir."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from pathlib import Path
from typing import Any

from .atomic import write_atomic


class TokenInvalid(Exception):
    """A token that is malformed, tampered with or expired."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def load_secret(path: Path) -> bytes:
    """The signing secret, made (random, mode 0600) on first use."""
    if path.exists():
        return path.read_bytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, secrets.token_bytes(32))
    os.chmod(path, 0o600)
    return path.read_bytes()


class TokenSigner:
    def __init__(self, secret: bytes, ttl_seconds: int) -> None:
        self._secret = secret
        self.ttl_seconds = ttl_seconds

    def issue(self, user: str, now: float | None = None) -> str:
        issued = int(now if now is not None else time.time())
        header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        claims = _b64(
            json.dumps({"sub": user, "iat": issued, "exp": issued + self.ttl_seconds}).encode()
        )
        return f"{header}.{claims}.{self._sign(f'{header}.{claims}')}"

    def verify(self, token: str, now: float | None = None) -> str:
        """The user name in a valid token; TokenInvalid otherwise."""
        try:
            header, claims, signature = token.split(".")
        except ValueError:
            raise TokenInvalid("not a token") from None
        if not hmac.compare_digest(signature, self._sign(f"{header}.{claims}")):
            raise TokenInvalid("bad signature")
        try:
            if json.loads(_unb64(header)).get("alg") != "HS256":
                raise TokenInvalid("unexpected algorithm")
            payload: dict[str, Any] = json.loads(_unb64(claims))
        except (ValueError, UnicodeDecodeError):
            raise TokenInvalid("malformed token") from None
        if float(payload.get("exp", 0)) < (now if now is not None else time.time()):
            raise TokenInvalid("expired")
        user = payload.get("sub")
        if not isinstance(user, str) or not user:
            raise TokenInvalid("no user")
        return user

    def _sign(self, signing_input: str) -> str:
        return _b64(hmac.new(self._secret, signing_input.encode(), hashlib.sha256).digest())
