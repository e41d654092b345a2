"""The merged OpenAPI document of every public service, served at /openapi.json."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from mercato import catalog
from mercato.platform.http import HttpClients

log = logging.getLogger("mercato.gateway.openapi")

SCHEMA_REF = "#/components/schemas/"


def merge(documents: dict[str, dict[str, Any]], *, version: str) -> dict[str, Any]:
    """One OpenAPI document from one per service; clashing schema names get a prefix."""
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    tags: list[dict[str, str]] = []
    for service, document in documents.items():
        own = document.get("components", {}).get("schemas", {})
        renames = {
            name: _prefixed(service, name)
            for name, schema in own.items()
            if name in schemas and schemas[name] != schema
        }
        document = _rename_refs(document, renames)
        for name, schema in document.get("components", {}).get("schemas", {}).items():
            schemas[renames.get(name, name)] = schema
        for path, operations in document.get("paths", {}).items():
            paths[path] = operations
        tags.append({"name": service, "description": catalog.get(service).summary})
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Mercato API",
            "version": version,
            "description": "Every public route of Mercato, as served through the gateway.",
        },
        "servers": [{"url": "/"}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
        "security": [{"bearerAuth": []}],
        "tags": tags,
    }


def _prefixed(service: str, name: str) -> str:
    return service.capitalize() + name


def _rename_refs(node: Any, renames: dict[str, str]) -> Any:
    if not renames:
        return node
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith(SCHEMA_REF):
                name = value.removeprefix(SCHEMA_REF)
                out[key] = SCHEMA_REF + renames.get(name, name)
            else:
                out[key] = _rename_refs(value, renames)
        return out
    if isinstance(node, list):
        return [_rename_refs(item, renames) for item in node]
    return node


class MergedOpenApi:
    """Fetches each public service's document and caches the merge for a while."""

    def __init__(self, http: HttpClients, *, version: str, ttl: float) -> None:
        self._http = http
        self._version = version
        self._ttl = ttl
        self._cached: dict[str, Any] | None = None
        self._fetched_at = float("-inf")
        self._lock = asyncio.Lock()

    async def document(self) -> dict[str, Any]:
        """The merged document (refetched when older than the cache time)."""
        async with self._lock:
            if self._cached is None or time.monotonic() - self._fetched_at > self._ttl:
                self._cached = merge(await self._fetch_all(), version=self._version)
                self._fetched_at = time.monotonic()
            return self._cached

    async def _fetch_all(self) -> dict[str, dict[str, Any]]:
        public = [s.name for s in catalog.SERVICES.values() if s.is_public]
        results = await asyncio.gather(*(self._fetch(n) for n in public))
        return {name: doc for name, doc in zip(public, results, strict=True) if doc is not None}

    async def _fetch(self, service: str) -> dict[str, Any] | None:
        try:
            reply = await self._http.to(service).request("GET", "/openapi.json", timeout=3.0)
        except Exception:
            log.warning("no OpenAPI document from %s", service)
            return None
        if not reply.ok:
            return None
        document: dict[str, Any] = reply.json()
        return document
