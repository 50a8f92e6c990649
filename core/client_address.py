"""The address of the client behind a request: one answer for every reader (leak detection, the audit
trail, allauth's rate limits, sessions and new-network emails, token last use, API throttles).

The forwarded header (``BACKLOT_CLIENT_IP_HEADER``, X-Forwarded-For by default) is believed only when the
direct peer is one of ``BACKLOT_TRUSTED_PROXIES``; from anyone else it is ignored, so a client reaching the
app directly cannot choose its own address. Behind several proxies (CDN -> load balancer -> nginx) the header
is read from the right, each proxy having appended the address it saw: every trusted hop is skipped and the
first untrusted one is the client. Anything left of that was written by the client and is never read.

python-ipware parses the header's entries (ports, brackets, IPv4-mapped IPv6, RFC 7239 ``for=``); its own
selection is positional (a proxy count, or trusted proxies matched by place) and never looks at the peer,
so the walk that decides what to trust is here.
"""

from __future__ import annotations

import ipaddress
import logging
from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from python_ipware.modern.parsers import forwarded_for, parse_ip, split_unquoted, unwrap_ipv4_network

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

log = logging.getLogger(__name__)
_warned_untrusted_proxy = False

# A peer with no IP address at all: gunicorn bound to a Unix socket that nginx proxies to.
UNIX_SOCKET = "unix"


def trusted_proxies_parse(entries: list[str]) -> tuple[tuple[Network, ...], bool]:
    """Networks from ``BACKLOT_TRUSTED_PROXIES`` entries (addresses or CIDR networks, or ``unix``), and
    whether a Unix-socket peer is trusted. Raises ImproperlyConfigured naming the first bad entry."""
    networks: list[Network] = []
    unix = False
    for entry in entries:
        if entry.lower() == UNIX_SOCKET:
            unix = True
            continue
        try:
            networks.append(unwrap_ipv4_network(ipaddress.ip_network(entry, strict=False)))
        except ValueError:
            raise ImproperlyConfigured(
                f"BACKLOT_TRUSTED_PROXIES: {entry!r} is not an address or a network (e.g. 127.0.0.1, "
                "10.0.0.0/8, 2001:db8::/32, or unix); list only the proxies in front of this app."
            ) from None
    return tuple(networks), unix


@lru_cache(maxsize=8)
def _trusted(entries: tuple[str, ...]) -> tuple[tuple[Network, ...], bool]:
    return trusted_proxies_parse(list(entries))


def _address(text: str) -> Address | None:
    """One hop of a forwarded header, or the peer: an address without port or zone, or None if garbage."""
    text = text.strip()
    ip = parse_ip(forwarded_for(text) if "=" in text else text)
    if ip is None or ip.is_unspecified:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.scope_id:
        ip = ipaddress.IPv6Address(ip.compressed.split("%", 1)[0])  # a zone means nothing off its host
    return ip


def _is_trusted(ip: Address, networks: tuple[Network, ...]) -> bool:
    return any(ip.version == network.version and ip in network for network in networks)


def _peer(request) -> tuple[Address | None, bool]:
    """The direct peer's address, and whether it is a proxy we trust."""
    networks, unix = _trusted(tuple(settings.BACKLOT_TRUSTED_PROXIES))
    remote = request.META.get("REMOTE_ADDR") or ""
    peer = _address(remote) if isinstance(remote, str) else None
    return peer, (_is_trusted(peer, networks) if peer is not None else unix and not remote)


def client_ip(request) -> str | None:
    """The client's address as text (IPv4 or compressed IPv6), or None when there is none to be had."""
    if request is None:
        return None
    networks, _ = _trusted(tuple(settings.BACKLOT_TRUSTED_PROXIES))
    peer, peer_trusted = _peer(request)
    header = request.META.get(_meta_key(settings.BACKLOT_CLIENT_IP_HEADER), "")
    if not peer_trusted:
        if header and not networks and peer is not None and peer.is_loopback:
            _warn_untrusted_proxy(peer)
        return str(peer) if peer is not None else None
    client = peer
    for hop in reversed(split_unquoted(header, ",") if header.strip() else []):
        ip = _address(hop)
        if ip is None:
            break  # a trusted proxy passed on garbage: believe nothing to its left
        client = ip
        if not _is_trusted(ip, networks):
            break
    return str(client) if client is not None else None


def _warn_untrusted_proxy(peer: Address) -> None:
    # The handbook's nginx with an empty list: every person would share the proxy's address. Said once.
    global _warned_untrusted_proxy
    if not _warned_untrusted_proxy:
        _warned_untrusted_proxy = True
        log.warning(
            "core.client_address.untrusted_proxy peer=%s: a forwarded address came from a local proxy that "
            "BACKLOT_TRUSTED_PROXIES does not list, so every client looks like %s; set it (127.0.0.1,::1 for "
            "nginx on this host).",
            peer,
            peer,
        )


def _meta_key(header: str) -> str:
    return "HTTP_" + header.strip().upper().replace("-", "_")


class ForwardedProtoMiddleware:
    """Django's SECURE_PROXY_SSL_HEADER believes X-Forwarded-Proto from anyone: a client straight at gunicorn
    could claim HTTPS. The header is dropped unless the peer is a trusted proxy (BACKLOT_TRUSTED_PROXIES, or this
    host when none is listed, as gunicorn's own default), before anything asks request.is_secure()."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if "HTTP_X_FORWARDED_PROTO" in request.META:
            peer, trusted = _peer(request)
            if not (trusted or (not settings.BACKLOT_TRUSTED_PROXIES and peer is not None and peer.is_loopback)):
                del request.META["HTTP_X_FORWARDED_PROTO"]
        return self.get_response(request)
