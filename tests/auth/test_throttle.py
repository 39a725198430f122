"""Issue #10 item 6: login throttling per account and address, lockout and unlock, bounded hashing, rehash."""

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from cleanheat.auth import passwords, service, throttle
from cleanheat.auth.config import AuthConfig
from cleanheat.auth.login import attempt_login
from cleanheat.auth.tables import AuditLog, User
from cleanheat.store.engine import session_scope
from cleanheat.web.app import create_app
from tests.auth.conftest import configure
from tests.conftest import TEST_ARGON2
from tests.helpers import PASSWORD, bootstrap, login

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def test_backoff_doubles_after_the_free_failures_and_is_capped():
    cfg = AuthConfig(account_free_failures=5, backoff_base_s=1, backoff_max_s=60)
    assert [throttle.backoff_s(n, 5, cfg) for n in range(4, 10)] == [0, 1, 2, 4, 8, 16]
    assert throttle.backoff_s(40, 5, cfg) == 60


def _wait_until(condition, what: str, bound_s: float = 60.0) -> None:
    deadline = time.monotonic() + bound_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def test_account_backoff_and_lockout_then_admin_unlock(settings, session_factory):
    bootstrap(settings)
    cfg = AuthConfig(account_free_failures=2, backoff_base_s=10, backoff_max_s=1000, lockout_after_failures=5)

    def attempt(password, at, address="10.0.0.1"):
        return attempt_login(session_factory, cfg, "daoli", password, address, now=at)

    r = attempt("wrong-1", T0)
    assert r.checked and r.verdict.allowed
    r = attempt("wrong-2", T0 + timedelta(seconds=1))  # the second failure: wait 10 s
    assert r.checked and r.verdict.retry_after_s(T0 + timedelta(seconds=1)) == 10
    r = attempt(PASSWORD, T0 + timedelta(seconds=5))  # within the wait: refused without checking, even if right
    assert not r.ok and not r.checked and r.verdict.retry_at == T0 + timedelta(seconds=11)
    r = attempt("wrong-3", T0 + timedelta(seconds=12))  # after the wait: checked; now 20 s
    assert r.checked and r.verdict.retry_after_s(T0 + timedelta(seconds=12)) == 20
    # Another address does not help: the account itself is throttled.
    assert not attempt(PASSWORD, T0 + timedelta(seconds=14), address="10.9.9.9").checked
    r = attempt("wrong-4", T0 + timedelta(seconds=40))
    assert r.checked and r.verdict.retry_after_s(T0 + timedelta(seconds=40)) == 40
    r = attempt("wrong-5", T0 + timedelta(seconds=90))
    assert r.locked_now and r.verdict.locked
    r = attempt(PASSWORD, T0 + timedelta(days=3))  # locked until an administrator unlocks, however long
    assert not r.ok and r.verdict.locked
    with session_scope(session_factory) as s:
        lock = s.scalar(select(AuditLog).where(AuditLog.action == "lockout"))
        assert lock is not None and lock.detail["username"] == "daoli"
        assert "daoli" in service.locked_accounts(s, service.Actor.system())
        assert service.unlock_account(s, service.Actor.system(), "daoli") is True
        assert s.scalar(select(AuditLog).where(AuditLog.action == "unlock")).detail["was_locked"] is True
    r = attempt(PASSWORD, T0 + timedelta(days=3, seconds=1))
    assert r.ok


def test_unknown_usernames_are_throttled_like_real_ones(settings, session_factory):
    bootstrap(settings)
    cfg = AuthConfig(account_free_failures=1, backoff_base_s=60, lockout_after_failures=0)
    for name in ("daoli", "nobody-here"):
        r = attempt_login(session_factory, cfg, name, "wrong-password", "10.0.0.2", now=T0)
        assert r.checked and r.verdict.retry_after_s(T0) == 60, name
        r = attempt_login(session_factory, cfg, name, "wrong-password", "10.0.0.3", now=T0 + timedelta(seconds=1))
        assert not r.checked and r.verdict.retry_after_s(T0 + timedelta(seconds=1)) == 59, name


