"""The client's address: decided once by the gateway, sealed on its way to a service.

The gateway replaces ``X-Forwarded-For`` with the one address it decided and sends a
seal with it: an HMAC of that address under a key only the gateway and the services
that read addresses hold. A service believes the header only when the seal vouches for
it, so a client that reaches a service directly, or anything else on the loopback (a
mesh sidecar), gets its socket peer instead. ADR 0025 says why.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress

from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.requests import Request

FORWARDED_FOR = "x-forwarded-for"
FORWARDED_FOR_SEAL = "x-mercato-forwarded-for-seal"
SEALED_BY = "gateway"  # the catalog service whose client secret keys the seal
UNKNOWN_PEER = "unknown"
_APP_STATE = "forwarded_for_seal"
# Only the gateway's own hop is vouched for; a sidecar may append one or two after it.
_HOPS_LOOKED_AT = 4


def forwarding_key(gateway_client_secret: str) -> bytes:
    """The key of the seal, derived from the gateway's client secret (auth can recompute it)."""
    return hmac.new(
        gateway_client_secret.encode(), b"mercato-forwarded-for", hashlib.sha256
    ).digest()


class AddressSeal:
    """Seals a client address for the services behind the gateway, and checks such seals."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def seal(self, address: str) -> str:
        """The seal vouching for ``address``."""
        digest = hmac.new(self._key, address.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def vouches_for(self, address: str, seal: str) -> bool:
        """True when ``seal`` was made for ``address`` with this key."""
        return hmac.compare_digest(self.seal(address).encode(), seal.strip().encode())


def forwarded_hops(headers: Headers) -> list[str]:
    """Every ``X-Forwarded-For`` entry, across repeated header lines, oldest first."""
    return [
        hop.strip()
        for line in headers.getlist(FORWARDED_FOR)
        for hop in line.split(",")
        if hop.strip()  # RFC 9110 section 5.6.1: empty list elements are ignored
    ]


def parse_address(hop: str) -> str | None:
    """``hop`` as a canonical IP address (port dropped, IPv4-mapped unwrapped); else None."""
    text = hop.strip()
    if text.startswith("["):  # "[2001:db8::1]" or "[2001:db8::1]:443"
        text, closed, _ = text[1:].partition("]")
        if not closed:
            return None
    elif text.count(":") == 1:  # "203.0.113.7:443"
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


def peer_address(request: Request) -> str:
    """The address of the socket's other end, as the server accepted it."""
    if request.client is None:
        return UNKNOWN_PEER
    return parse_address(request.client.host) or request.client.host


def trust_sealed_addresses(app: Starlette, seal: AddressSeal) -> None:
    """Makes the service ``app`` believe the addresses the gateway sealed with this key."""
    setattr(app.state, _APP_STATE, seal)


def client_address(request: Request) -> str:
    """The hop the gateway sealed, when this service holds the key; else the socket peer."""
    seal: AddressSeal | None = getattr(request.app.state, _APP_STATE, None)
    presented = request.headers.get(FORWARDED_FOR_SEAL)
    if seal is not None and presented:
        for hop in reversed(forwarded_hops(request.headers)[-_HOPS_LOOKED_AT:]):
            if seal.vouches_for(hop, presented):
                return hop
    return peer_address(request)
