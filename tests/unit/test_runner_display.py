"""What the runner prints: compact JSON log lines, stable colours, tailed log files."""

from __future__ import annotations

import json
from pathlib import Path

from mercato.runner import display


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
