"""What the runner shows: prefixed, coloured log lines, the start-up view, the tables."""

from __future__ import annotations

import json
import os
import time
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path

from rich.console import Console, Group, RenderableType
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from mercato.runner.state import EngineState, RunnerState, ServiceState

PALETTE = (
    "cyan",
    "magenta",
    "green",
    "yellow",
    "blue",
    "bright_cyan",
    "bright_magenta",
    "bright_green",
    "bright_yellow",
    "bright_blue",
    "dark_orange",
    "orchid",
    "spring_green2",
    "deep_sky_blue1",
)
PREFIX_WIDTH = 12
LEVEL_STYLES = {
    "debug": "dim",
    "info": "",
    "warning": "yellow",
    "error": "bold red",
    "critical": "bold red",
}
STATE_STYLES = {
    "ready": "green",
    "running": "green",
    "external": "green",
    "starting": "yellow",
    "loading": "yellow",
    "migrating": "yellow",
    "restarting": "yellow",
    "pending": "dim",
    "crashed": "bold red",
    "failed": "bold red",
    "stopping": "yellow",
    "stopped": "dim",
}
IN_PROGRESS = frozenset({"pending", "preparing", "loading", "starting", "migrating", "restarting"})
# JSON keys shown after the message; the others stay in the log file.
SHOWN_KEYS = ("duration_ms", "request_id", "user_id", "event_type", "event_id", "database")


def make_console() -> Console:
    """The runner's console; piped output gets wide lines rather than folded tables."""
    console = Console(highlight=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(highlight=False, width=160)
    return console


def colour_for(name: str) -> str:
    """A colour for ``name`` that stays the same from run to run."""
    return PALETTE[zlib.crc32(name.encode()) % len(PALETTE)]


def prefix(name: str) -> Text:
    """``name`` padded and coloured, followed by a bar, to start each of its lines."""
    return Text(f"{name[:PREFIX_WIDTH]:<{PREFIX_WIDTH}}| ", style=colour_for(name))


def format_line(line: str) -> Text:
    """One log line for the terminal; the chassis' JSON lines are shown compactly."""
    line = line.rstrip("\r\n")
    if not line.startswith("{"):
        return Text(line)
    try:
        entry = json.loads(line)
    except ValueError:
        return Text(line)
    if not isinstance(entry, dict) or "message" not in entry:
        return Text(line)
    level = str(entry.get("level", "info")).lower()
    text = Text()
    text.append(f"{level:<8}", style=LEVEL_STYLES.get(level, "") or "dim")
    text.append(str(entry["message"]), style=LEVEL_STYLES.get(level, ""))
    extras = [f"{key}={entry[key]}" for key in SHOWN_KEYS if entry.get(key) is not None]
    if extras:
        text.append("  " + " ".join(extras), style="dim")
    if entry.get("error"):
        text.append("\n" + str(entry["error"]), style="red")
    return text


class LogTail:
    """Follows one log file from where it ended when the runner started."""

    def __init__(
        self, name: str, path: Path, *, routine: Callable[[str], bool] | None = None
    ) -> None:
        self.name = name
        self.path = path
        self.routine = routine  # lines that stay in the file, off the terminal
        self._offset = path.stat().st_size if path.exists() else 0
        self._partial = b""

    def read_lines(self, *, final: bool = False) -> list[str]:
        """Complete lines written since the last call (``final`` also returns a partial one)."""
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return []
        if size < self._offset:  # truncated or replaced: start over
            self._offset, self._partial = 0, b""
        if size == self._offset and not (final and self._partial):
            return []
        with open(self.path, "rb") as handle:
            handle.seek(self._offset)
            chunk = handle.read(size - self._offset)
        self._offset += len(chunk)
        data = self._partial + chunk
        *lines, self._partial = data.split(b"\n")
        if final and self._partial:
            lines.append(self._partial)
            self._partial = b""
        return [raw.decode("utf-8", errors="replace") for raw in lines]

    def terminal_lines(self, *, final: bool = False) -> list[str]:
        """The new lines worth showing on the terminal: all but the routine ones."""
        lines = self.read_lines(final=final)
        if self.routine is None:
            return lines
        return [line for line in lines if not self.routine(line)]


class StartupView:
    """The live table shown while engines and services come up."""

    def __init__(self) -> None:
        self.rows: dict[str, tuple[str, str, str]] = {}  # name -> (kind, state, detail)
        self._spinners: dict[str, Spinner] = {}
        self._began = time.monotonic()

    def set(self, name: str, kind: str, state: str, detail: str = "") -> None:
        """Records the state of one engine or service."""
        self.rows[name] = (kind, state, detail)

    def __rich__(self) -> RenderableType:
        table = Table.grid(padding=(0, 2))
        for _ in range(4):
            table.add_column()
        for name, (kind, state, detail) in self.rows.items():
            if state in IN_PROGRESS:
                mark: RenderableType = self._spinners.setdefault(name, Spinner("dots"))
            elif state in ("ready", "running", "external"):
                mark = Text("✔", style="green")
            else:
                mark = Text("✘", style="bold red")
            table.add_row(
                mark,
                Text(f"{kind:<7}", style="dim") + Text(name, style=colour_for(name)),
                Text(state, style=STATE_STYLES.get(state, "")),
                Text(detail, style="dim"),
            )
        elapsed = Text(f"starting Mercato… {time.monotonic() - self._began:.1f}s", style="bold")
        return Group(elapsed, table)


def services_table(services: Iterable[ServiceState]) -> Table:
    """Name, URL, PID, state and restarts of each service."""
    table = Table(title="Services", title_justify="left", expand=False)
    for column in ("service", "url", "pid", "state", "restarts"):
        table.add_column(
            column,
            justify="right" if column in ("pid", "restarts") else "left",
            overflow="fold",
        )
    for s in services:
        table.add_row(
            Text(s.name, style=colour_for(s.name)),
            s.url,
            str(s.pid or "—"),
            Text(s.state, style=STATE_STYLES.get(s.state, "")),
            str(s.restarts),
        )
    return table


def engines_table(engines: Iterable[EngineState]) -> Table:
    """Name, URL and PID (or "external") of each engine."""
    table = Table(title="Engines", title_justify="left", expand=False)
    for column in ("engine", "url", "pid", "state"):
        table.add_column(column, justify="right" if column == "pid" else "left", overflow="fold")
    for e in engines:
        table.add_row(
            Text(e.name, style=colour_for(e.name)),
            e.url,
            "external" if e.external else str(e.pid or "—"),
            Text(e.state, style=STATE_STYLES.get(e.state, "")),
        )
    return table


def summary(state: RunnerState, *, data_dir: Path, elapsed: float) -> RenderableType:
    """The tables printed once everything is ready."""
    gateway = state.service("gateway")
    lines = [
        Text.assemble(("Mercato is ready", "bold green"), f" in {elapsed:.1f}s", style="default"),
    ]
    if gateway is not None:
        lines.append(Text.assemble("  gateway  ", (gateway.url, "bold")))
    lines += [
        Text(f"  data     {data_dir}"),
        Text(f"  logs     {data_dir / 'logs'}"),
        Text("  Ctrl-C stops every process (twice: kill at once)", style="dim"),
    ]
    return Group(services_table(state.services), engines_table(state.engines), *lines)
