"""Settings, read from ``CLEANHEAT_*`` environment variables (and an optional ``.env`` file).

Settings are built once at an edge (CLI entry, app factory, test fixture) and passed in explicitly;
nothing in the package reads them at import time.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from cleanheat.timeutil import PROGRAMME_TZ

#: Repository root when running from a checkout (src layout); used only for defaults.
REPO_ROOT = Path(__file__).resolve().parents[2]


def _default_data_dir() -> Path:
    """The programme data shipped with the project (``data/`` in a checkout)."""
    return REPO_ROOT / "data"


class Settings(BaseSettings):
    """Every setting of the platform. Each field's description is its documentation (see docs/settings.md)."""

    model_config = SettingsConfigDict(env_prefix="CLEANHEAT_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default="",
        description="SQLAlchemy URL. Empty: SQLite (WAL) at `var_dir`/cleanheat.db; use postgresql+psycopg://... "
                    "for PostgreSQL.",
    )
    var_dir: Path = Field(
        default=Path("var"),
        description="Directory for runtime files: the SQLite database, the generated secret key, uploads.",
    )
    data_dir: Path = Field(
        default_factory=_default_data_dir,
        description="Directory holding the programme data (data/harbin/...) and weather files.",
    )
    city: str = Field(default="harbin", description="Which city's programme under data_dir to load.")
    secret_key: str = Field(
        default="",
        description="Secret key of the installation (login sessions are kept server-side and do not need it). "
                    "Empty: generated once and kept in var_dir/secret_key.",
    )
    host: str = Field(default="127.0.0.1", description="Address the web server binds to.")
    port: int = Field(default=8000, description="Port the web server listens on.")
    cookie_secure: bool = Field(
        default=False,
        description="Send the session cookie over HTTPS only (set true behind TLS in production).",
    )
    session_max_age_s: int = Field(default=8 * 3600,
                                   description="A login session ends after this long without a request [s].")
    token_max_age_days: int = Field(default=90, description="Lifetime of an API bearer token [days].")
    upload_max_bytes: int = Field(default=10 * 1024 * 1024, description="Largest accepted upload [bytes].")
    body_max_bytes: int = Field(
        default=1024 * 1024,
        description="Largest accepted request body other than an upload (JSON, forms) [bytes]; larger: HTTP 413.",
    )
    display_timezone: str = Field(default=PROGRAMME_TZ, description="Time zone used to display times.")
    compliance_threshold: float = Field(
        default=0.95,
        description="Share of valid hours within limits per pollutant on the emissions monitoring pages and the "
                    "monthly report (the programme's evidence uses data/emissions/supervision.yaml).",
    )
    report_rate_basis: str = Field(
        default="verified",
        description="Which clean-heating rate a published programme report leads with: verified (only area with "
                    "monitoring evidence) or reported; both are shown and the report states which leads.",
        pattern="^(verified|reported)$",
    )
    default_language: str = Field(default="zh", description="Default page language: zh or en.")
    demo_emissions_feed: bool = Field(
        default=False,
        description="`cleanheat serve` also runs the HJ 212 receiver and the simulator of the demo's monitoring "
                    "points (real time), so the emissions pages are live; `make run` sets it.",
    )
    demo_emissions_feed_port: int = Field(
        default=9212, ge=0, le=65535,
        description="TCP port of the demo feed's HJ 212 receiver (0: any free port).",
    )
    background_in_web: bool = Field(
        default=True,
        description="Run the background work (queued jobs, periodic rounds, the demo services) in a thread of the "
                    "web process, as the one-machine default does; `cleanheat serve --workers N` and `make run` "
                    "turn it off and run `cleanheat worker` processes instead (docs/scaling.md).",
    )
    emissions_retention_days: int = Field(
        default=0, ge=0,
        description="Delete received HJ 212 packets and real-time / minute values older than this [days] "
                    "(evaluated hours and days stay); 0 keeps everything. `make run` keeps 3 days.",
    )
    jobs_retention_days: float = Field(
        default=30.0, ge=0,
        description="Delete finished background jobs (done or failed) and the files they made (PDF, Excel) this "
                    "long after they ended [days], in an hourly round of a worker; 0 keeps them all.",
    )

    @model_validator(mode="after")
    def _database_in_var_dir(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{self.var_dir.as_posix()}/cleanheat.db"
        return self

    def resolved_secret_key(self) -> str:
        """The session-signing key: the configured one, or a random key persisted in ``var_dir``."""
        if self.secret_key:
            return self.secret_key
        path = self.var_dir / "secret_key"
        if path.exists():
            return path.read_text().strip()
        self.var_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = secrets.token_urlsafe(48)
        path.write_text(key)
        path.chmod(0o600)
        return key

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def city_dir(self) -> Path:
        return self.data_dir / self.city
