"""The status page and the settings behind the probes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from mercato.services.health import page
from mercato.services.health.probes import State, engine_probe
from mercato.services.health.schemas import StatusPublic, TargetStatus
from mercato.services.health.settings import Settings

AT = datetime(2026, 12, 2, 6, 0, tzinfo=UTC)


def target(name: str, status: State = State.ok) -> TargetStatus:
    return TargetStatus(name=name, status=status, latency_ms=1.25, checked_at=AT, since=AT)


def test_the_page_escapes_every_name_and_carries_no_script() -> None:
    status = StatusPublic(
        status=State.degraded,
        services=[target("<script>alert(1)</script>", State.down)],
        engines=[target("nats")],
    )
    html = page.render(status, refresh_seconds=5)
    assert "<script" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert '<td class="down">down</td>' in html
    assert '<meta http-equiv="refresh" content="5">' in html
    assert "2026-12-02T06:00:00+00:00" in html
    assert "1.2 ms" in html or "1.3 ms" in html


def test_the_probe_timeout_must_stay_below_the_interval() -> None:
    with pytest.raises(ValidationError, match="below"):
        Settings(probe_interval_seconds=2.0, probe_timeout_seconds=2.0)
    assert Settings().probe_timeout_seconds < Settings().probe_interval_seconds


def test_an_engine_address_without_a_known_probe_is_refused() -> None:
    with pytest.raises(ValueError, match="no probe for scheme 'redis'"):
        engine_probe(lambda: None, "redis://127.0.0.1:6379")  # type: ignore[arg-type,return-value]
    with pytest.raises(ValueError, match="needs a host and a port"):
        engine_probe(lambda: None, "postgresql://127.0.0.1")  # type: ignore[arg-type,return-value]
