"""Tracing end to end: real services export their spans over OTLP/HTTP to a receiver here.

One request through the gateway that crosses services and an event must come back as
one trace: every span shares the trace id, and the spans form one connected tree whose
only root is the gateway's server span.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable

import pytest
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from mercato.platform.context import TraceContext
from mercato.platform.logging import JsonFormatter
from mercato.platform.tracing import tracing_from_environment
from tests.chassis import captured_logs
from tests.conftest import Harness
from tests.integration.commerce.shop import open_shop
from tests.otlp import ReceivedSpan, Receiver, otlp_receiver

SETTLE = 30.0  # upper bound for the spans to arrive; never a speed assertion
CLIENT_TRACE = "5b8aa5a2d2c872e8321cf37308d69df2"
CLIENT_SPAN = "051581bf3cb55c13"


@pytest.fixture
async def receiver(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Receiver]:
    """A receiver, and the standard variables that make every service export to it."""
    async with otlp_receiver() as received:
        for name in (
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "OTEL_SERVICE_NAME",
            "OTEL_RESOURCE_ATTRIBUTES",
            "OTEL_TRACES_SAMPLER",
            "OTEL_TRACES_SAMPLER_ARG",
            "OTEL_SDK_DISABLED",
            "OTEL_TRACES_EXPORTER",
        ):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", received.url)
        monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
        yield received


def tree_problems(spans: list[ReceivedSpan]) -> list[str]:
    """What keeps ``spans`` from being one tree rooted at the gateway's server span."""
    ids = {s.span_id for s in spans}
    problems = []
    if len(ids) != len(spans):
        problems.append("duplicate span ids")
    roots = [s for s in spans if s.parent_id not in ids]
    if len(roots) != 1:
        problems.append(f"{len(roots)} roots: {roots}")
    elif (roots[0].service, roots[0].kind, roots[0].parent_id) != (
        "gateway",
        "server",
        CLIENT_SPAN,
    ):
        problems.append(f"the root is not the gateway's server span below the client: {roots}")
    return problems


async def collected(
    receiver: Receiver, done: Callable[[list[ReceivedSpan]], bool]
) -> list[ReceivedSpan]:
    """The client's trace once ``done`` holds for it and it forms one tree."""
    spans: list[ReceivedSpan] = []
    for _ in range(int(SETTLE / 0.1)):
        spans = receiver.trace(CLIENT_TRACE)
        if done(spans) and not tree_problems(spans):
            # Late spans of the same trace would still have to fit the tree.
            await asyncio.sleep(0.3)
            return receiver.trace(CLIENT_TRACE)
        await asyncio.sleep(0.1)
    pytest.fail(f"the trace did not complete: {tree_problems(spans)}\n{drawn(spans)}")


def drawn(spans: list[ReceivedSpan]) -> str:
    """The spans as an indented tree (orphans at the top level), for failure messages."""
    ids = {s.span_id for s in spans}
    lines: list[str] = []

    def draw(span: ReceivedSpan, depth: int) -> None:
        lines.append(f"{'  ' * depth}{span.service} {span.kind} {span.name}")
        for child in children(spans, span):
            draw(child, depth + 1)

    for root in [s for s in spans if s.parent_id not in ids]:
        draw(root, 0)
    return "\n".join(lines)


def children(spans: list[ReceivedSpan], parent: ReceivedSpan) -> list[ReceivedSpan]:
    """The spans whose parent is ``parent``."""
    return [s for s in spans if s.parent_id == parent.span_id]


def one(spans: list[ReceivedSpan], **match: str) -> ReceivedSpan:
    """The one span with the given service, kind or name."""
    found = [s for s in spans if all(getattr(s, k) == v for k, v in match.items())]
    assert len(found) == 1, (match, found)
    return found[0]


# The receiver comes first so that it outlives the services, which flush on their way out.


async def test_a_registration_through_the_gateway_is_one_trace_across_services_and_an_event(
    receiver: Receiver, harness: Harness
):
    await harness.start("auth")
    await harness.start("user")
    gateway = await harness.start("gateway")
    traceparent = TraceContext(CLIENT_TRACE, CLIENT_SPAN).traceparent

    with captured_logs("mercato.access", JsonFormatter("any")) as logs:
        created = await gateway.client.post(
            "/api/v1/auth/register",
            json={"email": "ada@example.com", "password": "correct horse battery", "name": "Ada"},
            headers={"traceparent": traceparent, "X-Request-ID": "req-traced"},
        )
    assert created.status_code == 201, created.text

    spans = await collected(
        receiver, lambda got: any(s.kind == "consumer" and s.service == "user" for s in got)
    )

    assert tree_problems(spans) == []
    assert {s.trace_id for s in spans} == {CLIENT_TRACE}
    edge = one(spans, service="gateway", kind="server")
    assert edge.name == "POST /api/v1/auth/*"
    assert edge.attributes["http.response.status_code"] == 201
    call = one(children(spans, edge), service="gateway", kind="client")
    assert call.attributes["peer.service"] == "auth"
    auth = one(children(spans, call), service="auth", kind="server")
    assert auth.name == "POST /api/v1/auth/register"
    assert auth.attributes["http.route"] == "/api/v1/auth/register"
    assert auth.attributes["mercato.request_id"] == "req-traced"
    statements = [s for s in children(spans, auth) if "db.query.text" in s.attributes]
    assert any(s.attributes["db.operation.name"] == "INSERT" for s in statements)
    assert all(s.kind == "client" and s.attributes["db.system.name"] for s in statements)
    produced = one(children(spans, auth), kind="producer")
    assert produced.name == "create user.registered"
    [written] = [s for s in children(spans, produced) if "db.query.text" in s.attributes]
    assert written.attributes["db.query.text"].startswith("INSERT INTO outbox")
    sent = one(spans, service="auth", name="send user.registered")
    assert sent.parent_id == produced.span_id
    consumed = one(spans, service="user", kind="consumer")
    assert consumed.parent_id == produced.span_id
    assert (
        consumed.attributes["messaging.message.id"] == produced.attributes["messaging.message.id"]
    )
    assert consumed.attributes["mercato.event.outcome"] == "processed"
    handled = children(spans, consumed)
    assert handled, "the handler's statements belong to the consumer's span"
    assert {s.service for s in handled} == {"user"}
    assert not [s for s in spans if s.error]

    # The access lines carry the ids of the server span that logged them.
    lines = [json.loads(line) for line in logs.lines]
    by_route = {line["route"]: line for line in lines if line.get("trace_id") == CLIENT_TRACE}
    assert by_route["/api/v1/auth/*"]["span_id"] == edge.span_id
    assert by_route["/api/v1/auth/register"]["span_id"] == auth.span_id


