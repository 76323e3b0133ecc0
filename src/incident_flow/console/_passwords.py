"""Password hashes for the console's login form: scrypt (the standard library), salted.

A hash reads ``scrypt$N$r$p$SALT$KEY`` (salt and key in URL-safe base64), so the cost can rise
later without breaking the hashes already written. The configuration holds hashes only:
``incident-flow console hash-password`` makes one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re

__all__ = ["hash_password", "is_password_hash", "verify_password"]

#: The scrypt cost: 2**14 rounds, block size 8, one lane (about 16 MB and 50 ms per check).
N, R, P = 2**14, 8, 1
_KEY_BYTES = 32
_FORM = re.compile(
    r"^scrypt\$(\d{1,8})\$(\d{1,3})\$(\d{1,3})\$([A-Za-z0-9_-]{16,})\$([A-Za-z0-9_-]{40,})$"
)
#: A hash checked when the name is unknown, so a wrong name takes as long as a wrong password.
_DECOY: str | None = None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _derive(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=256 * n * r, dklen=_KEY_BYTES
    )


def hash_password(password: str) -> str:
    """A salted scrypt hash of ``password``, for ``[console.users]``.

    Raises:
        ValueError: the password is empty or shorter than 8 characters.
    """
    if len(password) < 8:
        msg = "a console password has at least 8 characters"
        raise ValueError(msg)
    salt = os.urandom(16)
    key = _derive(password, salt, N, R, P)
    return f"scrypt${N}${R}${P}${_b64(salt)}${_b64(key)}"


def is_password_hash(text: str) -> bool:
    """Whether ``text`` reads as a hash :func:`hash_password` makes (never a clear password)."""
    match = _FORM.match(text)
    if match is None:
        return False
    n, r, p = (int(match.group(i)) for i in (1, 2, 3))
    return n >= 2**10 and n & (n - 1) == 0 and 1 <= r <= 64 and 1 <= p <= 16


def verify_password(password: str, stored: str | None) -> bool:
    """Whether ``password`` matches ``stored`` (constant time; None: an unknown name).

    An unknown name costs the same as a wrong password: a decoy hash is checked.
    """
    global _DECOY  # noqa: PLW0603 - made once, on the first unknown name
    if stored is None or not is_password_hash(stored):
        if _DECOY is None:
            _DECOY = hash_password("not anyone's password")
        _verify(password, _DECOY)
        return False
    return _verify(password, stored)


def _verify(password: str, stored: str) -> bool:
    _, n, r, p, salt, key = stored.split("$")
    derived = _derive(password, _unb64(salt), int(n), int(r), int(p))
    return hmac.compare_digest(derived, _unb64(key))
