"""A service-to-service route as a contract: method, path, request body and answers.

Each contract module lists the routes other services call (``CALLS``); the callee's route
takes and returns these same models, the caller builds and parses them, and
``mercato render contracts`` publishes them as OpenAPI.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from pydantic import BaseModel


@dataclass(frozen=True)
class Call:
    """One route a service calls on another."""

    method: str
    path: str
    summary: str
    answers: Mapping[int, type[BaseModel]]
    body: type[BaseModel] | None = None
    query: Mapping[str, str] = field(default_factory=dict)  # name -> JSON Schema format
    headers: tuple[str, ...] = ()
