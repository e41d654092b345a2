"""HTTP routes of health: the status, as JSON or as a page."""

from __future__ import annotations

import math

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from mercato.catalog import API_PREFIX
from mercato.platform.deps import Provided
from mercato.services.health import page
from mercato.services.health.schemas import StatusPublic
from mercato.services.health.service import StatusBoard

router = APIRouter(prefix=f"{API_PREFIX}/status", tags=["health"])


@router.get(
    "",
    response_model=StatusPublic,
    responses={200: {"content": {"text/html": {}}}},
    summary="The live status of every service and engine",
)
async def platform_status(
    request: Request, board: Provided[StatusBoard]
) -> Response | StatusPublic:
    """The platform's status; an HTML page for a client that prefers ``text/html``."""
    status = StatusPublic.of(board.current())
    if _prefers_html(request.headers.get("accept", "")):
        return HTMLResponse(
            page.render(status, refresh_seconds=math.ceil(board.interval)),
            headers={
                "Content-Security-Policy": page.CONTENT_SECURITY_POLICY,
                "Cache-Control": "no-store",
            },
        )
    return status


def _prefers_html(accept: str) -> bool:
    """True when ``text/html`` ranks above JSON in the Accept header (a browser's does)."""
    ranks: dict[str, float] = {}
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        quality = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        ranks[media.lower()] = max(quality, ranks.get(media.lower(), 0.0))
    html = ranks.get("text/html", 0.0)
    json = max(ranks.get("application/json", 0.0), ranks.get("*/*", 0.0) - 0.001)
    return html > 0 and html >= json
