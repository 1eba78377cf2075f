"""A Host-header allow-list: a page on another site cannot reach a server on this machine.

DNS rebinding: a web page at ``evil.example`` makes its name resolve to 127.0.0.1 and then
sends requests, which a browser lets it read, to a server listening there; they arrive with
``Host: evil.example``. A server bound to a loopback address therefore answers only requests
whose Host header (any port) is ``localhost``, ``127.0.0.1`` or ``[::1]``, plus the names a
user adds (``--allowed-host``); others get a 400 JSON refusal. A server bound to another
address (``0.0.0.0``, a LAN address) answers any Host unless names are given. The check is
Starlette's ``TrustedHostMiddleware``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from starlette.middleware.trustedhost import TrustedHostMiddleware

from softmaxreg.serve.body_limit import send_json_error

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")
_ALLOWED = "softmaxreg.host_allowed"


def allowed_hosts_for(bind_host: str, extra: Iterable[str] = ()) -> list[str] | None:
    """The Host names a server bound to ``bind_host`` answers: the loopback names and
    ``extra`` for a loopback bind or when ``extra`` is given, else None (any).

    Raises ``ValueError`` for a name Starlette cannot match (a port, a misplaced ``*``).
    """
    names = [host_name(name) for name in extra]
    if "*" in names:
        return None
    if names or _is_loopback(bind_host):
        return list(dict.fromkeys([*LOOPBACK_NAMES, *names]))
    return None


def host_name(name: str) -> str:
    """``name`` as the Host header writes it: lower case, an IPv6 address in brackets."""
    text = name.strip().lower()
    try:
        return f"[{ipaddress.IPv6Address(text.strip('[]'))}]"
    except ValueError:
        pass
    wildcard_ok = text == "*" or (text.startswith("*.") and "*" not in text[1:])
    if not text or ":" in text or "/" in text or ("*" in text and not wildcard_ok):
        raise ValueError(
            f"allowed host {name!r} is not a host name: give a name or address without a "
            "scheme or port, or a pattern like '*.example.com'"
        )
    return text


def _is_loopback(bind_host: str) -> bool:
    if bind_host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(bind_host.strip("[]")).is_loopback
    except ValueError:
        return False


class HostAllowList:
    """Wrap an ASGI app: requests whose Host is not in ``allowed_hosts`` get a 400 JSON."""

    def __init__(self, app, allowed_hosts: list[str]) -> None:
        self.app = app
        self.allowed_hosts = allowed_hosts
        self.check = TrustedHostMiddleware(_mark_allowed, allowed_hosts, www_redirect=False)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":  # no websocket routes: Starlette refuses those itself
            await self.app(scope, receive, send)
            return
        await self.check(scope, receive, _discard)
        if scope.pop(_ALLOWED, False):
            await self.app(scope, receive, send)
            return
        host = dict(scope.get("headers", [])).get(b"host", b"").decode("latin-1")
        await send_json_error(
            send,
            400,
            f"this server answers only to the hosts {', '.join(self.allowed_hosts)}, not "
            f"to Host {host!r} (a page elsewhere may be trying to reach it: DNS rebinding); "
            "start it with --allowed-host NAME to add a name",
        )


async def _mark_allowed(scope, receive, send) -> None:
    scope[_ALLOWED] = True


async def _discard(message) -> None:
    return None
