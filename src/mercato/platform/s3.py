"""Object storage over the S3 API, for SeaweedFS, MinIO and AWS S3 alike.

Requests are signed with AWS Signature Version 4 and sent with the process's aiohttp
session. Browsers upload and download through presigned URLs; an upload URL signs
the content type and the exact length, so the store itself refuses anything else.

Credentials come from a chain (ADR 0024): static keys from settings, else a web
identity (IRSA on EKS) exchanged at STS for temporary keys that are refreshed ahead of
their expiry, else the standard AWS environment variables.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol
from urllib.parse import quote, urlsplit
from xml.etree import ElementTree
from xml.sax.saxutils import escape

import aiohttp
from multidict import CIMultiDict
from yarl import URL

from mercato.platform.errors import ServiceUnavailable, ValidationFailed

UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
ALGORITHM = "AWS4-HMAC-SHA256"
STS_NAMESPACE = "{https://sts.amazonaws.com/doc/2011-06-15/}"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Credentials:
    """An access key pair, the region it signs for and, for temporary keys, their session."""

    access_key: str
    secret_key: str
    region: str = "us-east-1"
    session_token: str | None = None
    expires_at: datetime | None = None

    def seconds_left(self, now: datetime) -> float | None:
        """How long these keys still work, or None when they never expire."""
        if self.expires_at is None:
            return None
        return (self.expires_at - now).total_seconds()


class CredentialSource(Protocol):
    """Where an object store gets the keys it signs with."""

    async def get(self) -> Credentials:
        """Keys valid now, refreshed first if they are about to expire."""
        ...

    def current(self) -> Credentials:
        """Keys valid now, without waiting (for presigning, which is synchronous)."""
        ...


class StaticCredentials:
    """Keys that never change: settings, MinIO, SeaweedFS, or AWS's environment variables."""

    def __init__(self, credentials: Credentials) -> None:
        self._credentials = credentials

    async def get(self) -> Credentials:
        """The keys."""
        return self._credentials

    def current(self) -> Credentials:
        """The keys."""
        return self._credentials


