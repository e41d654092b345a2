"""AWS Signature Version 4 against the examples AWS publishes for S3.

Vectors: https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html and
https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html
(virtual-hosted style: host examplebucket.s3.amazonaws.com).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest

from mercato.platform.s3 import Credentials, ObjectStore, SigV4

AWS_EXAMPLE = Credentials(
    "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "us-east-1"
)
MAY_24_2013 = datetime(2013, 5, 24, tzinfo=UTC)
HOST = "https://examplebucket.s3.amazonaws.com"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def signature_of(authorization: str) -> str:
    return authorization.rsplit("Signature=", 1)[1]


def test_presigned_get_matches_the_aws_example():
    url = SigV4(AWS_EXAMPLE).presign("GET", f"{HOST}/test.txt", expires_in=86400, now=MAY_24_2013)
    query = parse_qs(urlsplit(url).query)
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert query["X-Amz-Credential"] == ["AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request"]
    assert query["X-Amz-Date"] == ["20130524T000000Z"]
    assert query["X-Amz-Expires"] == ["86400"]
    assert query["X-Amz-SignedHeaders"] == ["host"]
    assert query["X-Amz-Signature"] == [
        "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
    ]
    assert url.startswith(f"{HOST}/test.txt?")


def test_signed_get_object_with_range_matches_the_aws_example():
    headers = SigV4(AWS_EXAMPLE).sign_headers(
        "GET", f"{HOST}/test.txt", headers={"Range": "bytes=0-9"}, now=MAY_24_2013
    )
    assert headers["x-amz-content-sha256"] == EMPTY_SHA256
    assert headers["x-amz-date"] == "20130524T000000Z"
    assert "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date," in headers["authorization"]
    assert signature_of(headers["authorization"]) == (
        "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
    )
    assert "host" not in headers


def test_signed_put_object_matches_the_aws_example_and_encodes_the_key():
    headers = SigV4(AWS_EXAMPLE).sign_headers(
        "PUT",
        f"{HOST}/test$file.text",
        body=b"Welcome to Amazon S3.",
        headers={
            "Date": "Fri, 24 May 2013 00:00:00 GMT",
            "x-amz-storage-class": "REDUCED_REDUNDANCY",
        },
        now=MAY_24_2013,
    )
    assert headers["x-amz-content-sha256"] == (
        "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"
    )
    assert signature_of(headers["authorization"]) == (
        "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"
    )


def test_signed_list_objects_sorts_the_query_as_aws_does():
    headers = SigV4(AWS_EXAMPLE).sign_headers(
        "GET", f"{HOST}/?max-keys=2&prefix=J", now=MAY_24_2013
    )
    assert signature_of(headers["authorization"]) == (
        "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"
    )


def test_signed_get_bucket_lifecycle_keeps_an_empty_query_value():
    headers = SigV4(AWS_EXAMPLE).sign_headers("GET", f"{HOST}/?lifecycle", now=MAY_24_2013)
    assert signature_of(headers["authorization"]) == (
        "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"
    )


def test_a_presigned_upload_signs_exactly_the_size_and_type():
    store = ObjectStore(
        endpoint="http://s3.internal:8333",
        public_endpoint="https://files.example.com",
        credentials=AWS_EXAMPLE,
    )
    upload = store.presign_upload(
        "avatars", "users/1/face.png", content_type="image/png", size=1234, expires_in=60
    )
    assert upload.method == "PUT"
    assert upload.headers == {"Content-Type": "image/png", "Content-Length": "1234"}
    assert upload.expires_in == 60
    parts = urlsplit(upload.upload_url)
    assert (parts.scheme, parts.netloc, parts.path) == (
        "https",
        "files.example.com",
        "/avatars/users/1/face.png",
    )
    query = parse_qs(parts.query)
    assert query["X-Amz-SignedHeaders"] == ["content-length;content-type;host"]
    assert query["X-Amz-Expires"] == ["60"]


def test_presigned_urls_percent_encode_keys_once():
    url = SigV4(AWS_EXAMPLE).presign(
        "GET", f"{HOST}/a dir/naïve €+1.txt", expires_in=60, now=MAY_24_2013
    )
    assert urlsplit(url).path == "/a%20dir/na%C3%AFve%20%E2%82%AC%2B1.txt"


def test_the_signature_depends_on_every_signed_part():
    signer = SigV4(AWS_EXAMPLE)

    def signature(**changes: object) -> str:
        args: dict = {"method": "GET", "url": f"{HOST}/test.txt", "expires_in": 86400}
        args.update(changes)
        query = parse_qs(urlsplit(signer.presign(now=MAY_24_2013, **args)).query)
        return query["X-Amz-Signature"][0]

    base = signature()
    assert signature(method="PUT") != base
    assert signature(url=f"{HOST}/other.txt") != base
    assert signature(expires_in=60) != base
    assert signature(headers={"content-length": "1"}) != base


# -- temporary keys: the session token, checked against botocore's signer ----------------
# AWS publishes no S3 vector with a session token (the SigV4 suite's post-sts-token
# cases sign for a generic service), so botocore, AWS's own SDK core, is the reference.

SESSION_TOKEN = "IQoJb3JpZ2luX2VjEXAMPLE//////////wEaCXVzLWVhc3QtMSJHMEUCIQD+token=="
TEMPORARY = Credentials(
    "ASIAIOSFODNN7EXAMPLE",
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "eu-central-1",
    session_token=SESSION_TOKEN,
)
REGIONAL_HOST = "https://s3.eu-central-1.amazonaws.com"


@pytest.fixture
def botocore_at_may_24_2013(monkeypatch):
    """botocore's signers, with their clock stopped at the AWS examples' date."""
    import botocore.auth

    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: MAY_24_2013)
    return botocore.auth


def botocore_credentials():
    from botocore.credentials import Credentials as BotocoreCredentials

    return BotocoreCredentials(TEMPORARY.access_key, TEMPORARY.secret_key, SESSION_TOKEN)


def test_a_signed_put_with_a_session_token_matches_botocore(botocore_at_may_24_2013):
    from botocore.awsrequest import AWSRequest

    url = f"{REGIONAL_HOST}/media/face photo.png"
    body = b"\x89PNG not really"
    ours = SigV4(TEMPORARY).sign_headers(
        "PUT", url, body=body, headers={"Content-Type": "image/png"}, now=MAY_24_2013
    )
    request = AWSRequest(
        method="PUT",
        url=f"{REGIONAL_HOST}/media/face%20photo.png",
        data=body,
        headers={"Content-Type": "image/png", "X-Amz-Content-SHA256": ours["x-amz-content-sha256"]},
    )
    botocore_at_may_24_2013.S3SigV4Auth(botocore_credentials(), "s3", "eu-central-1").add_auth(
        request
    )
    assert ours["x-amz-security-token"] == SESSION_TOKEN
    assert request.headers["X-Amz-Security-Token"] == SESSION_TOKEN
    assert "x-amz-security-token" in ours["authorization"].split("SignedHeaders=")[1]
    assert ours["authorization"] == request.headers["Authorization"]


def test_a_presigned_get_with_a_session_token_matches_botocore(botocore_at_may_24_2013):
    from botocore.awsrequest import AWSRequest

    ours = SigV4(TEMPORARY).presign(
        "GET", f"{REGIONAL_HOST}/media/a.png", expires_in=900, now=MAY_24_2013
    )
    request = AWSRequest(method="GET", url=f"{REGIONAL_HOST}/media/a.png")
    botocore_at_may_24_2013.S3SigV4QueryAuth(
        botocore_credentials(), "s3", "eu-central-1", expires=900
    ).add_auth(request)
    theirs = parse_qs(urlsplit(request.url).query)
    mine = parse_qs(urlsplit(ours).query)
    assert mine["X-Amz-Security-Token"] == [SESSION_TOKEN]
    assert mine == theirs


def test_presigned_urls_without_a_session_token_carry_none():
    url = SigV4(AWS_EXAMPLE).presign("GET", f"{HOST}/test.txt", expires_in=60, now=MAY_24_2013)
    assert "X-Amz-Security-Token" not in url
