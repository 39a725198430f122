"""Password hashing with argon2id, at most a few hashes at a time.

Parameters: OWASP Password Storage Cheat Sheet (2023), argon2id "m=19456 (19 MiB), t=2, p=1" — a modest memory
cost, so that the bounded number of concurrent hashes fits a small (2-core) server; argon2-cffi's default
(64 MiB, p=4) took 1.2 GB under 40 concurrent logins (issue #10). Hashes made with other parameters are
rehashed at the next successful login (``needs_rehash``). These are the defaults of the settings
``CLEANHEAT_AUTH_ARGON2_*`` (``AuthConfig``), which the app factory and the CLI pass to ``configure_hasher``; the
test suite sets cheap ones (tests/conftest.py) and one test checks these.

Each hash or verification holds one of ``max_concurrent`` process-wide slots (``configure_hashing``); further
callers queue for up to ``wait_s`` and then get ``HashingBusyError``, so a flood of logins waits instead of
allocating memory. A thread that already holds a slot (``hash_slot()``) does not take a second one.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from cleanheat.auth.policy import WeakPasswordError  # noqa: F401  (re-exported: where callers used to find it)

ARGON2_TIME_COST = 2
ARGON2_MEMORY_KIB = 19 * 1024
ARGON2_PARALLELISM = 1

_hasher = PasswordHasher(time_cost=ARGON2_TIME_COST, memory_cost=ARGON2_MEMORY_KIB,
                         parallelism=ARGON2_PARALLELISM)


def configure_hasher(time_cost: int, memory_kib: int, parallelism: int) -> None:
    """Set the argon2id parameters of new hashes (iterations, memory [KiB], lanes); hashes made with other
    parameters still verify and are rehashed at the next successful login."""
    global _hasher
    if (_hasher.time_cost, _hasher.memory_cost, _hasher.parallelism) != (time_cost, memory_kib, parallelism):
        _hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism)


class HashingBusyError(Exception):
    """No hashing slot became free in time (the server is flooded with logins)."""


class _Slots:
    """A counting semaphore with the number of callers waiting for it (for the operator and the tests)."""

    def __init__(self, size: int, wait_s: float) -> None:
        self.size, self.wait_s = size, wait_s
        self._sem = threading.BoundedSemaphore(size)
        self._lock = threading.Lock()
        self._local = threading.local()
        self.waiting = 0
        self.busy = 0

    @contextmanager
    def hold(self) -> Iterator[None]:
        if getattr(self._local, "held", False):
            yield
            return
        with self._lock:
            self.waiting += 1
        try:
            got = self._sem.acquire(timeout=self.wait_s)
        finally:
            with self._lock:
                self.waiting -= 1
        if not got:
            raise HashingBusyError(f"no password-hashing slot free within {self.wait_s:g} s")
        with self._lock:
            self.busy += 1
        self._local.held = True
        try:
            yield
        finally:
            self._local.held = False
            with self._lock:
                self.busy -= 1
            self._sem.release()


_slots = _Slots(2, 30.0)


def configure_hashing(max_concurrent: int, wait_s: float) -> None:
    """Set the process-wide bound on concurrent hashes (the app factory calls this with ``AuthConfig``)."""
    global _slots
    if max_concurrent < 1:
        raise ValueError("max_concurrent must be at least 1")
    if (_slots.size, _slots.wait_s) != (max_concurrent, wait_s):
        _slots = _Slots(max_concurrent, wait_s)


def hashing_slots() -> _Slots:
    return _slots


@contextmanager
def hash_slot() -> Iterator[None]:
    """Hold one hashing slot (raises ``HashingBusyError`` when none frees up in time)."""
    with _slots.hold():
        yield


def hash_password(password: str) -> str:
    """The argon2id hash of ``password`` (no policy check: services call ``policy.enforce_password`` first)."""
    with hash_slot():
        return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    with hash_slot():
        try:
            return _hasher.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False


def needs_rehash(password_hash: str) -> bool:
    try:
        return _hasher.check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


@functools.cache
def dummy_hash() -> str:
    """A hash to verify against when the user does not exist, so both cases take the same time."""
    return hash_password("dummy-password-for-timing")
