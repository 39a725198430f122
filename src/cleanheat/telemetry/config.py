"""Settings of the telemetry area (env prefix ``CLEANHEAT_TELEMETRY_``); built at an edge and passed in."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from cleanheat.timeutil import PROGRAMME_UTC_OFFSET_H


class TelemetryConfig(BaseSettings):
    """Every telemetry setting. Each field's description is its documentation (docs/telemetry.md)."""

    model_config = SettingsConfigDict(env_prefix="CLEANHEAT_TELEMETRY_", env_file=".env", extra="ignore")

    mqtt_url: str = Field(default="mqtt://127.0.0.1:1883",
                          description="MQTT broker the ingest worker subscribes to (mqtt://[user:pass@]host:port).")
    mqtt_topic_prefix: str = Field(default="cleanheat/v1",
                                   description="Topic prefix; devices publish to <prefix>/<org>/<device>/readings.")
    mqtt_share_group: str = Field(default="cleanheat",
                                  description="MQTT 5 shared-subscription group of the ingest workers "
                                              "($share/<group>/...); empty: a plain subscription.")
    mqtt_session_expiry_s: int = Field(default=7 * 86400,
                                       description="How long the broker keeps a worker's session (and queues its "
                                                   "QoS 1 messages) while the worker is down [s].")
    mqtt_receive_maximum: int = Field(default=1000,
                                      description="Unacknowledged QoS 1 messages the broker may send a worker at once.")
    mqtt_require_token: bool = Field(default=True,
                                     description="Refuse MQTT messages without a valid device token in the payload "
                                                 "(false when the broker authenticates devices itself).")
    stream_max_per_user: int = Field(default=8, ge=1,
                                     description="Live-update streams (open live pages) one user may hold at once; "
                                                 "one more is refused with HTTP 429.")
    http_ingest_max_bytes: int = Field(default=8 * 1024 * 1024, ge=1024,
                                       description="Largest body of one HTTP ingest request (a batch of readings) "
                                                   "[bytes]; larger: HTTP 413 before it is read.")
    batch_max_messages: int = Field(default=500, description="Messages written per transaction by a worker.")
    batch_max_wait_ms: int = Field(default=200, description="Longest a worker waits to fill a batch [ms].")
    future_tolerance_s: int = Field(default=300,
                                    description="Readings stamped further in the future than this are quarantined [s].")
    max_age_days: int = Field(default=400,
                              description="Readings older than this are quarantined (CSV backfill: raw retention) "
                                          "[days].")
    retention_raw_days: int = Field(default=90, description="Raw readings are kept this long [days].")
    retention_1m_days: int = Field(default=400, description="1-minute rollups are kept this long [days].")
    retention_1h_days: int = Field(default=3650, description="Hourly rollups are kept this long [days].")
    day_offset_h: int = Field(default=PROGRAMME_UTC_OFFSET_H,
                              description="Daily rollups follow local days at UTC+this [h] (Asia/Shanghai).")
    jobs_interval_s: float = Field(default=5.0,
                                   description="How often rollups, alarms and availability are updated [s].")
    stale_factor: float = Field(default=3.0,
                                description="A device is unavailable after this many sampling intervals without "
                                            "a valid reading.")
    webhook_timeout_s: float = Field(default=5.0, description="Timeout of one webhook POST [s].")
    webhook_max_attempts: int = Field(default=6, description="Webhook attempts before a delivery is marked failed.")
    webhook_retry_base_s: float = Field(default=10.0,
                                        description="First retry delay of a failed webhook; doubles each time [s].")
    webhook_allow_private: bool = Field(default=False,
                                        description="Deliver webhooks to loopback, link-local and private addresses "
                                                    "(tests, on-premise receivers); by default such URLs are "
                                                    "refused when added and again at every delivery (SSRF).")
    jobs_in_web: bool = Field(default=True,
                              description="The web process runs the jobs (rollups, alarms, ...); false when a worker "
                                          "runs `cleanheat telemetry worker --jobs` or `cleanheat telemetry jobs`.")
    demo_live: bool = Field(default=True,
                            description="`cleanheat serve` runs the demo city in-process when the demo data is loaded.")
    demo_backfill_h: int = Field(default=24,
                                 description="Hours of history the in-process demo city fills in at start [h].")
