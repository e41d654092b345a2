"""Serves the storefront (``/``) and the admin console (``/admin``): static files, no build.

The pages are clients of the public API like any other (docs/adr/0026); the gateway only
hands out their files, each with the security headers that keep injected markup inert.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from fastapi import APIRouter
from starlette.responses import FileResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

ASSETS_PATH = "/assets"


def web_root() -> Path:
    """Where the web package's files are (installed with the gateway only)."""
    return Path(str(resources.files("mercato.web")))


def security_headers(img_src: str, connect_src: str) -> dict[str, str]:
    """The headers of every web file: scripts and styles from the gateway only."""
    policy = "; ".join(
        (
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            f"img-src {img_src}",
            f"connect-src {connect_src}",
            "font-src 'self'",
            "form-action 'self'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
        )
    )
    return {
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
        # No hashed file names (no build step): the browser revalidates with the ETag.
        "Cache-Control": "no-cache",
    }


class WithHeaders:
    """Adds fixed headers to every response of the wrapped ASGI app."""

    def __init__(self, app: ASGIApp, headers: dict[str, str]) -> None:
        self._app = app
        self._headers = [(k.lower().encode(), v.encode()) for k, v in headers.items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *self._headers]
            await send(message)

        await self._app(scope, receive, with_headers)


def web_router(root: Path, headers: dict[str, str]) -> APIRouter:
    """The two pages; their assets are mounted by :func:`assets_app`."""
    router = APIRouter(include_in_schema=False)

    def page(name: str) -> Response:
        return FileResponse(root / name, media_type="text/html", headers=headers)

    @router.get("/")
    async def storefront() -> Response:
        return page("store.html")

    @router.get("/admin")
    async def admin_console() -> Response:
        return page("admin.html")

    return router


def assets_app(root: Path, headers: dict[str, str]) -> ASGIApp:
    """Scripts, styles, icons and the vendored chart library, with the same headers."""
    return WithHeaders(StaticFiles(directory=root / "assets"), headers)
