"""Is a browser's `Origin` this very server, reached by its address rather than PUBLIC_URL?

A shop run on a laptop or a LAN answers at http://localhost:8000 (PUBLIC_URL), but also at
http://127.0.0.1:8000, http://[::1]:8000 or http://192.168.1.20:8000 from a phone on the same
network. A page loaded from one of those addresses sends that address as its `Origin`, and the
`Host` of its requests is the same address: the page is ours, so its websocket and its forms
must work. Only an IP address or `localhost` is taken this way, never a domain name: a name
can be pointed at this server by someone else's DNS (DNS rebinding), an address cannot.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlparse

from starlette.datastructures import Headers
from starlette.types import Scope

# The scheme a browser page had when it opened this request (websockets have their own).
_PAGE_SCHEME = {"ws": "http", "wss": "https"}


def _is_address(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def same_address_origin(origin: str, scope: Scope) -> bool:
    """True when `origin` is exactly the scheme, address and port this request was sent to."""
    parsed = urlparse(origin.strip().lower())
    if parsed.scheme not in ("http", "https") or not parsed.hostname or parsed.path:
        return False
    scheme = str(scope.get("scheme", "http"))
    if parsed.scheme != _PAGE_SCHEME.get(scheme, scheme):
        return False
    host = Headers(scope=scope).get("host", "").lower()
    return parsed.netloc == host and _is_address(parsed.hostname)