def test_address_backoff_across_accounts_and_failures_lapse(settings, session_factory):
    bootstrap(settings)
    cfg = AuthConfig(account_free_failures=100, address_free_failures=3, backoff_base_s=30, failure_window_s=3600)
    for i, name in enumerate(["daoli", "office", "eeb"]):
        attempt_login(session_factory, cfg, name, "wrong-password", "192.0.2.7", now=T0 + timedelta(seconds=i))
    r = attempt_login(session_factory, cfg, "htjt", PASSWORD, "192.0.2.7", now=T0 + timedelta(seconds=5))
    assert not r.checked and r.verdict.retry_at == T0 + timedelta(seconds=32)
    assert attempt_login(session_factory, cfg, "htjt", PASSWORD, "192.0.2.8", now=T0 + timedelta(seconds=5)).ok
    # A failure after the window starts the count again; cleanup deletes lapsed counts.
    r = attempt_login(session_factory, cfg, "daoli", "wrong-password", "192.0.2.7", now=T0 + timedelta(hours=2))
    assert r.checked and r.verdict.allowed
    with session_scope(session_factory) as s:
        assert throttle.cleanup(s, cfg, T0 + timedelta(hours=4)) >= 1


def test_login_page_and_token_api_say_when_to_retry_and_that_the_account_is_locked(app_client):
    configure(app_client, account_free_failures=1, backoff_base_s=600)
    bad = {"username": "daoli", "password": "wrong-password"}
    assert app_client.post("/login", data=bad).status_code == 401
    r = app_client.post("/login", data={"username": "daoli", "password": PASSWORD})
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 500
    assert "尝试次数过多" in r.text and "Too many attempts: try again in" in r.text
    r = app_client.post("/api/auth/token", data={"username": "daoli", "password": PASSWORD})
    assert r.status_code == 429 and "retry-after" in r.headers and "try again" in r.json()["detail"]

    configure(app_client, backoff_base_s=0, lockout_after_failures=3)
    for _ in range(3):
        app_client.post("/api/auth/token", data={"username": "office", "password": "wrong-password"})
    r = app_client.post("/login", data={"username": "office", "password": PASSWORD})
    assert r.status_code == 423
    assert "已被锁定" in r.text and "an administrator must unlock it" in r.text
    assert app_client.post("/api/auth/token", data={"username": "office", "password": PASSWORD}).status_code == 423


def test_admin_sees_the_lock_and_unlocks_on_the_users_page(app_client):
    configure(app_client, backoff_base_s=0, lockout_after_failures=2)
    for _ in range(2):
        app_client.post("/login", data={"username": "daoli", "password": "wrong-password"})
    csrf = login(app_client, "admin")
    page = app_client.get("/admin/users").text
    assert "/admin/users/daoli/unlock" in page and "已锁定" in page
    r = app_client.post("/admin/users/daoli/unlock", data={"csrf_token": csrf})
    assert "已解锁" in r.text and "/admin/users/daoli/unlock" not in r.text
    rows = app_client.get("/api/audit", headers={"X-CSRF-Token": csrf}).json()
    assert any(x["action"] == "unlock" and x["actor"] == "admin" for x in rows)
    assert any(x["action"] == "lockout" for x in rows)
    assert app_client.post("/api/auth/token", data={"username": "daoli", "password": PASSWORD}).status_code == 200


