"""Runs one service process with uvicorn: ``python -m mercato.platform.server <name>``.

The same entry point serves the local runner and the container image (exec form, so
the server is PID 1 and shuts down gracefully on SIGTERM within
``MERCATO_GRACEFUL_TIMEOUT_SECONDS``).

With ``MERCATO_START_GATE=stdin`` (the local runner) the process imports its code and
builds its app, then waits for a ``go`` line on stdin before it serves: the runner
starts every interpreter at once, while its engines start and its databases migrate,
and lets each one go once what it needs is ready. Nothing connects before ``go``.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from typing import Any

import uvicorn

from mercato import catalog
from mercato.platform.logging import configure_logging
from mercato.platform.settings import InsecureSettingsError, ServiceSettings

log = logging.getLogger("mercato.server")

START_GATE = "MERCATO_START_GATE"
GO = b"go"


def load(path: str) -> Any:
    """Imports ``module:attribute``."""
    module, _, attribute = path.partition(":")
    return getattr(importlib.import_module(module), attribute)


def load_settings(name: str, **overrides: Any) -> ServiceSettings:
    """The settings of service ``name`` read from the environment."""
    settings_class: type[ServiceSettings] = load(catalog.get(name).settings_class)
    return settings_class(service=name, **overrides)


def uvicorn_config(app: Any, settings: ServiceSettings) -> uvicorn.Config:
    """How uvicorn serves a service: uvloop, httptools, the socket peer left as it is."""
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        server_header=False,
        log_config=None,
        timeout_graceful_shutdown=settings.graceful_timeout_seconds,
        timeout_keep_alive=30,
        # uvicorn's default believes X-Forwarded-For from any peer on 127.0.0.1 (every
        # local client, every mesh sidecar) and rewrites the peer with it (issue 14).
        # The gateway decides the client's address; only named proxies are believed.
        proxy_headers=bool(settings.forwarded_allow_ips.strip()),
        forwarded_allow_ips=settings.forwarded_allow_ips.strip() or None,
    )


def serve(name: str) -> None:
    """Runs service ``name`` until SIGTERM or SIGINT."""
    configure_logging(name, os.environ.get("MERCATO_LOG_LEVEL", "info"))
    try:
        settings = load_settings(name)
    except InsecureSettingsError as exc:
        log.critical(str(exc))
        raise SystemExit(78) from None  # EX_CONFIG
    configure_logging(name, settings.log_level)
    app = load(catalog.get(name).app_factory)(settings)
    config = uvicorn_config(app, settings)
    config.load()  # imports the loop, protocol and lifespan classes; opens nothing
    if os.environ.get(START_GATE) == "stdin" and not wait_for_go():
        log.info("the runner closed the start gate: not starting")
        return
    server = uvicorn.Server(config)
    server.run()
    if not server.started:
        raise SystemExit(3)


def wait_for_go() -> bool:
    """Blocks until the runner says ``go`` on stdin; False when stdin ends first."""
    log.info("loaded; waiting at the start gate for go on stdin")
    return sys.stdin.buffer.readline().strip() == GO


def main() -> None:
    """Command-line entry: the service name comes as argument or ``MERCATO_SERVICE``."""
    name = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("MERCATO_SERVICE", "")
    if name not in catalog.SERVICES:
        sys.exit(f"usage: python -m mercato.platform.server <{'|'.join(catalog.names())}>")
    serve(name)


if __name__ == "__main__":
    main()
