"""Child processes that cannot outlive the runner.

Every child gets ``PR_SET_PDEATHSIG``: if the runner dies, even by SIGKILL, the kernel
signals the child. The signal fires when the *thread* that spawned the child exits,
so children are always spawned from the main thread.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pwd
import signal
import subprocess
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)


def _die_with_parent() -> None:
    # Runs in the child after fork, after the switch of user: the setting survives exec.
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def popen_child(
    command: list[str],
    *,
    log_path: Path,
    env: Mapping[str, str] | None = None,
    user: str | None = None,
    cwd: Path | None = None,
    stdin: int = subprocess.DEVNULL,
) -> subprocess.Popen[bytes]:
    """Starts ``command`` with stdout and stderr appended to ``log_path``.

    ``stdin=subprocess.PIPE`` gives the runner a pipe to the child (the start gate).
    """
    if threading.current_thread() is not threading.main_thread():
        raise RuntimeError("children must be spawned from the main thread (PR_SET_PDEATHSIG)")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log_file:
        return subprocess.Popen(
            command,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=stdin,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            **as_user(user),
            preexec_fn=_die_with_parent,
            start_new_session=True,
        )


def run_child(
    command: list[str], *, user: str | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[bytes]:
    """Runs a short command to completion (from any thread); it dies if the runner dies.

    The death signal follows the spawning thread, which is blocked here until the
    command ends, so any thread may use this, unlike :func:`popen_child`.
    """
    return subprocess.run(
        command,
        check=True,
        capture_output=True,
        stdin=subprocess.DEVNULL,
        cwd=cwd,
        **as_user(user),
        preexec_fn=_die_with_parent,
    )


def as_user(user: str | None) -> dict[str, Any]:
    """Popen arguments that run the child as ``user`` with that user's group only."""
    if user is None:
        return {}
    entry = pwd.getpwnam(user)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def stop_process(process: subprocess.Popen[bytes], sig: int, timeout: float) -> None:
    """Sends ``sig``, waits up to ``timeout`` seconds, then kills the process group."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(sig)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(5)
