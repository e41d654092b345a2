"""Temporary S3 keys from a web identity (IRSA's way), on SeaweedFS's real STS.

SeaweedFS implements ``AssumeRoleWithWebIdentity`` and verifies the token against an
OIDC provider's JWKS, as AWS STS does with an EKS cluster's issuer. The test plays the
cluster's issuer (a key pair, its JWKS and signed service-account tokens) and starts
SeaweedFS with that provider, one role trusting one service account, and a policy on
that role; everything after the token (the exchange, the keys, the session token in
signed requests and presigned URLs) is SeaweedFS's.
"""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import aiohttp
import jwt
import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa

from mercato.platform.errors import ServiceUnavailable
from mercato.platform.s3 import Credentials, ObjectStore, WebIdentityCredentials
from mercato.runner.engines import EnginePorts, SeaweedS3, engines_for, free_port

SERVICE_ACCOUNT = "system:serviceaccount:mercato-prod:user"
AUDIENCE = "sts.amazonaws.com"
ROLE_ARN = "arn:aws:iam::000000000000:role/mercato-prod-user"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))


def _b64(number: int) -> str:
    raw = number.to_bytes((number.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass
class Issuer:
    """The cluster's OIDC issuer: signs service-account tokens and serves their JWKS."""

    url: str
    key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )

    def token(self, subject: str = SERVICE_ACCOUNT, *, key: rsa.RSAPrivateKey | None = None) -> str:
        now = int(time.time())
        claims = {"iss": self.url, "sub": subject, "aud": AUDIENCE, "iat": now, "exp": now + 3600}
        return jwt.encode(claims, key or self.key, algorithm="RS256", headers={"kid": "k1"})

    def jwks(self) -> dict[str, object]:
        public = self.key.public_key().public_numbers()
        return {
            "keys": [
                {"kty": "RSA", "kid": "k1", "use": "sig", "alg": "RS256"}
                | {"n": _b64(public.n), "e": _b64(public.e)}
            ]
        }


class SeaweedWithSts(SeaweedS3):
    """SeaweedFS whose STS trusts ``issuer`` for one role, read-write on every bucket."""

    def __init__(self, plain: SeaweedS3, issuer: Issuer) -> None:
        # Everything as the runner's launcher sets it up (engines_for), plus the STS.
        self.__dict__.update(vars(plain))
        self.issuer = issuer

    @property
    def iam_path(self) -> Path:
        return self.data_dir / "iam.json"

    def prepare(self) -> None:
        super().prepare()
        trust = {
            "Effect": "Allow",
            "Principal": {"Federated": "eks"},
            "Action": ["sts:AssumeRoleWithWebIdentity"],
            "Condition": {"StringEquals": {"oidc:sub": SERVICE_ACCOUNT}},
        }
        config = {
            "sts": {
                "tokenDuration": "15m",
                "maxSessionLength": "12h",
                "issuer": "seaweedfs-sts",
                "signingKey": base64.b64encode(uuid.uuid4().bytes * 2).decode(),
                "providers": [
                    {
                        "name": "eks",
                        "type": "oidc",
                        "enabled": True,
                        "config": {
                            "issuer": self.issuer.url,
                            "clientId": AUDIENCE,
                            "jwksUri": f"{self.issuer.url}/keys",
                        },
                    }
                ],
            },
            "policy": {"defaultEffect": "Deny", "storeType": "memory"},
            "roles": [
                {
                    "roleName": "mercato-prod-user",
                    "roleArn": ROLE_ARN,
                    "trustPolicy": {"Version": "2012-10-17", "Statement": [trust]},
                    "attachedPolicies": ["objects"],
                }
            ],
            "policies": [
                {
                    "name": "objects",
                    "document": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Action": "s3:*",
                                "Resource": ["arn:aws:s3:::*", "arn:aws:s3:::*/*"],
                            },
                            {"Effect": "Allow", "Action": "sts:ValidateSession", "Resource": "*"},
                        ],
                    },
                }
            ],
        }
        self.iam_path.write_text(json.dumps(config))

    def command(self) -> list[str]:
        return [*super().command(), f"-s3.iam.config={self.iam_path}"]