async def test_a_checkout_through_the_gateway_is_one_trace(receiver: Receiver, harness: Harness):
    shop = await open_shop(harness)
    gateway = await harness.start("gateway")
    lamp = await shop.new_product("LAMP-T", 4999, stock=5)
    ada = await shop.shopper("ada@example.com")
    assert (await shop.put_in_cart(ada, lamp, 1)).status_code == 200
    traceparent = TraceContext(CLIENT_TRACE, CLIENT_SPAN).traceparent

    placed = await gateway.client.post(
        "/api/v1/orders",
        json={
            "shipping_address": {
                "name": "Ada Lovelace",
                "line1": "12 St James's Square",
                "city": "London",
                "postal_code": "SW1Y 4JH",
                "country": "GB",
            },
            "payment_method_id": ada.card,
        },
        headers={**ada.headers, "Idempotency-Key": "trace-1", "traceparent": traceparent},
    )
    assert placed.status_code == 201, placed.text
    assert placed.json()["status"] == "confirmed"

    def settled(got: list[ReceivedSpan]) -> bool:
        sends = [s for s in got if s.name.startswith("send ")]
        creates = [s for s in got if s.kind == "producer"]
        return bool(creates) and len(sends) == len(creates)

    spans = await collected(receiver, settled)

    assert tree_problems(spans) == []
    services = {s.service for s in spans if s.kind == "server"}
    assert services >= {"gateway", "order", "inventory", "payment"}
    order = one(spans, service="order", kind="server")
    assert order.name == "POST /api/v1/orders"
    called = {s.attributes["peer.service"] for s in spans if "peer.service" in s.attributes}
    assert called >= {"order", "inventory", "payment"}
    events = {s.name for s in spans if s.kind == "producer"}
    assert "create order.confirmed" in events
    assert any(name.startswith("create payment.") for name in events)
    assert not [s for s in spans if s.error and s.kind == "server"]


def test_tracing_is_off_without_an_endpoint(monkeypatch: pytest.MonkeyPatch):
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    assert not tracing_from_environment("auth", version="1", env="dev").enabled


@pytest.mark.parametrize(
    ("name", "value"), [("OTEL_SDK_DISABLED", "true"), ("OTEL_TRACES_EXPORTER", "none")]
)
def test_tracing_can_be_switched_off_with_an_endpoint_set(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    monkeypatch.setenv(name, value)
    assert not tracing_from_environment("auth", version="1", env="dev").enabled


def test_an_unsupported_protocol_is_refused(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    with pytest.raises(ValueError, match="http/protobuf"):
        tracing_from_environment("auth", version="1", env="dev")


async def test_the_standard_variables_name_the_service_and_its_resource(
    monkeypatch: pytest.MonkeyPatch, receiver: Receiver
):
    monkeypatch.setenv("OTEL_SERVICE_NAME", "shop-auth")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "k8s.namespace.name=mercato-dev")
    tracing = tracing_from_environment("auth", version="1.2.3", env="stg")
    assert tracing.enabled
    with tracing.tracer.start_as_current_span("work"):
        pass
    await asyncio.to_thread(tracing.shutdown)
    [span] = receiver.spans
    assert span.service == "shop-auth"
    assert span.resource["service.version"] == "1.2.3"
    assert span.resource["deployment.environment.name"] == "stg"
    assert span.resource["k8s.namespace.name"] == "mercato-dev"


async def test_the_sampler_comes_from_the_standard_variables(
    monkeypatch: pytest.MonkeyPatch, receiver: Receiver
):
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "always_off")
    tracing = tracing_from_environment("auth", version="1", env="dev")
    with tracing.tracer.start_as_current_span("dropped") as span:
        assert not span.is_recording()
        # Not recorded, yet a span of its own for the logs and the calls it makes.
        assert span.get_span_context().is_valid
    await asyncio.to_thread(tracing.shutdown)
    assert receiver.spans == []


async def test_a_ratio_sampler_keeps_the_callers_decision(
    monkeypatch: pytest.MonkeyPatch, receiver: Receiver
):
    """parentbased_traceidratio (prod): the edge draws once, every service downstream obeys."""
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "parentbased_traceidratio")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", "0")
    tracing = tracing_from_environment("order", version="1", env="prod")
    with tracing.tracer.start_as_current_span("edge") as root:
        assert not root.is_recording()  # a ratio of 0 keeps no trace it starts itself
    sampled = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    context = TraceContextTextMapPropagator().extract({"traceparent": sampled})
    with tracing.tracer.start_as_current_span("downstream", context=context) as child:
        assert child.is_recording()  # the caller kept the trace: so does this service
    await asyncio.to_thread(tracing.shutdown)
    [span] = receiver.spans
    assert span.name == "downstream"
    assert span.trace_id == "0af7651916cd43dd8448eb211c80319c"
