"""Who sent a request: the one client-address function (throttles, access log, consent, sign-ins).

``X-Forwarded-For`` is anyone's to write. It is read only when the request comes straight
from a proxy listed in ``settings.TRUSTED_PROXIES`` (addresses or CIDR networks), and then
from the right: each trusted proxy appends the address it received the request from, so
the first address that is not itself a trusted proxy is the client. Whatever an untrusted
client writes to the left of that is ignored.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from django.conf import settings

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def _networks(proxies: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(p.strip(), strict=False) for p in proxies if p.strip())


def trusted_networks() -> tuple[Network, ...]:
    """``settings.TRUSTED_PROXIES`` parsed (read at each call so that tests and settings may change it)."""
    return _networks(tuple(settings.TRUSTED_PROXIES))


def _address(text: str | None) -> Address | None:
    if not text:
        return None
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    # An IPv4 client seen through an IPv6 socket is the IPv4 address.
    return getattr(address, "ipv4_mapped", None) or address


def _trusted(address: Address, networks: tuple[Network, ...]) -> bool:
    return any(address.version == net.version and address in net for net in networks)


def client_ip(request) -> str | None:
    """The client's address in canonical form (as PostgreSQL's ``inet`` returns it), or None.

    ``REMOTE_ADDR`` unless it is a trusted proxy; then the right-most ``X-Forwarded-For``
    address that is not a trusted proxy (a malformed entry stops the walk at the last
    good one).
    """
    if request is None:
        return None
    meta = getattr(request, "META", {})
    remote = _address(meta.get("REMOTE_ADDR"))
    if remote is None:
        return None
    networks = trusted_networks()
    if not networks or not _trusted(remote, networks):
        return remote.compressed
    client = remote
    for hop in reversed(meta.get("HTTP_X_FORWARDED_FOR", "").split(",")):
        address = _address(hop)
        if address is None:
            break
        client = address
        if not _trusted(address, networks):
            break
    return client.compressed

