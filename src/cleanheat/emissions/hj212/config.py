"""Settings of the HJ 212 receiver (env prefix ``CLEANHEAT_HJ212_``); built at an edge (``cleanheat emissions
serve``) and passed in as :class:`~cleanheat.emissions.hj212.server.ReceiverOptions`. Documented in
docs/emissions.md (the test tests/emissions/test_receiver_hostile.py checks that each one is)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ReceiverConfig(BaseSettings):
    """Connection limits of the HJ 212 receiver. Each field's description is its documentation."""

    model_config = SettingsConfigDict(env_prefix="CLEANHEAT_HJ212_", env_file=".env", extra="ignore")

    max_connections: int = Field(default=5000, ge=1, description="Connections accepted at once (all addresses).")
    max_connections_per_address: int = Field(
        default=200, ge=1,
        description="Connections accepted at once from one IP address (loggers behind a carrier NAT share one; "
                    "raise it for such networks).")
    login_timeout_s: float = Field(
        default=60.0, gt=0,
        description="Close a connection that has not sent a packet with a registered MN, its password and a "
                    "right CRC within this time [s].")
    idle_timeout_s: float = Field(default=600.0, gt=0, description="Close a connection silent for this long [s].")
    max_bad_per_minute: int = Field(
        default=600, ge=1, description="Close a connection sending more malformed frames than this in a minute.")
    max_kept_bad_bytes_per_minute: int = Field(
        default=65_536, ge=0,
        description="Bytes of malformed or rejected input stored per connection and minute; the rest is dropped "
                    "and counted (a record with reason `dropped` says how much).")
    max_password_failures: int = Field(
        default=5, ge=1,
        description="Close a connection after this many different wrong passwords (each costs a hash).")
