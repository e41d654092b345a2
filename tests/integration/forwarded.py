"""Headers as the gateway forwards a request: the client's address and the gateway's seal."""

from __future__ import annotations

from mercato.platform.forwarding import (
    FORWARDED_FOR,
    FORWARDED_FOR_SEAL,
    SEALED_BY,
    AddressSeal,
    forwarding_key,
)
from mercato.platform.security import derive_client_secret
from tests.conftest import TEST_SECRETS


def sealed(address: str, *, master: str = TEST_SECRETS["auth_secret_key"]) -> dict[str, str]:
    """``address`` sealed with the gateway's key, derived from auth's ``master`` secret."""
    seal = AddressSeal(forwarding_key(derive_client_secret(master, SEALED_BY)))
    return {FORWARDED_FOR: address, FORWARDED_FOR_SEAL: seal.seal(address)}
