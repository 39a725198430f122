"""HJ 212 access passwords (PW) at rest: salted PBKDF2-SHA256 hashes, verified once per point and cached.

A data logger sends its PW in clear in every packet (HJ 212 has no better mechanism), so the receiver must compare
it at up to thousands of packets a second; the database keeps only a hash. :func:`hash_password` makes
``pbkdf2_sha256$<iterations>$<salt b64>$<hash b64>`` (a random 16-byte salt per point; the iteration count is in
the text, so it can be raised later without breaking stored hashes). :class:`PasswordCache` remembers, in memory
only, the password a point last logged in with, so a packet costs one string comparison, and the wrong passwords
seen recently, so repeating a wrong password costs nothing either. A new password (rotation) is verified once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections import OrderedDict

SCHEME = "pbkdf2_sha256"
#: PBKDF2 rounds of new hashes (about 10-20 ms per hash; verified once per point and process, then cached)
ITERATIONS = 10_000


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode("ascii").rstrip("=")


def _unb64(s: str) -> bytes:
    return base64.b64decode(s + "=" * (-len(s) % 4))


def hash_password(password: str, *, iterations: int = ITERATIONS, salt: bytes | None = None) -> str:
    """The stored form of an HJ 212 password."""
    salt = os.urandom(16) if salt is None else salt
    dk = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    return f"{SCHEME}${iterations}${_b64(salt)}${_b64(dk)}"


def is_hashed(stored: str | None) -> bool:
    return bool(stored) and stored.startswith(SCHEME + "$") and stored.count("$") == 3


def verify_password(password: str, stored: str) -> bool:
    """True when ``password`` is the one ``stored`` was made from (False for a malformed ``stored``)."""
    if not is_hashed(stored):
        return False
    _, iterations, salt, digest = stored.split("$")
    try:
        n = int(iterations)
        salt_b, want = _unb64(salt), _unb64(digest)
    except ValueError:
        return False
    if not 1 <= n <= 10_000_000:
        return False
    got = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8", "surrogateescape"), salt_b, n)
    return hmac.compare_digest(got, want)


class PasswordCache:
    """Verification with memory: ``check(point_id, stored, pw)`` hashes only a (stored, pw) pair not seen yet."""

    def __init__(self, max_negative: int = 4096) -> None:
        self._ok: dict[int, tuple[str, str]] = {}  # point id -> (stored hash, the password that matched)
        self._bad: OrderedDict[tuple[str, str], None] = OrderedDict()
        self.max_negative = max_negative
        #: hashes computed (a cache miss); the receiver limits how many a connection may cause
        self.computed = 0

    def check(self, point_id: int, stored: str, password: str) -> tuple[bool, bool]:
        """(matches, computed): ``computed`` is True when a hash had to be computed (not cached)."""
        ok = self._ok.get(point_id)
        if ok is not None and ok[0] == stored and hmac.compare_digest(ok[1], password):
            return True, False
        key = (stored, password)
        if key in self._bad:
            self._bad.move_to_end(key)
            return False, False
        self.computed += 1
        if verify_password(password, stored):
            self._ok[point_id] = (stored, password)
            return True, True
        self._bad[key] = None
        if len(self._bad) > self.max_negative:
            self._bad.popitem(last=False)
        return False, True

    def known(self, point_id: int, stored: str) -> str | None:
        """The password point ``point_id`` logged in with (to send it host commands), when still current."""
        ok = self._ok.get(point_id)
        return ok[1] if ok is not None and ok[0] == stored else None
