"""Token verification from a cached JWKS: what passes, what is refused, when keys are fetched.

A fake stands in for auth's JWKS endpoint; the tokens are real Ed25519 JWTs.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from mercato.platform.errors import Unauthorized
from mercato.platform.security import (
    ACCESS_TOKEN_TYPE,
    LEEWAY_SECONDS,
    JwksCache,
    Principal,
    ServiceTokenProvider,
    TokenVerifier,
    derive_client_secret,
)

ISSUER = "mercato-auth"
AUDIENCE = "mercato"


class SigningKey:
    """An Ed25519 key pair with a kid, as auth keeps them."""

    def __init__(self, kid: str) -> None:
        self.kid = kid
        self.private = Ed25519PrivateKey.generate()

    @property
    def jwk(self) -> dict[str, Any]:
        jwk = jwt.algorithms.OKPAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
        return {**jwk, "kid": self.kid, "alg": "EdDSA", "use": "sig"}

    @property
    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def sign(self, claims: dict[str, Any], **header: Any) -> str:
        headers = {"kid": self.kid, "typ": ACCESS_TOKEN_TYPE, **header}
        return jwt.encode(claims, self.private, algorithm="EdDSA", headers=headers)


class FakeJwksEndpoint:
    """Stands in for auth's /jwks.json: serves the published keys, counts fetches."""

    def __init__(self, *keys: SigningKey) -> None:
        self.keys = list(keys)
        self.fetches = 0
        self.failing = False

    async def __call__(self) -> dict[str, Any]:
        self.fetches += 1
        await asyncio.sleep(0)
        if self.failing:
            raise ConnectionError("auth is down")
        return {"keys": [k.jwk for k in self.keys]}


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    values: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": str(uuid.uuid4()),
        "iat": now,
        "exp": now + 900,
        "jti": uuid.uuid4().hex,
        "roles": ["customer"],
    }
    values.update(overrides)
    return {k: v for k, v in values.items() if v is not None}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def unsigned_token(header: dict[str, Any], payload: dict[str, Any]) -> str:
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}."


def hs256_token(secret: bytes, header: dict[str, Any], payload: dict[str, Any]) -> str:
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


@pytest.fixture
def key() -> SigningKey:
    return SigningKey("key-1")


@pytest.fixture
def endpoint(key: SigningKey) -> FakeJwksEndpoint:
    return FakeJwksEndpoint(key)


@pytest.fixture
def verifier(endpoint: FakeJwksEndpoint) -> TokenVerifier:
    return TokenVerifier(JwksCache(endpoint), issuer=ISSUER, audience=AUDIENCE)


async def refused(verifier: TokenVerifier, token: str) -> str:
    with pytest.raises(Unauthorized) as error:
        await verifier.verify(token)
    assert error.value.status == 401
    assert error.value.headers == {"WWW-Authenticate": "Bearer"}
    return error.value.detail


# -- accepted --------------------------------------------------------------------------


async def test_a_good_token_gives_its_principal(verifier, key):
    subject = str(uuid.uuid4())
    token = key.sign(claims(sub=subject, roles=["customer", "admin"]))
    principal = await verifier.verify(token)
    assert principal.subject == subject
    assert principal.roles == {"customer", "admin"}
    assert principal.is_admin
    assert not principal.is_service
    assert principal.user_id == uuid.UUID(subject)
    assert principal.token == token


async def test_a_service_token_names_its_service(verifier, key):
    principal = await verifier.verify(key.sign(claims(sub="service:order", roles=["service"])))
    assert principal.is_service
    assert principal.service_name == "order"


async def test_a_token_just_past_expiry_is_accepted_within_the_leeway(verifier, key):
    await verifier.verify(key.sign(claims(exp=int(time.time()) - 5)))


# -- refused ---------------------------------------------------------------------------


async def test_an_expired_token_is_refused(verifier, key):
    detail = await refused(verifier, key.sign(claims(exp=int(time.time()) - 3600)))
    assert "expired" in detail