class WebIdentityCredentials:
    """Temporary keys from STS ``AssumeRoleWithWebIdentity``, the way IRSA hands them to pods.

    The token file is read at every exchange: the kubelet rotates it. Keys are refreshed
    ``refresh_ahead`` before they expire, so no request ever signs with expired keys;
    concurrent callers share one exchange. Should STS fail while the old keys still work,
    they go on being used and the next caller tries again.
    """

    def __init__(
        self,
        *,
        role_arn: str,
        token_file: Path,
        sts_endpoint: str,
        region: str,
        session_name: str,
        duration_seconds: int = 3600,
        refresh_ahead: timedelta = timedelta(minutes=15),
        session: aiohttp.ClientSession | None = None,
        timeout: float = 10.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.role_arn = role_arn
        self.token_file = token_file
        self.sts_endpoint = sts_endpoint.rstrip("/")
        self.region = region
        self.session_name = session_name
        self.duration_seconds = duration_seconds
        # Short sessions would otherwise be due a refresh as soon as they are issued.
        self.refresh_ahead = min(refresh_ahead, timedelta(seconds=duration_seconds / 3))
        self._session = session
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._clock = clock
        self._credentials: Credentials | None = None
        self._lock = asyncio.Lock()
        self._background: asyncio.Task[Credentials] | None = None

    def _fresh(self, credentials: Credentials | None) -> bool:
        if credentials is None:
            return False
        left = credentials.seconds_left(self._clock())
        return left is None or left > self.refresh_ahead.total_seconds()

    def _usable(self, credentials: Credentials | None) -> bool:
        if credentials is None:
            return False
        left = credentials.seconds_left(self._clock())
        return left is None or left > 0

    async def get(self) -> Credentials:
        """Keys valid now; exchanges the token at STS first when they are due."""
        if self._fresh(self._credentials):
            assert self._credentials is not None
            return self._credentials
        async with self._lock:
            # Whoever held the lock before us may have refreshed them already.
            if self._fresh(self._credentials):
                assert self._credentials is not None
                return self._credentials
            try:
                self._credentials = await self._assume_role()
            except ServiceUnavailable:
                if not self._usable(self._credentials):
                    raise
                log.warning("STS refresh failed; signing with the current keys until they expire")
            assert self._credentials is not None
            return self._credentials

    def current(self) -> Credentials:
        """Keys valid now; starts a refresh in the background when they are due."""
        credentials = self._credentials
        if not self._usable(credentials):
            raise ServiceUnavailable("The object store's credentials have expired.")
        assert credentials is not None
        if not self._fresh(credentials) and (self._background is None or self._background.done()):
            self._background = asyncio.get_running_loop().create_task(self.get())
        return credentials

    async def _assume_role(self) -> Credentials:
        try:
            token = self.token_file.read_text().strip()
        except OSError as exc:
            raise ServiceUnavailable("The web identity token cannot be read.") from exc
        form = {
            "Action": "AssumeRoleWithWebIdentity",
            "Version": "2011-06-15",
            "RoleArn": self.role_arn,
            "RoleSessionName": self.session_name,
            "WebIdentityToken": token,
            "DurationSeconds": str(self.duration_seconds),
        }
        session = self._session or aiohttp.ClientSession()
        try:
            async with session.post(
                f"{self.sts_endpoint}/", data=form, timeout=self._timeout
            ) as response:
                status, body = response.status, await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ServiceUnavailable("STS is unreachable.") from exc
        finally:
            if self._session is None:
                await session.close()
        if status != 200:
            log.warning("STS refused AssumeRoleWithWebIdentity: %s %r", status, body[:300])
            raise ServiceUnavailable("STS refused the web identity.")
        return parse_assumed_role(body, region=self.region)


def parse_assumed_role(body: bytes, *, region: str) -> Credentials:
    """The temporary keys in an ``AssumeRoleWithWebIdentity`` answer."""
    try:
        found = ElementTree.fromstring(body).find(  # noqa: S314 (STS's answer, over TLS on AWS)
            f"{STS_NAMESPACE}AssumeRoleWithWebIdentityResult/{STS_NAMESPACE}Credentials"
        )
        if found is None:
            raise KeyError("Credentials")
        fields = {child.tag.removeprefix(STS_NAMESPACE): child.text or "" for child in found}
        return Credentials(
            access_key=fields["AccessKeyId"],
            secret_key=fields["SecretAccessKey"],
            region=region,
            session_token=fields["SessionToken"],
            expires_at=datetime.fromisoformat(fields["Expiration"].replace("Z", "+00:00")),
        )
    except (ElementTree.ParseError, KeyError, ValueError) as exc:
        raise ServiceUnavailable("STS answered without usable credentials.") from exc


def credential_chain(
    *,
    access_key: str | None,
    secret_key: str | None,
    region: str,
    environ: Mapping[str, str],
    session_name: str,
) -> CredentialSource | None:
    """The first source that is configured: settings, then web identity, then AWS's env vars."""
    if access_key and secret_key:
        return StaticCredentials(Credentials(access_key, secret_key, region))
    role_arn, token_file = environ.get("AWS_ROLE_ARN"), environ.get("AWS_WEB_IDENTITY_TOKEN_FILE")
    if role_arn and token_file:
        return WebIdentityCredentials(
            role_arn=role_arn,
            token_file=Path(token_file),
            sts_endpoint=environ.get("AWS_ENDPOINT_URL_STS")
            or f"https://sts.{region}.amazonaws.com",
            region=region,
            session_name=environ.get("AWS_ROLE_SESSION_NAME") or session_name,
        )
    if environ.get("AWS_ACCESS_KEY_ID") and environ.get("AWS_SECRET_ACCESS_KEY"):
        return StaticCredentials(
            Credentials(
                environ["AWS_ACCESS_KEY_ID"],
                environ["AWS_SECRET_ACCESS_KEY"],
                region,
                session_token=environ.get("AWS_SESSION_TOKEN") or None,
            )
        )
    return None


def create_bucket_configuration(region: str) -> bytes:
    """CreateBucket's body: empty for us-east-1, which AWS refuses to name, else the region.

    Outside us-east-1 AWS answers a CreateBucket without a LocationConstraint naming the
    signing region with 400 IllegalLocationConstraintException; MinIO and SeaweedFS take
    either form.
    """
    if region == "us-east-1":
        return b""
    return (
        '<CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
        f"<LocationConstraint>{escape(region)}</LocationConstraint>"
        "</CreateBucketConfiguration>"
    ).encode()


@dataclass(frozen=True)
class PresignedUpload:
    """What a client needs to upload one object."""

    upload_url: str
    method: str
    headers: dict[str, str]
    expires_in: int


@dataclass(frozen=True)
class UploadPolicy:
    """Which content types, and how many bytes, an upload may have."""

    content_types: tuple[str, ...]
    max_bytes: int

    def check(self, *, content_type: str, size: int, what: str) -> None:
        """Raises 422 naming each field outside the policy."""
        errors = []
        if content_type not in self.content_types:
            allowed = ", ".join(self.content_types)
            errors.append({"loc": ["body", "content_type"], "msg": f"must be one of {allowed}"})
        if size > self.max_bytes:
            errors.append(
                {"loc": ["body", "size"], "msg": f"must be at most {self.max_bytes} bytes"}
            )
        if errors:
            raise ValidationFailed(f"The {what} is outside the upload policy.", errors=errors)


@dataclass(frozen=True)
class ObjectInfo:
    """What the store knows of an object."""

    size: int
    content_type: str | None
    etag: str | None


def _uri_encode(value: str, *, keep_slash: bool = False) -> str:
    return quote(value, safe="/-_.~" if keep_slash else "-_.~")


def _signing_key(secret: str, date: str, region: str) -> bytes:
    key = ("AWS4" + secret).encode()
    for part in (date, region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


class SigV4:
    """Signs S3 requests and URLs (path-style addressing)."""

    def __init__(self, credentials: Credentials) -> None:
        self._credentials = credentials

    def _scope(self, date: str) -> str:
        return f"{date}/{self._credentials.region}/s3/aws4_request"

    def _signature(
        self,
        *,
        method: str,
        path: str,
        query: Mapping[str, str],
        headers: Mapping[str, str],
        payload_hash: str,
        amz_date: str,
    ) -> tuple[str, str]:
        """The signature and the signed-headers list of one canonical request."""
        canonical_headers = {k.lower(): " ".join(v.split()) for k, v in headers.items()}
        signed = ";".join(sorted(canonical_headers))
        canonical_query = "&".join(
            f"{_uri_encode(k)}={_uri_encode(v)}" for k, v in sorted(query.items())
        )
        canonical = "\n".join(
            [
                method,
                _uri_encode(path, keep_slash=True),
                canonical_query,
                "".join(f"{k}:{canonical_headers[k]}\n" for k in sorted(canonical_headers)),
                signed,
                payload_hash,
            ]
        )
        to_sign = "\n".join(
            [
                ALGORITHM,
                amz_date,
                self._scope(amz_date[:8]),
                hashlib.sha256(canonical.encode()).hexdigest(),
            ]
        )
        key = _signing_key(self._credentials.secret_key, amz_date[:8], self._credentials.region)
        return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest(), signed

    def presign(
        self,
        method: str,
        url: str,
        *,
        expires_in: int,
        headers: Mapping[str, str] | None = None,
        now: datetime | None = None,
    ) -> str:
        """A URL that performs ``method`` on ``url`` without credentials until it expires."""
        parts = urlsplit(url)
        amz_date = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
        signed_headers = {
            "host": parts.netloc,
            **{k.lower(): v for k, v in (headers or {}).items()},
        }
        query = {
            "X-Amz-Algorithm": ALGORITHM,
            "X-Amz-Credential": f"{self._credentials.access_key}/{self._scope(amz_date[:8])}",
            "X-Amz-Date": amz_date,
            "X-Amz-Expires": str(expires_in),
            "X-Amz-SignedHeaders": ";".join(sorted(signed_headers)),
        }
        if self._credentials.session_token:
            # S3 signs the token with the rest of the query, as botocore does.
            query["X-Amz-Security-Token"] = self._credentials.session_token
        signature, _ = self._signature(
            method=method,
            path=parts.path or "/",
            query=query,
            headers=signed_headers,
            payload_hash=UNSIGNED_PAYLOAD,
            amz_date=amz_date,
        )
        query["X-Amz-Signature"] = signature
        encoded = "&".join(f"{_uri_encode(k)}={_uri_encode(v)}" for k, v in query.items())
        return (
            f"{parts.scheme}://{parts.netloc}{_uri_encode(parts.path, keep_slash=True)}?{encoded}"
        )

    def sign_headers(
        self,
        method: str,
        url: str,
        *,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
        now: datetime | None = None,
    ) -> dict[str, str]:
        """Headers (with ``Authorization``) for sending ``body`` to ``url`` directly."""
        parts = urlsplit(url)
        amz_date = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
        payload_hash = hashlib.sha256(body).hexdigest()
        out = {
            **{k.lower(): v for k, v in (headers or {}).items()},
            "host": parts.netloc,
            "x-amz-date": amz_date,
            "x-amz-content-sha256": payload_hash,
        }
        if self._credentials.session_token:
            out["x-amz-security-token"] = self._credentials.session_token
        query = dict((k, v) for k, _, v in (p.partition("=") for p in parts.query.split("&") if p))
        signature, signed = self._signature(
            method=method,
            path=parts.path or "/",
            query=query,
            headers=out,
            payload_hash=payload_hash,
            amz_date=amz_date,
        )
        out["authorization"] = (
            f"{ALGORITHM} Credential={self._credentials.access_key}/{self._scope(amz_date[:8])}, "
            f"SignedHeaders={signed}, Signature={signature}"
        )
        del out["host"]
        return out


class ObjectStore:
    """Buckets and objects of one S3 endpoint."""

    def __init__(
        self,
        *,
        endpoint: str,
        credentials: Credentials | CredentialSource,
        session: aiohttp.ClientSession | None = None,
        public_endpoint: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.public_endpoint = (public_endpoint or endpoint).rstrip("/")
        self.credentials: CredentialSource = (
            StaticCredentials(credentials) if isinstance(credentials, Credentials) else credentials
        )
        self._session = session
        self._owns_session = session is None
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    @property
    def session(self) -> aiohttp.ClientSession:
        """The HTTP session, created on first use."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(auto_decompress=False)
            self._owns_session = True
        return self._session

    def _url(self, bucket: str, key: str = "", *, public: bool = False) -> str:
        base = self.public_endpoint if public else self.endpoint
        return f"{base}/{bucket}" + (f"/{key}" if key else "")

    async def _send(
        self,
        method: str,
        bucket: str,
        key: str = "",
        *,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
    ) -> tuple[int, CIMultiDict[str], bytes]:
        url = self._url(bucket, key)
        signer = SigV4(await self.credentials.get())
        signed = signer.sign_headers(method, url, body=body, headers=headers)
        try:
            async with self.session.request(
                method,
                URL(_quote_url(url), encoded=True),
                data=body or None,
                headers=signed,
                timeout=self._timeout,
            ) as response:
                # Case-insensitive: stores differ in how they spell "ETag".
                return response.status, CIMultiDict(response.headers), await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ServiceUnavailable("The object store is unreachable.") from exc

    async def ensure_bucket(self, bucket: str) -> None:
        """Creates ``bucket`` unless it exists, in the region the credentials sign for."""
        # Asked first: on AWS the buckets come from Terraform, and a least-privilege
        # role may look at its buckets but not create them.
        if await self.bucket_exists(bucket):
            return
        region = (await self.credentials.get()).region
        status, _, body = await self._send("PUT", bucket, body=create_bucket_configuration(region))
        if status not in (200, 409):
            raise RuntimeError(f"creating bucket {bucket} failed: {status} {body[:200]!r}")

    async def bucket_exists(self, bucket: str) -> bool:
        """True when ``bucket`` exists and is reachable with these credentials."""
        status, _, _ = await self._send("HEAD", bucket)
        return status == 200

    async def put(self, bucket: str, key: str, data: bytes, content_type: str) -> None:
        """Stores an object."""
        status, _, body = await self._send(
            "PUT", bucket, key, body=data, headers={"content-type": content_type}
        )
        if status != 200:
            raise RuntimeError(f"storing {bucket}/{key} failed: {status} {body[:200]!r}")

    async def get(self, bucket: str, key: str) -> bytes | None:
        """An object's bytes, or None when it does not exist."""
        status, _, body = await self._send("GET", bucket, key)
        if status == 404:
            return None
        if status != 200:
            raise RuntimeError(f"reading {bucket}/{key} failed: {status}")
        return body

    async def head(self, bucket: str, key: str) -> ObjectInfo | None:
        """An object's size and type, or None when it does not exist."""
        status, headers, _ = await self._send("HEAD", bucket, key)
        if status == 404:
            return None
        if status != 200:
            raise RuntimeError(f"inspecting {bucket}/{key} failed: {status}")
        return ObjectInfo(
            size=int(headers.get("Content-Length", "0")),
            content_type=headers.get("Content-Type"),
            etag=headers.get("ETag"),
        )

    async def delete(self, bucket: str, key: str) -> None:
        """Removes an object (no error when it is already gone)."""
        status, _, _ = await self._send("DELETE", bucket, key)
        if status not in (200, 204, 404):
            raise RuntimeError(f"deleting {bucket}/{key} failed: {status}")

    def presign_upload(
        self, bucket: str, key: str, *, content_type: str, size: int, expires_in: int = 300
    ) -> PresignedUpload:
        """A PUT URL accepting exactly ``size`` bytes of ``content_type``."""
        headers = {"Content-Type": content_type, "Content-Length": str(size)}
        signer, expires_in = self._presigner(expires_in)
        url = signer.presign(
            "PUT", self._url(bucket, key, public=True), expires_in=expires_in, headers=headers
        )
        return PresignedUpload(upload_url=url, method="PUT", headers=headers, expires_in=expires_in)

    def presign_download(self, bucket: str, key: str, *, expires_in: int = 3600) -> str:
        """A GET URL for one object."""
        signer, expires_in = self._presigner(expires_in)
        return signer.presign("GET", self._url(bucket, key, public=True), expires_in=expires_in)

    def _presigner(self, expires_in: int) -> tuple[SigV4, int]:
        """A signer and the URL lifetime it can honour.

        A presigned URL stops working when the keys that signed it expire, so with
        temporary keys it promises no more than they have left.
        """
        credentials = self.credentials.current()
        left = credentials.seconds_left(datetime.now(UTC))
        if left is not None:
            expires_in = max(1, min(expires_in, int(left)))
        return SigV4(credentials), expires_in

    async def close(self) -> None:
        """Closes the session if this store made it."""
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None


def _quote_url(url: str) -> str:
    parts = urlsplit(url)
    path = _uri_encode(parts.path, keep_slash=True)
    return f"{parts.scheme}://{parts.netloc}{path}" + (f"?{parts.query}" if parts.query else "")
