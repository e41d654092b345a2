"""Settings: ``MERCATO_`` variables, and stg/prod refusing missing or development secrets."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from pydantic import SecretStr

from mercato import catalog
from mercato.catalog import Service
from mercato.platform.settings import (
    DEV_SECRET_PREFIX,
    InsecureSettingsError,
    Profile,
    ServiceSettings,
)
from mercato.services.auth.settings import Settings as AuthSettings
from mercato.services.gateway.settings import Settings as GatewaySettings
from mercato.services.user.settings import Settings as UserSettings

STRONG = "a-real-secret-of-enough-length"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("MERCATO_"):
            monkeypatch.delenv(name)


def test_settings_come_from_mercato_prefixed_variables(monkeypatch):
    monkeypatch.setenv("MERCATO_PORT", "9123")
    monkeypatch.setenv("MERCATO_DATABASE_URL", "postgresql://u:p@db:5432/x")
    monkeypatch.setenv("MERCATO_SERVICE_URLS", '{"auth": "http://auth:8080"}')
    monkeypatch.setenv("PORT", "1")
    monkeypatch.setenv("DATABASE_URL", "postgresql://wrong")
    settings = ServiceSettings.for_service("gateway")
    assert settings.port == 9123
    assert settings.database_url == "postgresql://u:p@db:5432/x"
    assert settings.service_url("auth") == "http://auth:8080"


def test_service_urls_default_to_the_template_with_catalog_ports():
    settings = ServiceSettings.for_service("gateway")
    assert settings.service_url("auth") == f"http://127.0.0.1:{catalog.get('auth').port}"


def test_overrides_win_over_the_environment(monkeypatch):
    monkeypatch.setenv("MERCATO_PORT", "9123")
    assert ServiceSettings.for_service("gateway", port=9200).port == 9200


def test_dev_accepts_development_defaults():
    settings = AuthSettings()
    assert settings.env is Profile.dev
    assert settings.secret_key.get_secret_value().startswith(DEV_SECRET_PREFIX)
    assert UserSettings().s3_access_key is None


@pytest.mark.parametrize("profile", ["stg", "prod"])
def test_auth_refuses_its_development_secret_key(monkeypatch, profile):
    monkeypatch.setenv("MERCATO_ENV", profile)
    with pytest.raises(InsecureSettingsError) as refused:
        AuthSettings()
    message = str(refused.value)
    assert "MERCATO_SECRET_KEY" in message
    assert "development default" in message
    assert profile in message
    assert "auth" in message


@pytest.mark.parametrize("profile", ["stg", "prod"])
def test_auth_refuses_a_missing_or_short_secret_key(monkeypatch, profile):
    monkeypatch.setenv("MERCATO_ENV", profile)
    with pytest.raises(InsecureSettingsError, match="MERCATO_SECRET_KEY is not set"):
        AuthSettings(secret_key=SecretStr(""))
    monkeypatch.setenv("MERCATO_SECRET_KEY", "short-secret")
    with pytest.raises(InsecureSettingsError, match="MERCATO_SECRET_KEY is shorter"):
        AuthSettings()


def test_the_refusal_never_repeats_a_secret_value(monkeypatch):
    monkeypatch.setenv("MERCATO_ENV", "prod")
    monkeypatch.setenv("MERCATO_SECRET_KEY", "tooshort-xyz")
    with pytest.raises(InsecureSettingsError) as refused:
        AuthSettings()
    assert "tooshort-xyz" not in str(refused.value)
    assert "tooshort-xyz" not in repr(refused.value)


def test_prod_accepts_real_secrets(monkeypatch):
    monkeypatch.setenv("MERCATO_ENV", "prod")
    monkeypatch.setenv("MERCATO_SECRET_KEY", STRONG)
    assert AuthSettings().env is Profile.prod


@pytest.mark.parametrize("profile", ["stg", "prod"])
def test_a_service_with_buckets_needs_both_s3_keys(monkeypatch, profile):
    assert catalog.get("user").buckets
    monkeypatch.setenv("MERCATO_ENV", profile)
    with pytest.raises(InsecureSettingsError) as refused:
        UserSettings()
    assert "MERCATO_S3_ACCESS_KEY is not set" in str(refused.value)
    assert "MERCATO_S3_SECRET_KEY is not set" in str(refused.value)

    monkeypatch.setenv("MERCATO_S3_ACCESS_KEY", "AKIAREALACCESSKEY1234")
    monkeypatch.setenv("MERCATO_S3_SECRET_KEY", DEV_SECRET_PREFIX + "s3")
    with pytest.raises(InsecureSettingsError) as refused:
        UserSettings()
    assert "MERCATO_S3_ACCESS_KEY" not in str(refused.value)
    assert "MERCATO_S3_SECRET_KEY still holds the development default" in str(refused.value)

    monkeypatch.setenv("MERCATO_S3_SECRET_KEY", STRONG)
    assert UserSettings().s3_secret_key == SecretStr(STRONG)


def test_a_service_without_buckets_or_own_identity_needs_no_secret(monkeypatch):
    monkeypatch.setenv("MERCATO_ENV", "prod")
    assert ServiceSettings.for_service("gateway").required_secrets() == []


def test_a_service_calling_with_its_own_identity_needs_its_client_secret(monkeypatch):
    caller = Service("caller", "calls as itself", 8199, calls_with_own_identity=True)
    monkeypatch.setitem(catalog.SERVICES, "caller", caller)
    monkeypatch.setenv("MERCATO_ENV", "stg")
    with pytest.raises(InsecureSettingsError, match="MERCATO_CLIENT_SECRET is not set"):
        ServiceSettings.for_service("caller")
    assert ServiceSettings.for_service("caller", client_secret=STRONG).client_secret is not None
    # In dev, nobody asks.
    monkeypatch.setenv("MERCATO_ENV", "dev")
    assert ServiceSettings.for_service("caller").client_secret is None


def test_every_problem_is_named_at_once(monkeypatch):
    monkeypatch.setitem(
        catalog.SERVICES,
        "caller",
        Service("caller", "x", 8199, calls_with_own_identity=True, buckets=("files",)),
    )
    monkeypatch.setenv("MERCATO_ENV", "prod")
    with pytest.raises(InsecureSettingsError) as refused:
        ServiceSettings.for_service("caller")
    for variable in ("MERCATO_CLIENT_SECRET", "MERCATO_S3_ACCESS_KEY", "MERCATO_S3_SECRET_KEY"):
        assert variable in str(refused.value)


def test_the_server_exits_with_a_clear_message_instead_of_a_traceback(tmp_path):
    environment = {k: v for k, v in os.environ.items() if not k.startswith("MERCATO_")} | {
        "MERCATO_ENV": "prod"
    }
    finished = subprocess.run(
        [sys.executable, "-m", "mercato.platform.server", "auth"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        check=False,
    )
    assert finished.returncode == 78, finished.stderr
    output = finished.stdout + finished.stderr
    assert "MERCATO_SECRET_KEY" in output
    assert "Traceback" not in output


def test_the_gateway_refuses_uvicorn_proxy_headers_because_it_counts_hops_itself():
    with pytest.raises(InsecureSettingsError, match="MERCATO_FORWARDED_ALLOW_IPS"):
        GatewaySettings(forwarded_allow_ips="127.0.0.1")


def test_trusted_proxy_hops_cannot_be_negative():
    with pytest.raises(ValueError, match="trusted_proxy_hops"):
        GatewaySettings(trusted_proxy_hops=-1)


def test_a_deployed_gateway_refuses_to_start_without_the_client_secret_keying_its_seal():
    with pytest.raises(InsecureSettingsError, match="MERCATO_CLIENT_SECRET is not set"):
        GatewaySettings(env="prod")
    assert GatewaySettings(env="prod", client_secret=STRONG).client_secret is not None