async def test_a_token_signed_by_another_key_with_the_same_kid_is_refused(verifier):
    impostor = SigningKey("key-1")
    await refused(verifier, impostor.sign(claims()))


async def test_a_token_with_an_unknown_kid_is_refused(verifier):
    detail = await refused(verifier, SigningKey("key-elsewhere").sign(claims()))
    assert "unknown key" in detail


async def test_a_token_without_kid_is_refused(verifier, key):
    token = jwt.encode(claims(), key.private, algorithm="EdDSA", headers={"typ": "at+jwt"})
    await refused(verifier, token)


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
async def test_alg_none_is_refused(verifier, key, alg):
    token = unsigned_token({"alg": alg, "typ": ACCESS_TOKEN_TYPE, "kid": key.kid}, claims())
    await refused(verifier, token)


async def test_alg_none_with_an_eddsa_header_and_no_signature_is_refused(verifier, key):
    token = unsigned_token({"alg": "EdDSA", "typ": ACCESS_TOKEN_TYPE, "kid": key.kid}, claims())
    await refused(verifier, token)


@pytest.mark.parametrize("secret_form", ["pem", "raw", "jwk_x"])
async def test_hs256_signed_with_the_public_key_is_refused(verifier, key, secret_form):
    raw = key.private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    secret = {"pem": key.public_pem, "raw": raw, "jwk_x": key.jwk["x"].encode()}[secret_form]
    header = {"alg": "HS256", "typ": ACCESS_TOKEN_TYPE, "kid": key.kid}
    await refused(verifier, hs256_token(secret, header, claims()))


async def test_another_asymmetric_algorithm_is_refused(verifier, key):
    from cryptography.hazmat.primitives.asymmetric import ec

    other = ec.generate_private_key(ec.SECP256R1())
    token = jwt.encode(
        claims(), other, algorithm="ES256", headers={"kid": key.kid, "typ": "at+jwt"}
    )
    await refused(verifier, token)


async def test_a_wrong_audience_is_refused(verifier, key):
    await refused(verifier, key.sign(claims(aud="someone-else")))


async def test_a_missing_audience_is_refused(verifier, key):
    await refused(verifier, key.sign(claims(aud=None)))


async def test_a_wrong_issuer_is_refused(verifier, key):
    await refused(verifier, key.sign(claims(iss="https://evil.example")))


@pytest.mark.parametrize("typ", ["JWT", "refresh+jwt", "AT+JWT", ""])
async def test_a_wrong_typ_is_refused(verifier, key, typ):
    detail = await refused(verifier, key.sign(claims(), typ=typ))
    assert "access token" in detail


async def test_a_missing_typ_is_refused(verifier, key):
    token = jwt.encode(claims(), key.private, algorithm="EdDSA", headers={"kid": key.kid})
    header = jwt.get_unverified_header(token)
    assert "typ" not in header or header["typ"] == "JWT"
    await refused(verifier, token)


@pytest.mark.parametrize("missing", ["exp", "sub", "jti", "iat", "iss"])
async def test_a_token_missing_a_required_claim_is_refused(verifier, key, missing):
    await refused(verifier, key.sign(claims(**{missing: None})))


@pytest.mark.parametrize("roles", ["admin", {"admin": True}, 1])
async def test_roles_that_are_not_a_list_are_refused(verifier, key, roles):
    await refused(verifier, key.sign(claims(roles=roles)))


@pytest.mark.parametrize("garbage", ["", "abc", "a.b.c", "a.b", "Bearer x.y.z"])
async def test_garbage_is_refused(verifier, garbage):
    await refused(verifier, garbage)


async def test_a_token_tampered_after_signing_is_refused(verifier, key):
    header, payload, signature = key.sign(claims(roles=["customer"])).split(".")
    forged = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    forged["roles"] = ["admin"]
    await refused(verifier, f"{header}.{b64(json.dumps(forged).encode())}.{signature}")


# -- the key cache ---------------------------------------------------------------------


async def test_keys_are_fetched_once_and_cached(verifier, endpoint, key):
    for _ in range(20):
        await verifier.verify(key.sign(claims()))
    assert endpoint.fetches == 1


