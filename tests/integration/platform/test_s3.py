"""The S3 client against a real SeaweedFS: buckets, objects, presigned URLs and their limits."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from xml.etree import ElementTree

import pytest

from mercato.platform.s3 import Credentials, ObjectStore, SigV4, create_bucket_configuration
from tests.conftest import EngineSet

S3_NAMESPACE = "http://s3.amazonaws.com/doc/2006-03-01/"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


@pytest.fixture
def credentials(engines: EngineSet) -> Credentials:
    return Credentials(engines.s3_access_key, engines.s3_secret_key)


@pytest.fixture
async def store(engines: EngineSet, credentials: Credentials) -> AsyncIterator[ObjectStore]:
    store = ObjectStore(endpoint=engines.s3_endpoint, credentials=credentials)
    try:
        yield store
    finally:
        await store.close()


async def test_ensure_bucket_is_idempotent(store):
    name = f"t{uuid.uuid4().hex[:12]}"
    assert not await store.bucket_exists(name)
    await store.ensure_bucket(name)
    await store.ensure_bucket(name)
    assert await store.bucket_exists(name)


async def test_a_bucket_is_created_in_the_region_the_credentials_sign_for(engines):
    """Outside us-east-1 CreateBucket names the region (AWS refuses it otherwise)."""
    regional = ObjectStore(
        endpoint=engines.s3_endpoint,
        credentials=Credentials(engines.s3_access_key, engines.s3_secret_key, "eu-central-1"),
    )
    try:
        name = f"t{uuid.uuid4().hex[:12]}"
        await regional.ensure_bucket(name)
        await regional.ensure_bucket(name)
        assert await regional.bucket_exists(name)
    finally:
        await regional.close()
    body = create_bucket_configuration("eu-central-1")
    document = ElementTree.fromstring(body)  # noqa: S314 (our own bytes, not untrusted)
    location = document.find(f"{{{S3_NAMESPACE}}}LocationConstraint")
    assert location is not None
    assert location.text == "eu-central-1"
    assert create_bucket_configuration("us-east-1") == b""


async def test_put_get_head_delete(store, bucket):
    await store.put(bucket, "docs/a.txt", b"hello", "text/plain")
    assert await store.get(bucket, "docs/a.txt") == b"hello"
    info = await store.head(bucket, "docs/a.txt")
    assert info is not None
    assert info.size == 5
    assert info.content_type == "text/plain"
    assert info.etag
    await store.delete(bucket, "docs/a.txt")
    assert await store.get(bucket, "docs/a.txt") is None
    assert await store.head(bucket, "docs/a.txt") is None
    await store.delete(bucket, "docs/a.txt")


async def test_an_empty_object_round_trips(store, bucket):
    await store.put(bucket, "empty", b"", "application/octet-stream")
    assert await store.get(bucket, "empty") == b""
    assert (await store.head(bucket, "empty")).size == 0


async def test_overwriting_replaces_the_object(store, bucket):
    await store.put(bucket, "k", b"one", "text/plain")
    await store.put(bucket, "k", b"second", "application/json")
    assert await store.get(bucket, "k") == b"second"
    assert (await store.head(bucket, "k")).content_type == "application/json"


@pytest.mark.parametrize(
    "key",
    ["with space/and more.txt", "naïve/☃ snow €.bin", "plus+and=equals&amp", "deep/a/b/c/d.e"],
)
async def test_keys_with_spaces_and_unicode_work(store, bucket, http, key):
    await store.put(bucket, key, b"payload", "application/octet-stream")
    assert await store.get(bucket, key) == b"payload"
    assert (await store.head(bucket, key)).size == 7
    downloaded = await http.get(store.presign_download(bucket, key))
    assert downloaded.status_code == 200, downloaded.text
    assert downloaded.content == b"payload"
    await store.delete(bucket, key)
    assert await store.head(bucket, key) is None


async def test_a_wrong_secret_is_refused(engines, bucket):
    wrong = ObjectStore(
        endpoint=engines.s3_endpoint,
        credentials=Credentials(engines.s3_access_key, "not-the-secret-key-at-all"),
    )
    try:
        with pytest.raises(RuntimeError, match="403"):
            await wrong.put(bucket, "x", b"x", "text/plain")
        assert not await wrong.bucket_exists(bucket)
    finally:
        await wrong.close()


# -- presigned uploads -----------------------------------------------------------------


async def test_a_presigned_upload_takes_exactly_the_declared_size_and_type(store, bucket, http):
    upload = store.presign_upload(bucket, "face.png", content_type="image/png", size=len(PNG))
    sent = await http.put(upload.upload_url, content=PNG, headers=upload.headers)
    assert sent.status_code == 200, sent.text
    info = await store.head(bucket, "face.png")
    assert info.size == len(PNG)
    assert info.content_type == "image/png"
    assert await store.get(bucket, "face.png") == PNG


async def test_a_presigned_upload_refuses_another_size(store, bucket, http):
    upload = store.presign_upload(bucket, "face.png", content_type="image/png", size=len(PNG))
    for body in (PNG + b"more", PNG[:-1]):
        headers = {"Content-Type": "image/png"}  # httpx sets the real Content-Length
        sent = await http.put(upload.upload_url, content=body, headers=headers)
        assert sent.status_code == 403, sent.text
    assert await store.head(bucket, "face.png") is None


async def test_a_presigned_upload_refuses_another_content_type(store, bucket, http):
    upload = store.presign_upload(bucket, "face.png", content_type="image/png", size=len(PNG))
    for content_type in ("text/html", "image/svg+xml", None):
        headers = {"Content-Length": str(len(PNG))}
        if content_type:
            headers["Content-Type"] = content_type
        sent = await http.put(upload.upload_url, content=PNG, headers=headers)
        assert sent.status_code == 403, (content_type, sent.text)
    assert await store.head(bucket, "face.png") is None


async def test_a_presigned_upload_is_for_its_key_only(store, bucket, http):
    upload = store.presign_upload(bucket, "face.png", content_type="image/png", size=len(PNG))
    elsewhere = upload.upload_url.replace("/face.png?", "/other.png?")
    sent = await http.put(elsewhere, content=PNG, headers=upload.headers)
    assert sent.status_code == 403
    assert await store.head(bucket, "other.png") is None


async def test_a_presigned_upload_cannot_be_used_to_read(store, bucket, http):
    await store.put(bucket, "face.png", PNG, "image/png")
    upload = store.presign_upload(bucket, "face.png", content_type="image/png", size=len(PNG))
    assert (await http.get(upload.upload_url)).status_code == 403


# -- presigned downloads ---------------------------------------------------------------


async def test_a_presigned_download_works_and_an_unsigned_get_is_refused(store, bucket, http):
    await store.put(bucket, "private.txt", b"secret", "text/plain")
    signed = await http.get(store.presign_download(bucket, "private.txt"))
    assert signed.status_code == 200
    assert signed.content == b"secret"
    unsigned = await http.get(f"{store.endpoint}/{bucket}/private.txt")
    assert unsigned.status_code == 403
    assert b"secret" not in unsigned.content


async def test_a_tampered_download_signature_is_refused(store, bucket, http):
    await store.put(bucket, "private.txt", b"secret", "text/plain")
    url = store.presign_download(bucket, "private.txt")
    head, _, signature = url.rpartition("X-Amz-Signature=")
    flipped = ("0" if signature[0] != "0" else "1") + signature[1:]
    assert (await http.get(f"{head}X-Amz-Signature={flipped}")).status_code == 403


async def test_an_expired_download_url_is_refused(store, bucket, http, credentials):
    await store.put(bucket, "private.txt", b"secret", "text/plain")
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    url = SigV4(credentials).presign(
        "GET", f"{store.endpoint}/{bucket}/private.txt", expires_in=60, now=an_hour_ago
    )
    assert (await http.get(url)).status_code == 403


async def test_urls_point_at_the_public_endpoint(engines, credentials, bucket, http):
    public = engines.s3_endpoint.replace("127.0.0.1", "localhost")
    store = ObjectStore(
        endpoint=engines.s3_endpoint, public_endpoint=public, credentials=credentials
    )
    try:
        await store.put(bucket, "p.txt", b"public", "text/plain")
        url = store.presign_download(bucket, "p.txt")
        assert url.startswith(public + "/")
        assert (await http.get(url)).content == b"public"
    finally:
        await store.close()
