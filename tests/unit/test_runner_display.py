"""What the runner prints: compact JSON log lines, stable colours, tailed log files."""

from __future__ import annotations

import json
from pathlib import Path

from mercato.runner import display
from mercato.runner.engines import EnginePorts, engines_for


def test_json_lines_show_level_message_and_request_id() -> None:
    line = json.dumps(
        {
            "time": "2025-01-01T00:00:00.000+00:00",
            "level": "info",
            "service": "auth",
            "logger": "mercato.access",
            "message": "POST /api/v1/auth/login 200",
            "request_id": "abc123",
            "duration_ms": 12.5,
            "route": "/api/v1/auth/login",
        }
    )
    text = display.format_line(line).plain
    assert text.startswith("info")
    assert "POST /api/v1/auth/login 200" in text
    assert "request_id=abc123" in text
    assert "duration_ms=12.5" in text
    assert "route=" not in text
    assert "2025-01-01" not in text


def test_errors_keep_their_traceback() -> None:
    line = json.dumps({"level": "error", "message": "boom", "error": "Traceback...\nValueError"})
    text = display.format_line(line).plain
    assert "boom" in text
    assert "ValueError" in text


def test_other_lines_pass_unchanged() -> None:
    assert display.format_line("LOG:  database system is ready\n").plain == (
        "LOG:  database system is ready"
    )
    assert display.format_line("{not json").plain == "{not json"
    assert display.format_line('{"no": "message"}').plain == '{"no": "message"}'


def test_colours_are_stable_per_name() -> None:
    assert display.colour_for("auth") == display.colour_for("auth")
    assert display.colour_for("auth") in display.PALETTE
    assert display.prefix("postgres").plain.startswith("postgres")
    assert display.prefix("postgres").plain.endswith("| ")


def test_tail_starts_at_the_end_and_returns_whole_lines(tmp_path: Path) -> None:
    log = tmp_path / "auth.log"
    log.write_text("from an earlier run\n")
    tail = display.LogTail("auth", log)
    assert tail.read_lines() == []
    with log.open("a") as handle:
        handle.write("first\nsecond\npart")
    assert tail.read_lines() == ["first", "second"]
    with log.open("a") as handle:
        handle.write("ial\n")
    assert tail.read_lines() == ["partial"]
    with log.open("a") as handle:
        handle.write("no newline yet")
    assert tail.read_lines(final=True) == ["no newline yet"]


def test_tail_of_a_file_created_later(tmp_path: Path) -> None:
    log = tmp_path / "later.log"
    tail = display.LogTail("later", log)
    assert tail.read_lines() == []
    log.write_text("hello\n")
    assert tail.read_lines() == ["hello"]


# Lines as the engines write them (taken from a real `mercato up`).
ROUTINE = {
    "postgres": [
        "2026-11-26 07:19:52.990 UTC [3071]  LOG:  database system is ready to accept connections",
        "2026-11-26 07:24:52.101 UTC [3076] mercato_order LOG:  checkpoint starting: time",
    ],
    "nats": ["[3043] 2026/11/26 07:19:51.838309 [INF] Server is ready"],
    "s3": ["I1126 07:20:53.105944 store.go:338 In dir /x/s3 (disk ID 0) adds volume:10"],
    "smtp": [
        "2026-12-02 05:31:07,412 INFO accepting mail on 127.0.0.1:12525 into /x/mail",
        "2026-12-02 05:31:09,020 INFO stored 20261202T053109.019311Z-3fa2c1.eml for a@b.c (342 B)",
    ],
}
SHOWN = {
    "postgres": [
        "2026-11-26 07:20:01.000 UTC [3200] mercato_auth ERROR:  duplicate key value",
        "2026-11-26 07:20:01.000 UTC [3200] mercato_auth WARNING:  there is no transaction",
        "2026-11-26 07:20:01.000 UTC [3200] mercato_auth DETAIL:  Key (email)=(a@b.c) exists.",
        "initdb: error: directory exists but is not empty",
    ],
    "nats": [
        "[3043] 2026/11/26 07:20:00.000000 [WRN] JetStream resource limits exceeded",
        "[3043] 2026/11/26 07:20:00.000000 [ERR] Error creating stream",
        "[3043] 2026/11/26 07:20:00.000000 [FTL] Can't listen: address already in use",
    ],
    "s3": [
        "W1126 07:19:55.080523 s3_sse_s3.go:861 SSE-S3 KeyManager: no passphrase",
        "E1126 07:19:55.088580 s3api_server.go:403 Failed to load IAM configuration",
        "panic: runtime error: index out of range",
    ],
    "smtp": [
        "2026-12-02 05:31:09,020 ERROR could not store a message to a@b.c: [Errno 28] No space",
        "Traceback (most recent call last):",
        "OSError: [Errno 98] error while attempting to bind on address ('127.0.0.1', 12525)",
    ],
}


def test_engines_keep_their_routine_lines_off_the_terminal(tmp_path: Path) -> None:
    secrets = {"postgres_password": "x", "s3_access_key": "a", "s3_secret_key": "s"}
    engines = engines_for(tmp_path, EnginePorts.free(), secrets)
    for name, engine in engines.items():
        for line in ROUTINE[name]:
            assert engine.is_routine(line), (name, line)
        for line in SHOWN[name]:
            assert not engine.is_routine(line), (name, line)


def test_the_terminal_gets_every_line_but_the_routine_ones(tmp_path: Path) -> None:
    log = tmp_path / "nats.log"
    log.touch()
    tail = display.LogTail("nats", log, routine=lambda line: "[INF]" in line)
    with log.open("a") as handle:
        handle.write("[1] t t [INF] ready\n[1] t t [WRN] slow\n[1] t t [INF] more\n")
    assert tail.terminal_lines() == ["[1] t t [WRN] slow"]
    assert (tmp_path / "nats.log").read_text().count("\n") == 3  # the file keeps them all