async def test_an_unknown_kid_triggers_exactly_one_refresh(verifier, endpoint, key):
    await verifier.verify(key.sign(claims()))
    assert endpoint.fetches == 1
    stranger = SigningKey("key-stranger")
    await refused(verifier, stranger.sign(claims()))
    assert endpoint.fetches == 2


async def test_many_unknown_kids_do_not_hammer_the_endpoint(verifier, endpoint, key):
    await verifier.verify(key.sign(claims()))
    strangers = [SigningKey(f"key-{n}").sign(claims()) for n in range(50)]
    for token in strangers[:25]:
        await refused(verifier, token)
    results = await asyncio.gather(
        *(verifier.verify(t) for t in strangers[25:]), return_exceptions=True
    )
    assert all(isinstance(r, Unauthorized) for r in results)
    assert endpoint.fetches == 2


async def test_concurrent_first_requests_share_one_fetch(verifier, endpoint, key):
    tokens = [key.sign(claims()) for _ in range(30)]
    principals = await asyncio.gather(*(verifier.verify(t) for t in tokens))
    assert all(isinstance(p, Principal) for p in principals)
    assert endpoint.fetches == 1


async def test_a_rotation_is_picked_up_on_first_sight(verifier, endpoint, key):
    await verifier.verify(key.sign(claims()))
    rotated = SigningKey("key-2")
    endpoint.keys = [rotated, key]
    principal = await verifier.verify(rotated.sign(claims(sub="after-rotation")))
    assert principal.subject == "after-rotation"
    assert endpoint.fetches == 2
    # The previous key is still published, so its tokens stay valid.
    await verifier.verify(key.sign(claims()))
    assert endpoint.fetches == 2


async def test_a_key_dropped_from_the_set_stops_verifying_after_a_refresh(endpoint, key):
    verifier = TokenVerifier(
        JwksCache(endpoint, ttl=0, min_refresh_interval=0), issuer=ISSUER, audience=AUDIENCE
    )
    await verifier.verify(key.sign(claims()))
    endpoint.keys = [SigningKey("key-3")]
    await refused(verifier, key.sign(claims()))


async def test_stale_keys_are_refreshed_after_the_ttl(endpoint, key):
    verifier = TokenVerifier(
        JwksCache(endpoint, ttl=0, min_refresh_interval=0), issuer=ISSUER, audience=AUDIENCE
    )
    for _ in range(3):
        await verifier.verify(key.sign(claims()))
    assert endpoint.fetches == 3


async def test_an_unreachable_endpoint_keeps_the_cached_keys(endpoint, key):
    verifier = TokenVerifier(
        JwksCache(endpoint, ttl=0, min_refresh_interval=0), issuer=ISSUER, audience=AUDIENCE
    )
    await verifier.verify(key.sign(claims()))
    endpoint.failing = True
    await verifier.verify(key.sign(claims()))
    assert endpoint.fetches >= 2


async def test_an_unreachable_endpoint_is_not_hammered(verifier, endpoint, key):
    endpoint.failing = True
    tokens = [key.sign(claims()) for _ in range(40)]
    for token in tokens[:20]:
        await refused(verifier, token)
    await asyncio.gather(*(verifier.verify(t) for t in tokens[20:]), return_exceptions=True)
    # One scheduled attempt and one on-demand attempt per interval, no more.
    assert endpoint.fetches <= 2


async def test_keys_with_other_algorithms_are_not_loaded(endpoint, key):
    foreign = {**SigningKey("key-hs").jwk, "alg": "HS256"}

    async def fetch() -> dict[str, Any]:
        return {"keys": [foreign, key.jwk]}

    verifier = TokenVerifier(JwksCache(fetch), issuer=ISSUER, audience=AUDIENCE)
    await verifier.verify(key.sign(claims()))
    await refused(verifier, SigningKey("key-hs").sign(claims()))


# -- service tokens and client secrets -------------------------------------------------


