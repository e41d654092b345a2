"""The typed contracts between services: one module per service that answers or publishes.

Each module holds the request and response bodies of the routes other services call, and
the payload of every event the service publishes (an ``EventPayload`` with its type and
schema version). Callers and callees both use these models; consumers read events through
them. :mod:`mercato.contracts.events` lists every event contract by type. The published
form (JSON Schema, OpenAPI) lives under ``docs/contracts/`` (``mercato render contracts``).

Contracts import pydantic and the chassis' vocabulary, never a service.
"""
