"""The status board's rules: states, since, latency, timeouts and the overall status.

Probes here are fakes standing in for the targets; the real probes against real
services and engines are in tests/integration/health.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from mercato.services.health.probes import State
from mercato.services.health.service import Kind, StatusBoard, Target, Watchers

START = datetime(2026, 12, 2, 6, 0, tzinfo=UTC)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class Scripted:
    """A target whose next answer the test sets: a state, an error or silence."""

    def __init__(self, answer: State | Exception | None = State.ok) -> None:
        self.answer = answer

    async def __call__(self) -> State:
        if self.answer is None:
            await asyncio.Event().wait()  # accepts, never answers: a frozen process
        if isinstance(self.answer, Exception):
            raise self.answer
        assert isinstance(self.answer, State)
        return self.answer


class Recorder(Watchers):
    """Keeps every state change the board reports."""

    def __init__(self) -> None:
        self.changes: list[tuple[str, State | None, State]] = []
        self.probes = 0
        self.third_probe = asyncio.Event()

    def probed(self, target: Target, seconds: float, state: State) -> None:
        self.probes += 1
        if self.probes == 3:
            self.third_probe.set()

    def changed(self, target: Target, before: State | None, after: State) -> None:
        self.changes.append((target.name, before, after))


def board_of(
    services: dict[str, Scripted], engines: dict[str, Scripted] | None = None, **kwargs: object
) -> tuple[StatusBoard, Clock]:
    clock = Clock()
    targets = [Target(n, Kind.service, p) for n, p in services.items()]
    targets += [Target(n, Kind.engine, p) for n, p in (engines or {}).items()]
    board = StatusBoard(targets, interval=1.0, timeout=0.05, clock=clock, **kwargs)  # type: ignore[arg-type]
    return board, clock


async def test_every_target_is_reported_with_its_state_and_the_time_it_was_checked() -> None:
    board, _ = board_of({"gateway": Scripted(), "order": Scripted()}, {"postgres": Scripted()})
    await board.probe_all()
    status = board.current()
    assert status.status is State.ok
    assert [(o.name, o.status) for o in status.services] == [
        ("gateway", State.ok),
        ("order", State.ok),
    ]
    assert [(o.name, o.status) for o in status.engines] == [("postgres", State.ok)]
    assert all(o.checked_at == START and o.since == START for o in status.services)
    assert all(o.latency_ms >= 0 for o in [*status.services, *status.engines])


async def test_since_stays_while_the_state_holds_and_moves_when_it_changes() -> None:
    order = Scripted()
    board, clock = board_of({"order": order})
    await board.probe_all()
    clock.advance(5)
    await board.probe_all()
    seen = board.current().services[0]
    assert (seen.checked_at, seen.since) == (START + timedelta(seconds=5), START)

    order.answer = State.degraded
    clock.advance(5)
    await board.probe_all()
    seen = board.current().services[0]
    assert seen.status is State.degraded
    assert seen.since == START + timedelta(seconds=10)


async def test_a_target_that_never_answers_is_down_once_the_timeout_passes() -> None:
    board, _ = board_of({"order": Scripted(None)})
    await asyncio.wait_for(board.probe_all(), 5)
    assert board.current().services[0].status is State.down


async def test_a_refused_connection_is_down() -> None:
    board, _ = board_of({"order": Scripted(ConnectionRefusedError())})
    await board.probe_all()
    assert board.current().services[0].status is State.down


async def test_one_frozen_target_does_not_hold_up_the_others() -> None:
    board, _ = board_of({"order": Scripted(None), "product": Scripted()})
    await asyncio.wait_for(board.probe_all(), 5)
    states = {o.name: o.status for o in board.current().services}
    assert states == {"order": State.down, "product": State.ok}


async def test_the_platform_is_down_when_the_gateway_is_down() -> None:
    board, _ = board_of({"gateway": Scripted(ConnectionResetError()), "order": Scripted()})
    await board.probe_all()
    assert board.current().status is State.down


async def test_the_platform_is_down_when_postgresql_is_down() -> None:
    board, _ = board_of({"gateway": Scripted()}, {"postgres": Scripted(OSError())})
    await board.probe_all()
    assert board.current().status is State.down


async def test_any_other_target_down_or_degraded_makes_the_platform_degraded() -> None:
    for services, engines in [
        ({"gateway": Scripted(), "order": Scripted(OSError())}, {"postgres": Scripted()}),
        ({"gateway": Scripted(State.degraded)}, {"postgres": Scripted()}),
        ({"gateway": Scripted()}, {"postgres": Scripted(State.degraded)}),
        ({"gateway": Scripted()}, {"nats": Scripted(OSError())}),
    ]:
        board, _ = board_of(services, engines)
        await board.probe_all()
        assert board.current().status is State.degraded, (services, engines)


async def test_watchers_hear_every_probe_and_each_change_of_state_once() -> None:
    order = Scripted()
    recorder = Recorder()
    board, _ = board_of({"order": order}, watchers=recorder)
    await board.probe_all()
    await board.probe_all()
    order.answer = OSError()
    await board.probe_all()
    await board.probe_all()
    order.answer = State.ok
    await board.probe_all()
    assert recorder.probes == 5
    assert recorder.changes == [
        ("order", None, State.ok),
        ("order", State.ok, State.down),
        ("order", State.down, State.ok),
    ]


async def test_the_watch_probes_again_every_interval() -> None:
    recorder = Recorder()
    board = StatusBoard(
        [Target("order", Kind.service, Scripted())],
        interval=0.05,
        timeout=0.01,
        watchers=recorder,
    )
    watch = asyncio.create_task(board.watch_forever())
    try:
        await asyncio.wait_for(recorder.third_probe.wait(), 10)
    finally:
        watch.cancel()
    assert board.current().services[0].status is State.ok