class Clock:
    """The credential source's idea of now, moved by the test instead of waiting."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(scope="module")
async def issuer() -> AsyncIterator[Issuer]:
    port = free_port()
    issuer = Issuer(url=f"http://127.0.0.1:{port}")

    async def keys(_request: web.Request) -> web.Response:
        return web.json_response(issuer.jwks())

    app = web.Application()
    app.router.add_get("/keys", keys)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield issuer
    finally:
        await runner.cleanup()


@pytest.fixture(scope="module")
async def sts_s3(issuer: Issuer) -> AsyncIterator[SeaweedWithSts]:
    base = Path(tempfile.mkdtemp(prefix="mercato-test-sts-"))
    secrets = {
        "postgres_password": "unused",
        "s3_access_key": "stsadmin",
        "s3_secret_key": "sts-admin-secret-0123456789",
    }
    plain = engines_for(base, EnginePorts.free(), secrets)["s3"]
    assert isinstance(plain, SeaweedS3)
    engine = SeaweedWithSts(plain, issuer)
    process = engine.start(base / "s3.log")
    try:
        await asyncio.to_thread(engine.wait_ready, process)
        yield engine
    finally:
        engine.stop(process)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def token_file(issuer: Issuer) -> Iterator[Path]:
    directory = Path(tempfile.mkdtemp(prefix="mercato-test-token-"))
    path = directory / "token"
    path.write_text(issuer.token())
    yield path
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
async def sts_calls() -> AsyncIterator[SimpleNamespace]:
    """An HTTP session for the credential source that counts its exchanges at STS."""
    counted = SimpleNamespace(count=0)

    async def on_request_start(*_args: object) -> None:
        counted.count += 1

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_request_start)
    async with aiohttp.ClientSession(trace_configs=[trace]) as session:
        counted.session = session
        yield counted


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def web_identity(sts_s3, token_file, sts_calls, clock) -> WebIdentityCredentials:
    return WebIdentityCredentials(
        role_arn=ROLE_ARN,
        token_file=token_file,
        sts_endpoint=sts_s3.url,
        region="us-east-1",
        session_name="mercato-user",
        duration_seconds=900,
        refresh_ahead=timedelta(minutes=5),
        session=sts_calls.session,
        clock=clock,
    )


@pytest.fixture
async def store(sts_s3, web_identity) -> AsyncIterator[ObjectStore]:
    store = ObjectStore(endpoint=sts_s3.url, credentials=web_identity)
    try:
        yield store
    finally:
        await store.close()


async def test_the_web_identity_is_exchanged_for_temporary_keys(web_identity):
    keys = await web_identity.get()
    assert keys.session_token
    assert keys.expires_at is not None
    assert timedelta(minutes=10) < keys.expires_at - datetime.now(UTC) <= timedelta(minutes=16)


async def test_objects_round_trip_with_temporary_keys(store, bucket):
    await store.put(bucket, "docs/a.txt", b"hello", "text/plain")
    assert await store.get(bucket, "docs/a.txt") == b"hello"
    assert (await store.head(bucket, "docs/a.txt")).size == 5
    await store.delete(bucket, "docs/a.txt")
    assert await store.get(bucket, "docs/a.txt") is None


async def test_temporary_keys_without_their_session_token_are_refused(sts_s3, store, bucket):
    keys = await store.credentials.get()
    tokenless = ObjectStore(
        endpoint=sts_s3.url, credentials=Credentials(keys.access_key, keys.secret_key)
    )
    try:
        with pytest.raises(RuntimeError, match="403"):
            await tokenless.put(bucket, "x", b"x", "text/plain")
    finally:
        await tokenless.close()


async def test_presigned_urls_carry_the_session_token_and_work(store, bucket, http):
    upload = store.presign_upload(bucket, "face.png", content_type="image/png", size=len(PNG))
    assert "X-Amz-Security-Token=" in upload.upload_url
    sent = await http.put(upload.upload_url, content=PNG, headers=upload.headers)
    assert sent.status_code == 200, sent.text
    downloaded = await http.get(store.presign_download(bucket, "face.png"))
    assert downloaded.status_code == 200, downloaded.text
    assert downloaded.content == PNG


async def test_a_presigned_url_promises_no_more_than_the_keys_have_left(store, bucket):
    url = store.presign_download(bucket, "face.png", expires_in=86400)
    expires = int(url.split("X-Amz-Expires=")[1].split("&")[0])
    assert 0 < expires <= 900


async def test_keys_are_refreshed_ahead_of_expiry_and_requests_go_on(
    store, bucket, web_identity, sts_calls, clock
):
    first = await web_identity.get()
    assert sts_calls.count == 1
    web_identity.duration_seconds = 3600  # so the new keys are fresh at the moved clock
    clock.now = first.expires_at - timedelta(minutes=4)  # inside the five-minute margin
    await store.put(bucket, "after-refresh", b"ok", "text/plain")
    second = web_identity.current()
    assert sts_calls.count == 2
    assert second.access_key != first.access_key
    assert await store.get(bucket, "after-refresh") == b"ok"


async def test_keys_outside_the_margin_are_not_refreshed(
    store, bucket, web_identity, sts_calls, clock
):
    first = await web_identity.get()
    clock.now = first.expires_at - timedelta(minutes=6)
    await store.put(bucket, "k", b"v", "text/plain")
    assert sts_calls.count == 1
    assert web_identity.current() == first


async def test_many_callers_due_a_refresh_share_one_exchange(web_identity, sts_calls, clock):
    """The lock makes the 19 callers behind the first wait for its keys."""
    first = await web_identity.get()
    web_identity.duration_seconds = 3600  # so the new keys are fresh at the moved clock
    clock.now = first.expires_at - timedelta(minutes=1)
    refreshed = await asyncio.gather(*(web_identity.get() for _ in range(20)))
    assert sts_calls.count == 2
    assert len({keys.access_key for keys in refreshed}) == 1
    assert refreshed[0].access_key != first.access_key
    assert refreshed[0].expires_at - first.expires_at > timedelta(minutes=40)


async def test_a_presign_due_a_refresh_signs_now_and_refreshes_in_the_background(
    store, bucket, web_identity, sts_calls, clock, http
):
    first = await web_identity.get()
    web_identity.duration_seconds = 3600  # so the new keys are fresh at the moved clock
    clock.now = first.expires_at - timedelta(minutes=2)
    url = store.presign_download(bucket, "missing")
    assert first.access_key in url
    for _ in range(100):  # the refresh was started, not awaited: let it finish
        if sts_calls.count == 2 and web_identity.current() != first:
            break
        await asyncio.sleep(0.05)
    assert web_identity.current().access_key != first.access_key


async def test_a_refused_refresh_keeps_the_keys_that_still_work(
    store, bucket, web_identity, token_file, issuer, clock
):
    first = await web_identity.get()
    token_file.write_text(issuer.token(key=rsa.generate_private_key(65537, 2048)))
    clock.now = first.expires_at - timedelta(minutes=1)
    await store.put(bucket, "still-works", b"ok", "text/plain")
    assert web_identity.current() == first


async def test_expired_keys_and_a_refused_refresh_make_the_store_unavailable(
    web_identity, token_file, issuer, clock
):
    first = await web_identity.get()
    token_file.write_text(issuer.token(subject="system:serviceaccount:mercato-prod:product"))
    clock.now = first.expires_at + timedelta(seconds=1)
    with pytest.raises(ServiceUnavailable):
        await web_identity.get()
    with pytest.raises(ServiceUnavailable):
        web_identity.current()


async def test_sts_refuses_another_service_account(sts_s3, issuer, token_file, sts_calls):
    token_file.write_text(issuer.token(subject="system:serviceaccount:mercato-prod:order"))
    other = WebIdentityCredentials(
        role_arn=ROLE_ARN,
        token_file=token_file,
        sts_endpoint=sts_s3.url,
        region="us-east-1",
        session_name="mercato-order",
        session=sts_calls.session,
    )
    with pytest.raises(ServiceUnavailable, match="refused"):
        await other.get()
