"""Salted password hashes in Werkzeug's format (`scrypt:N:r:p$salt$hex`), with the stdlib."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string

SCRYPT_N, SCRYPT_R, SCRYPT_P = 32768, 8, 1
_SALT_CHARS = string.ascii_letters + string.digits


def hash_password(password: str) -> str:
    salt = "".join(secrets.choice(_SALT_CHARS) for _ in range(16))
    digest = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    return f"scrypt:{SCRYPT_N}:{SCRYPT_R}:{SCRYPT_P}${salt}${digest}"


def verify_password(stored: str, password: str) -> bool:
    """True when `password` matches `stored` (scrypt or pbkdf2, as Werkzeug writes them)."""
    try:
        method, salt, expected = stored.split("$", 2)
        kind, *params = method.split(":")
        if kind == "scrypt":
            n, r, p = (int(x) for x in params)
            actual = _scrypt(password, salt, n, r, p)
        elif kind == "pbkdf2":
            algorithm, iterations = params[0], int(params[1])
            actual = hashlib.pbkdf2_hmac(
                algorithm, password.encode(), salt.encode(), iterations
            ).hex()
        else:
            return False
    except (ValueError, IndexError):
        return False
    return hmac.compare_digest(actual, expected)


def _scrypt(password: str, salt: str, n: int, r: int, p: int) -> str:
    return hashlib.scrypt(
        password.encode(), salt=salt.encode(), n=n, r=r, p=p, maxmem=132 * n * r * p
    ).hex()
