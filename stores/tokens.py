"""Signed, expiring API tokens: JWT with HS256, the secret kept in the state dir."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import sqlite3
import threading
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


class SignedPayloads:
    """HMAC-signed, expiring JSON payloads for URLs that carry their own authority
    (presigned uploads and downloads): `<payload>.<signature>`, both base64url."""

    def __init__(self, secret: bytes, purpose: str) -> None:
        self._secret = hashlib.sha256(secret + purpose.encode()).digest()

    def sign(self, payload: dict[str, Any], ttl_seconds: int) -> str:
        body = dict(payload, exp=int(time.time()) + ttl_seconds, nonce=secrets.token_urlsafe(12))
        encoded = _b64(json.dumps(body, separators=(",", ":")).encode())
        return f"{encoded}.{self._mac(encoded)}"

    def verify(self, token: str) -> dict[str, Any]:
        """The payload of a genuine, unexpired token; TokenInvalid otherwise."""
        encoded, _, signature = token.partition(".")
        if not signature or not hmac.compare_digest(signature, self._mac(encoded)):
            raise TokenInvalid("the signature does not match")
        try:
            payload: dict[str, Any] = json.loads(_unb64(encoded))
        except (ValueError, UnicodeDecodeError):
            raise TokenInvalid("malformed") from None
        if not isinstance(payload, dict) or float(payload.get("exp", 0)) < time.time():
            raise TokenInvalid("expired")
        return payload

    def _mac(self, encoded: str) -> str:
        return _b64(hmac.new(self._secret, encoded.encode(), hashlib.sha256).digest())


class OneTimeTokens:
    """Which single-use tokens were spent (SQLite in the state dir, kept until they expire):
    `claim` before the work, `finish` after it, `release` when it failed so it may be
    retried."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._guard = threading.Lock()
        self._conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS spent (nonce TEXT PRIMARY KEY, "
            "expires REAL NOT NULL, state TEXT NOT NULL, result TEXT)"
        )

    def claim(self, nonce: str, expires: float) -> bool:
        with self._guard:
            self._conn.execute("DELETE FROM spent WHERE expires < ?", (time.time() - 86400,))
            cursor = self._conn.execute(
                "INSERT OR IGNORE INTO spent (nonce, expires, state) VALUES (?, ?, 'busy')",
                (nonce, expires),
            )
            return cursor.rowcount == 1

    def finish(self, nonce: str, result: str) -> None:
        with self._guard:
            self._conn.execute(
                "UPDATE spent SET state='done', result=? WHERE nonce=?", (result, nonce)
            )

    def release(self, nonce: str) -> None:
        with self._guard:
            self._conn.execute("DELETE FROM spent WHERE nonce=? AND state='busy'", (nonce,))

    def result(self, nonce: str) -> str | None:
        with self._guard:
            row = self._conn.execute(
                "SELECT result FROM spent WHERE nonce=? AND state='done'", (nonce,)
            ).fetchone()
        return row[0] if row else None

    def close(self) -> None:
        with self._guard:
            self._conn.close()
