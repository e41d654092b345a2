"""Fixtures of the object store tests (test_s3.py, test_s3_web_identity.py).

Each module provides its own ``store`` (static keys, or temporary ones from STS); these
build on it.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from mercato.platform.s3 import ObjectStore


@pytest.fixture
async def bucket(store: ObjectStore) -> str:
    """A new, empty bucket in the module's store."""
    name = f"t{uuid.uuid4().hex[:12]}"
    await store.ensure_bucket(name)
    return name


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """A plain HTTP client, as a browser using presigned URLs would be."""
    async with httpx.AsyncClient(timeout=10) as client:
        yield client
