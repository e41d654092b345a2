"""Signing keys: Ed25519 pairs kept encrypted in the database, rotated on demand.

The JWKS holds the current and the previous key, so tokens signed just before a
rotation stay valid until they expire. Every auth replica reloads the key ring
periodically, so a rotation made by ``mercato keys rotate`` reaches all of them.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import select, text, update

from mercato.platform.db import Database, utcnow
from mercato.platform.security import ACCESS_TOKEN_TYPE
from mercato.services.auth.models import SigningKey

ALGORITHM = "EdDSA"
# Serialises rotations and the first key's creation across replicas and the CLI.
_KEY_LOCK = 0x6D65_7263_6B65_7973  # "merckeys"


def _fernet(secret: str) -> Fernet:
    key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"mercato-auth signing keys"
    ).derive(secret.encode())
    return Fernet(base64.urlsafe_b64encode(key))


@dataclass(frozen=True)
class LoadedKey:
    """A usable signing key."""

    kid: str
    private_key: Ed25519PrivateKey
    public_jwk: dict[str, Any]


class KeyRing:
    """The current signing key and the public keys auth publishes."""

    def __init__(self, database: Database, *, secret: str, reload_seconds: float = 30.0) -> None:
        self._database = database
        self._fernet = _fernet(secret)
        self._reload_seconds = reload_seconds
        self._current: LoadedKey | None = None
        self._public: list[dict[str, Any]] = []

    async def ensure_current(self) -> None:
        """Creates the first key when there is none, then loads the ring."""
        async with self._database.sessionmaker() as session, session.begin():
            await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _KEY_LOCK})
            found = await session.scalar(
                select(SigningKey.kid).where(SigningKey.status == "current")
            )
            if found is None:
                session.add(self._new_key("current"))
        await self.load()

    async def rotate(self) -> str:
        """Makes a new current key; the old one stays published as previous."""
        async with self._database.sessionmaker() as session, session.begin():
            await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _KEY_LOCK})
            await session.execute(
                update(SigningKey).where(SigningKey.status == "previous").values(status="retired")
            )
            await session.execute(
                update(SigningKey).where(SigningKey.status == "current").values(status="previous")
            )
            key = self._new_key("current")
            session.add(key)
        await self.load()
        return key.kid

    async def load(self) -> None:
        """Reads the current and previous keys from the database."""
        async with self._database.sessionmaker() as session:
            rows = (
                await session.scalars(
                    select(SigningKey)
                    .where(SigningKey.status.in_(("current", "previous")))
                    .order_by(SigningKey.created_at.desc())
                )
            ).all()
        current = next((r for r in rows if r.status == "current"), None)
        if current is not None:
            private = serialization.load_der_private_key(
                self._fernet.decrypt(current.private_key), password=None
            )
            assert isinstance(private, Ed25519PrivateKey)
            self._current = LoadedKey(current.kid, private, current.public_jwk)
        self._public = [r.public_jwk for r in rows]

    async def reload_periodically(self) -> None:
        """Background job: picks up rotations made elsewhere."""
        while True:
            await asyncio.sleep(self._reload_seconds)
            await self.load()

    async def jwks(self) -> dict[str, Any]:
        """The public key set: current first, then previous."""
        return {"keys": list(self._public)}

    def sign(self, claims: dict[str, Any]) -> str:
        """Signs ``claims`` as an access token with the current key."""
        if self._current is None:
            raise RuntimeError("no signing key loaded")
        return jwt.encode(
            claims,
            self._current.private_key,
            algorithm=ALGORITHM,
            headers={"kid": self._current.kid, "typ": ACCESS_TOKEN_TYPE},
        )

    def _new_key(self, status: str) -> SigningKey:
        private = Ed25519PrivateKey.generate()
        kid = f"{utcnow():%Y%m%d}-{secrets.token_hex(4)}"
        public_jwk = jwt.algorithms.OKPAlgorithm.to_jwk(private.public_key(), as_dict=True)
        public_jwk.update({"kid": kid, "alg": ALGORITHM, "use": "sig"})
        der = private.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return SigningKey(
            kid=kid,
            status=status,
            private_key=self._fernet.encrypt(der),
            public_jwk=public_jwk,
            created_at=utcnow(),
        )


def new_token_id() -> str:
    """A unique ``jti``."""
    return uuid.uuid4().hex
