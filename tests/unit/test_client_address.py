"""How the gateway decides a client's address, how it is sealed, and how uvicorn is told."""

from __future__ import annotations

import pytest
from starlette.datastructures import Headers

from mercato.platform.forwarding import AddressSeal, forwarded_hops, forwarding_key, parse_address
from mercato.platform.server import uvicorn_config
from mercato.platform.settings import ServiceSettings
from mercato.services.gateway.proxy import client_address

PEER = "192.0.2.10"
STRONG = "a-real-secret-of-enough-length"


@pytest.mark.parametrize(
    ("forwarded_for", "hops", "expected"),
    [
        # No proxy in front: the socket peer, whatever the client wrote.
        ([], 0, PEER),
        (["10.1.1.1"], 0, PEER),
        (["10.1.1.1", "10.1.2.1"], 0, PEER),
        # One proxy that appends (an ALB): its entry, never the client's to its left.
        (["203.0.113.7"], 1, "203.0.113.7"),
        (["10.1.1.1", "203.0.113.7"], 1, "203.0.113.7"),
        (["10.1.1.1", "10.1.2.1", "203.0.113.7"], 1, "203.0.113.7"),
        # Two proxies (a CDN, then the ALB): the CDN's entry, second from the right.
        (["10.1.1.1", "203.0.113.7", "198.51.100.5"], 2, "203.0.113.7"),
        # Too short: the request bypassed a proxy, so no entry is the proxies'.
        ([], 1, PEER),
        (["10.1.1.1"], 2, PEER),
        # Not an address where the proxy's entry should be: the peer, never a guess.
        (["10.1.1.1", "unknown"], 1, PEER),
        (["10.1.1.1", "_hidden"], 1, PEER),
        (["10.1.1.1", "999.1.1.1"], 1, PEER),
        # Written the ways proxies write them: canonical addresses.
        (["203.0.113.7:51234"], 1, "203.0.113.7"),
        (["[2001:DB8::1]:443"], 1, "2001:db8::1"),
        (["2001:DB8:0::1"], 1, "2001:db8::1"),
        (["::ffff:203.0.113.7"], 1, "203.0.113.7"),
    ],
)
def test_the_gateway_counts_trusted_hops_from_the_right(forwarded_for, hops, expected):
    assert client_address(forwarded_for, PEER, trusted_proxy_hops=hops) == expected


def test_forwarded_for_is_read_across_repeated_header_lines_and_empty_elements_are_ignored():
    headers = Headers(
        raw=[
            (b"x-forwarded-for", b"10.1.1.1, ,10.1.2.1"),
            (b"x-forwarded-for", b" 203.0.113.7 "),
        ]
    )
    assert forwarded_hops(headers) == ["10.1.1.1", "10.1.2.1", "203.0.113.7"]
    # A proxy that adds a line instead of appending is still the last hop.
    assert client_address(forwarded_hops(headers), PEER, trusted_proxy_hops=1) == "203.0.113.7"


@pytest.mark.parametrize("text", ["", "localhost", "[2001:db8::1", "1.2.3", "1.2.3.4.5", "a:b:c"])
def test_what_is_no_ip_address_is_not_parsed(text):
    assert parse_address(text) is None


def test_a_seal_vouches_for_its_address_and_key_only():
    seal = AddressSeal(forwarding_key(STRONG))
    sealed = seal.seal("203.0.113.7")
    assert seal.vouches_for("203.0.113.7", sealed)
    assert seal.vouches_for("203.0.113.7", f" {sealed} ")
    assert not seal.vouches_for("203.0.113.8", sealed)
    assert not seal.vouches_for("203.0.113.7", sealed[:-1])
    assert not seal.vouches_for("203.0.113.7", "")
    assert not seal.vouches_for("203.0.113.7", "é" * 43)  # latin-1 from a header
    assert not AddressSeal(forwarding_key(STRONG + "x")).vouches_for("203.0.113.7", sealed)


def test_uvicorn_leaves_the_socket_peer_alone_unless_a_setting_names_the_proxies(monkeypatch):
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "*")  # uvicorn's own variable changes nothing
    # Built without reading MERCATO_ variables, so the test never depends on them.
    default = uvicorn_config(object(), ServiceSettings.model_construct(service="auth"))
    assert default.proxy_headers is False

    named = uvicorn_config(
        object(),
        ServiceSettings.model_construct(service="auth", forwarded_allow_ips="10.0.0.5, 10.0.0.6"),
    )
    assert named.proxy_headers is True
    assert named.forwarded_allow_ips == "10.0.0.5, 10.0.0.6"
