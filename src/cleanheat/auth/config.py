"""Settings of the auth area (env prefix ``CLEANHEAT_AUTH_``); built at an edge and passed in.

Login throttling keeps its state in the database (``auth_login_failures``), so the limits hold across several
web processes. The password rules themselves are data: ``auth/data/password_policy.yaml``.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from cleanheat.auth.passwords import ARGON2_MEMORY_KIB, ARGON2_PARALLELISM, ARGON2_TIME_COST


class AuthConfig(BaseSettings):
    """Every auth setting. Each field's description is its documentation (docs/settings.md)."""

    model_config = SettingsConfigDict(env_prefix="CLEANHEAT_AUTH_", env_file=".env", extra="ignore")

    account_free_failures: int = Field(
        default=5, description="Wrong passwords in a row for one account after which each further attempt must wait.")
    address_free_failures: int = Field(
        default=50, description="Failed logins from one client address after which each further attempt must wait.")
    backoff_base_s: float = Field(
        default=1.0, description="The first wait (after the free failures); doubles with each further failure [s].")
    backoff_max_s: float = Field(default=900.0, description="Longest wait between login attempts [s].")
    lockout_after_failures: int = Field(
        default=10, description="Consecutive wrong passwords that lock an account until an administrator unlocks "
                                "it (0: never lock).")
    failure_window_s: int = Field(
        default=86400, description="Failure counters of an account or address that is not locked start again after "
                                   "this long without a failure [s].")
    hash_concurrency: int = Field(
        default=2, description="Password hashes computed at once per process (each takes the argon2 memory); "
                               "further logins queue.")
    hash_wait_s: float = Field(
        default=30.0, description="Longest a login waits for a free hashing slot before it is answered 503 [s].")
    argon2_time_cost: int = Field(
        default=ARGON2_TIME_COST, ge=1, description="argon2id iterations of a password hash (OWASP 2023: 2).")
    argon2_memory_kib: int = Field(
        default=ARGON2_MEMORY_KIB, ge=8,
        description="argon2id memory of a password hash [KiB] (OWASP 2023: 19456, i.e. 19 MiB).")
    argon2_parallelism: int = Field(
        default=ARGON2_PARALLELISM, ge=1, description="argon2id lanes of a password hash (OWASP 2023: 1).")
