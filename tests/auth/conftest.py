"""Fixtures of the auth tests: an app with the test users (tests/helpers.py) and a way to set AuthConfig."""

from __future__ import annotations

import pytest

from cleanheat.auth.config import AuthConfig
from tests.helpers import bootstrap, make_client


@pytest.fixture
def app_client(settings):
    bootstrap(settings)
    with make_client(settings) as c:
        yield c


def configure(client, **values) -> AuthConfig:
    """Give the client's app these auth settings (the rest default)."""
    cfg = AuthConfig(**values)
    client.app.state.auth_config = cfg
    return cfg