async def test_service_tokens_are_cached_until_shortly_before_expiry():
    grants = 0

    async def fetch() -> dict[str, Any]:
        nonlocal grants
        grants += 1
        return {"access_token": f"token-{grants}", "expires_in": 900}

    provider = ServiceTokenProvider(fetch)
    tokens = await asyncio.gather(*(provider() for _ in range(10)))
    assert set(tokens) == {"token-1"}
    assert grants == 1


def test_client_secrets_differ_per_client_and_master():
    assert derive_client_secret("m", "order") == derive_client_secret("m", "order")
    assert derive_client_secret("m", "order") != derive_client_secret("m", "review")
    assert derive_client_secret("m", "order") != derive_client_secret("n", "order")
    assert len(derive_client_secret("m", "order")) >= 40


async def test_a_broken_entry_in_the_key_set_does_not_hide_the_good_ones(key):
    async def fetch() -> dict[str, Any]:
        broken = {"kty": "OKP", "crv": "Ed25519", "x": "not-a-key!", "kid": "bad", "alg": "EdDSA"}
        return {"keys": [broken, key.jwk]}

    verifier = TokenVerifier(JwksCache(fetch), issuer=ISSUER, audience=AUDIENCE)
    await verifier.verify(key.sign(claims()))


# -- remembered tokens (ADR 0035) --------------------------------------------------------


class Clock:
    """Wall-clock seconds that a test moves forward by hand."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


async def test_a_verified_token_is_remembered_and_not_verified_again(verifier, key):
    token = key.sign(claims())
    first = await verifier.verify(token)
    assert verifier.remembered == 1
    assert await verifier.verify(token) is first


async def test_a_remembered_token_is_refused_the_moment_it_expires(endpoint, key):
    clock = Clock()
    verifier = TokenVerifier(JwksCache(endpoint), issuer=ISSUER, audience=AUDIENCE, clock=clock)
    exp = int(clock.now) + 60
    token = key.sign(claims(exp=exp))
    await verifier.verify(token)
    clock.now = exp + LEEWAY_SECONDS - 0.001
    await verifier.verify(token)
    assert verifier.remembered == 1
    clock.now = exp + LEEWAY_SECONDS
    assert "expired" in await refused(verifier, token)
    assert verifier.remembered == 0
    assert "expired" in await refused(verifier, token)


async def test_a_remembered_token_is_refused_once_its_key_leaves_the_set(endpoint, key):
    verifier = TokenVerifier(
        JwksCache(endpoint, ttl=0, min_refresh_interval=0), issuer=ISSUER, audience=AUDIENCE
    )
    token = key.sign(claims())
    await verifier.verify(token)
    endpoint.keys = [SigningKey("key-3")]
    assert "unknown key" in await refused(verifier, token)
    assert verifier.remembered == 0


async def test_a_remembered_token_passes_again_after_a_refresh_that_keeps_its_key(endpoint, key):
    verifier = TokenVerifier(
        JwksCache(endpoint, ttl=0, min_refresh_interval=0), issuer=ISSUER, audience=AUDIENCE
    )
    token = key.sign(claims())
    await verifier.verify(token)
    principal = await verifier.verify(token)
    assert principal.token == token
    assert endpoint.fetches >= 2
    assert verifier.remembered == 1


async def test_a_refused_token_is_not_remembered(verifier, key):
    await refused(verifier, key.sign(claims(aud="elsewhere")))
    await refused(verifier, SigningKey("key-1").sign(claims()))
    assert verifier.remembered == 0


async def test_remembered_tokens_are_bounded_least_recently_used_first(endpoint, key):
    verifier = TokenVerifier(JwksCache(endpoint), issuer=ISSUER, audience=AUDIENCE, cache_size=2)
    first, second, third = (key.sign(claims()) for _ in range(3))
    kept = await verifier.verify(first)
    await verifier.verify(second)
    assert await verifier.verify(first) is kept  # now the most recently used
    await verifier.verify(third)
    assert verifier.remembered == 2
    assert await verifier.verify(first) is kept
    assert (await verifier.verify(second)).token == second  # verified afresh
