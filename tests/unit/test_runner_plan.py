"""The runner's plan: which services and engines, on which ports, with which settings."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import replace

import pytest

from mercato import catalog
from mercato.platform.security import derive_client_secret
from mercato.platform.server import load_settings
from mercato.runner import plan

SECRETS = {
    "postgres_password": "pg-password",
    "s3_access_key": "mercatokey",
    "s3_secret_key": "s3-secret",
    "auth_secret_key": "auth-master-secret",
}
ENDPOINTS = plan.Endpoints(
    database_url="postgresql://mercato:pg-password@127.0.0.1:15432/postgres",
    nats_url="nats://127.0.0.1:14222",
    s3_endpoint="http://127.0.0.1:18333",
    s3_access_key="mercatokey",
    s3_secret_key="s3-secret",
    smtp_host="127.0.0.1",
    smtp_port=12525,
)


def test_every_service_runs_when_none_is_named() -> None:
    assert plan.select_services(None) == catalog.names()
    assert plan.select_services([]) == catalog.names()


def test_a_subset_brings_its_dependencies_along() -> None:
    assert plan.select_services(["auth"]) == ["auth"]
    selected = plan.select_services(["gateway"])
    assert "gateway" in selected
    assert "auth" in selected


def test_an_unknown_service_is_refused_by_name() -> None:
    with pytest.raises(plan.PlanError, match="nosuch"):
        plan.select_services(["nosuch"])


def test_service_list_option_is_split_and_trimmed() -> None:
    assert plan.parse_service_list(" gateway, auth ,,") == ["gateway", "auth"]
    assert plan.parse_service_list("") is None
    assert plan.parse_service_list(None) is None


def test_auth_starts_first_and_the_gateway_last() -> None:
    order = plan.start_order(catalog.names())
    assert order[0] == "auth"
    if "gateway" in order:
        assert order[-1] == "gateway"
    assert sorted(order) == sorted(catalog.names())


def test_engines_are_the_union_of_what_the_services_need_in_order() -> None:
    assert plan.engines_needed(["auth"]) == ["postgres", "nats"]
    assert plan.engines_needed(["gateway"]) == []
    assert plan.engines_needed(["gateway", "auth", "user"]) == ["postgres", "nats", "s3"]


def test_port_offset_shifts_every_service_and_port_moves_the_gateway() -> None:
    ports = plan.service_ports(offset=1000, gateway_port=9000)
    assert ports["gateway"] == 10000
    assert ports["auth"] == catalog.get("auth").port + 1000
    assert set(ports) == set(catalog.names())


def test_auth_env_carries_its_master_secret_database_and_event_bus() -> None:
    ports = plan.service_ports(offset=5)
    env = plan.service_env(
        "auth", ports=ports, endpoints=ENDPOINTS, secrets=SECRETS, log_level="debug"
    )
    assert env["MERCATO_SERVICE"] == "auth"
    assert env["MERCATO_ENV"] == "dev"
    assert env["MERCATO_HOST"] == "127.0.0.1"
    assert env["MERCATO_PORT"] == str(catalog.get("auth").port + 5)
    assert env["MERCATO_DATABASE_URL"] == (
        "postgresql://mercato:pg-password@127.0.0.1:15432/mercato_auth"
    )
    assert env["MERCATO_NATS_URL"] == "nats://127.0.0.1:14222"
    assert env["MERCATO_EVENT_PREFIX"] == "mercato"
    assert env["MERCATO_SECRET_KEY"] == "auth-master-secret"
    assert env["MERCATO_CLIENT_SECRET"] == derive_client_secret("auth-master-secret", "auth")
    assert env["MERCATO_LOG_LEVEL"] == "debug"
    assert "MERCATO_S3_ENDPOINT" not in env
    urls = json.loads(env["MERCATO_SERVICE_URLS"])
    assert urls == {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}


def test_only_auth_receives_the_master_secret() -> None:
    ports = plan.service_ports()
    for name in catalog.names():
        env = plan.service_env(name, ports=ports, endpoints=ENDPOINTS, secrets=SECRETS)
        assert ("MERCATO_SECRET_KEY" in env) == (name == "auth")
        assert env["MERCATO_CLIENT_SECRET"] == derive_client_secret(
            SECRETS["auth_secret_key"], name
        )


def test_services_ship_their_logs_to_the_log_service_only_when_it_runs() -> None:
    ports = plan.service_ports()
    url = f"http://127.0.0.1:{catalog.get('log').port}/v1/logs"
    for name in catalog.names():
        env = plan.service_env(name, ports=ports, endpoints=ENDPOINTS, secrets=SECRETS)
        assert env.get("MERCATO_LOG_SHIPPING_URL") == (None if name == "log" else url)
    without_log = plan.service_env(
        "product", ports=ports, endpoints=ENDPOINTS, secrets=SECRETS, running=["product", "auth"]
    )
    assert "MERCATO_LOG_SHIPPING_URL" not in without_log


def test_services_get_exactly_the_engines_the_catalog_gives_them() -> None:
    ports = plan.service_ports()
    for name in catalog.names():
        spec = catalog.get(name)
        env = plan.service_env(name, ports=ports, endpoints=ENDPOINTS, secrets=SECRETS)
        assert ("MERCATO_DATABASE_URL" in env) == bool(spec.database)
        assert ("MERCATO_NATS_URL" in env) == spec.uses_nats
        assert ("MERCATO_S3_ENDPOINT" in env) == bool(spec.buckets)
        assert ("MERCATO_SMTP_HOST" in env) == spec.smtp
        if spec.buckets:
            assert env["MERCATO_S3_PUBLIC_ENDPOINT"] == ENDPOINTS.s3_endpoint
            assert env["MERCATO_S3_ACCESS_KEY"] == "mercatokey"


def test_each_service_reads_its_env_into_its_own_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ports = plan.service_ports(offset=7, gateway_port=9090)
    for name in catalog.names():
        env = plan.service_env(name, ports=ports, endpoints=ENDPOINTS, secrets=SECRETS)
        with monkeypatch.context() as patch:
            for key, value in env.items():
                patch.setenv(key, value)
            settings = load_settings(name)
        assert settings.port == ports[name]
        assert settings.service_url("auth") == f"http://127.0.0.1:{ports['auth']}"
        spec = catalog.get(name)
        if spec.database:
            assert settings.database_url is not None
            assert settings.database_url.endswith("/" + spec.database)


def test_external_engines_come_from_mercato_variables() -> None:
    endpoints = plan.external_endpoints(
        {
            "MERCATO_DATABASE_URL": "postgresql://u:p@db:5432/postgres",
            "MERCATO_NATS_URL": "nats://bus:4222",
        }
    )
    assert endpoints.provides("postgres")
    assert endpoints.provides("nats")
    assert not endpoints.provides("s3")
    assert not endpoints.provides("smtp")


def test_a_service_that_sends_mail_gets_the_smtp_sink_and_reads_it_into_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(catalog.SERVICES, "user", replace(catalog.get("user"), smtp=True))
    assert "smtp" in plan.engines_needed(["user"])
    env = plan.service_env("user", ports=plan.service_ports(), endpoints=ENDPOINTS, secrets=SECRETS)
    assert env["MERCATO_SMTP_HOST"] == "127.0.0.1"
    assert env["MERCATO_SMTP_PORT"] == "12525"
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = load_settings("user")
    assert (settings.smtp_host, settings.smtp_port) == ("127.0.0.1", 12525)
    assert not settings.smtp_starttls
    assert settings.smtp_password is None


def test_an_external_smtp_relay_comes_from_mercato_variables() -> None:
    relay = plan.external_endpoints({"MERCATO_SMTP_HOST": "mail.example.com"})
    assert relay.address("smtp") == "smtp://mail.example.com:25"
    submission = plan.external_endpoints(
        {"MERCATO_SMTP_HOST": "mail.example.com", "MERCATO_SMTP_PORT": "587"}
    )
    assert (submission.smtp_host, submission.smtp_port) == ("mail.example.com", 587)
    with pytest.raises(plan.PlanError, match="MERCATO_SMTP_PORT"):
        plan.external_endpoints({"MERCATO_SMTP_HOST": "mail", "MERCATO_SMTP_PORT": "smtp"})


def test_an_external_s3_without_keys_is_refused() -> None:
    with pytest.raises(plan.PlanError, match="MERCATO_S3_ACCESS_KEY"):
        plan.external_endpoints({"MERCATO_S3_ENDPOINT": "http://s3:9000"})


def test_backoff_doubles_from_half_a_second_up_to_thirty() -> None:
    delays = [plan.backoff_delay(n) for n in range(1, 10)]
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]
    assert plan.backoff_delay(0) == 0.0
    assert plan.backoff_delay(10_000) == 30.0


def test_passwords_are_masked_in_urls() -> None:
    assert (
        plan.mask_password("postgresql://mercato:secret@127.0.0.1:15432/postgres")
        == "postgresql://mercato:***@127.0.0.1:15432/postgres"
    )
    assert plan.mask_password("nats://127.0.0.1:4222") == "nats://127.0.0.1:4222"
    assert plan.mask_password("postgresql://user@host/db") == "postgresql://user@host/db"


def test_the_prober_learns_every_engine_address_without_its_credentials() -> None:
    env = plan.service_env(
        "health", ports=plan.service_ports(), endpoints=ENDPOINTS, secrets=SECRETS
    )
    probes = json.loads(env["MERCATO_ENGINE_PROBES"])
    assert probes == {
        "postgres": "postgresql://127.0.0.1:15432",
        "nats": "nats://127.0.0.1:14222",
        "s3": ENDPOINTS.s3_endpoint,
        "smtp": "smtp://127.0.0.1:12525",
    }
    assert "pg-password" not in env["MERCATO_ENGINE_PROBES"]
    assert "MERCATO_DATABASE_URL" not in env


def test_the_prober_greets_the_smtp_server_only_when_the_run_has_one() -> None:
    without_mail = dataclasses.replace(ENDPOINTS, smtp_host=None, smtp_port=None)
    assert set(plan.engine_probes(without_mail)) == {"postgres", "nats", "s3"}


def test_only_the_prober_is_told_where_the_engines_are() -> None:
    ports = plan.service_ports()
    for name in catalog.names():
        env = plan.service_env(name, ports=ports, endpoints=ENDPOINTS, secrets=SECRETS)
        assert ("MERCATO_ENGINE_PROBES" in env) == catalog.get(name).probes_all
