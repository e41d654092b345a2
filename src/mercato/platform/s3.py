"""Object storage over the S3 API, for SeaweedFS, MinIO and AWS S3 alike.

Requests are signed with AWS Signature Version 4 and sent with the process's aiohttp
session. Browsers upload and download through presigned URLs; an upload URL signs
the content type and the exact length, so the store itself refuses anything else.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote, urlsplit
from xml.sax.saxutils import escape

import aiohttp
from multidict import CIMultiDict
from yarl import URL

from mercato.platform.errors import ServiceUnavailable, ValidationFailed

UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
ALGORITHM = "AWS4-HMAC-SHA256"


@dataclass(frozen=True)
class Credentials:
    """An access key pair and the region it signs for."""

    access_key: str
    secret_key: str
    region: str = "us-east-1"


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
        credentials: Credentials,
        session: aiohttp.ClientSession | None = None,
        public_endpoint: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.public_endpoint = (public_endpoint or endpoint).rstrip("/")
        self._signer = SigV4(credentials)
        self._region = credentials.region
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
        signed = self._signer.sign_headers(method, url, body=body, headers=headers)
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
        status, _, body = await self._send(
            "PUT", bucket, body=create_bucket_configuration(self._region)
        )
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
        url = self._signer.presign(
            "PUT", self._url(bucket, key, public=True), expires_in=expires_in, headers=headers
        )
        return PresignedUpload(upload_url=url, method="PUT", headers=headers, expires_in=expires_in)

    def presign_download(self, bucket: str, key: str, *, expires_in: int = 3600) -> str:
        """A GET URL for one object."""
        return self._signer.presign(
            "GET", self._url(bucket, key, public=True), expires_in=expires_in
        )

    async def close(self) -> None:
        """Closes the session if this store made it."""
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None


def _quote_url(url: str) -> str:
    parts = urlsplit(url)
    path = _uri_encode(parts.path, keep_slash=True)
    return f"{parts.scheme}://{parts.netloc}{path}" + (f"?{parts.query}" if parts.query else "")