def test_cli_unlocks_an_account(settings, session_factory, monkeypatch):
    from typer.testing import CliRunner

    from cleanheat.cli.main import app

    bootstrap(settings)
    cfg = AuthConfig(backoff_base_s=0, lockout_after_failures=1)
    attempt_login(session_factory, cfg, "daoli", "wrong-password", "10.0.0.1", now=T0)
    monkeypatch.setenv("CLEANHEAT_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("CLEANHEAT_VAR_DIR", str(settings.var_dir))
    result = CliRunner().invoke(app, ["user", "unlock", "daoli"])
    assert result.exit_code == 0, result.output
    assert "unlocked daoli" in result.output
    assert attempt_login(session_factory, cfg, "daoli", PASSWORD, "10.0.0.1", now=T0).ok


class _BlockingHasher:
    """Stands in for argon2's hasher: each verification waits until released, counting those inside."""

    def __init__(self) -> None:
        self.inside = self.most_inside = 0
        self.lock = threading.Lock()
        self.release = threading.Event()

    def verify(self, _hash, _password):
        with self.lock:
            self.inside += 1
            self.most_inside = max(self.most_inside, self.inside)
        self.release.wait(timeout=120)
        with self.lock:
            self.inside -= 1
        return True


def test_concurrent_hashing_is_bounded_and_a_flood_queues(monkeypatch):
    fake = _BlockingHasher()
    monkeypatch.setattr(passwords, "_hasher", fake)
    passwords.configure_hashing(2, 120.0)
    slots = passwords.hashing_slots()
    results = []
    threads = [threading.Thread(target=lambda: results.append(passwords.verify_password("h", "p"))) for _ in range(6)]
    for t in threads:
        t.start()
    _wait_until(lambda: slots.busy == 2 and slots.waiting == 4, "two hashing and four queued")
    assert fake.inside == 2
    fake.release.set()
    for t in threads:
        t.join(timeout=120)
    assert results == [True] * 6 and fake.most_inside == 2


def test_login_answers_503_when_no_hashing_slot_frees_up(app_client, monkeypatch):
    fake = _BlockingHasher()
    monkeypatch.setattr(passwords, "_hasher", fake)
    passwords.configure_hashing(1, 0.05)
    holder = threading.Thread(target=passwords.verify_password, args=("h", "p"))
    holder.start()
    try:
        _wait_until(lambda: fake.inside == 1, "the slot to be taken")
        r = app_client.post("/login", data={"username": "daoli", "password": PASSWORD})
        assert r.status_code == 503 and "服务器繁忙" in r.text and "retry-after" in r.headers
    finally:
        fake.release.set()
        holder.join(timeout=60)
        passwords.configure_hashing(2, 30.0)


def test_argon2_parameters_are_modest_and_old_hashes_are_rehashed_at_login(settings, session_factory, monkeypatch):
    """The production parameters (the tests otherwise hash with cheap ones, tests/conftest.py TEST_ARGON2)."""
    bootstrap(settings)
    for name in TEST_ARGON2:
        monkeypatch.delenv(name)
    cfg = AuthConfig()
    assert (cfg.argon2_time_cost, cfg.argon2_memory_kib, cfg.argon2_parallelism) == (2, 19456, 1)  # OWASP 2023
    create_app(settings, background=False)  # the app factory sets them from AuthConfig
    new = passwords.hash_password("Songhua-river-1")
    assert "m=19456,t=2,p=1" in new
    old = PasswordHasher().hash(PASSWORD)  # argon2-cffi's default: 64 MiB, p=4
    with session_scope(session_factory) as s:
        s.scalar(select(User).where(User.username == "daoli")).password_hash = old
    assert attempt_login(session_factory, cfg, "daoli", PASSWORD, "10.0.0.1").ok
    with session_scope(session_factory) as s:
        stored = s.scalar(select(User).where(User.username == "daoli")).password_hash
    assert stored != old and "m=19456,t=2,p=1" in stored
    assert passwords.verify_password(stored, PASSWORD)


def test_the_suite_hashes_with_the_cheap_test_parameters():
    cfg = AuthConfig()
    assert cfg.argon2_memory_kib < 19456 and cfg.argon2_time_cost <= 2  # tests/conftest.py TEST_ARGON2
    params = f"m={cfg.argon2_memory_kib},t={cfg.argon2_time_cost},p={cfg.argon2_parallelism}"
    assert params in passwords.hash_password("Songhua-river-1")


@pytest.fixture(autouse=True)
def _default_hashing():
    yield
    passwords.configure_hashing(2, 30.0)
    cfg = AuthConfig()  # the environment is restored by now: the suite's cheap parameters again
    passwords.configure_hasher(cfg.argon2_time_cost, cfg.argon2_memory_kib, cfg.argon2_parallelism)
