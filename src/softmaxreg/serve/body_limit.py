"""An ASGI middleware that refuses request bodies larger than a limit, before reading them.

A declared ``Content-Length`` above the limit is answered with 413 at once, without reading
a byte of the body. Bodies without one (``Transfer-Encoding: chunked``) or that lie about it
are counted as they arrive; the request fails with 413 as soon as the count passes the limit,
so at most the limit plus one network chunk is ever held in memory.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from starlette.exceptions import HTTPException

Scope = dict
Message = dict


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` when the body grows past the limit (handled as a 413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, body_too_large_message(limit))


def body_too_large_message(limit: int) -> str:
    """The 413 message: the limit and what to do instead."""
    return (
        f"request body too large: the limit is {limit} bytes; send fewer rows per request "
        "(or a smaller image)"
    )


class BodySizeLimit:
    """Wrap an ASGI app; ``limit_for(path)`` gives the byte limit of a request path."""

    def __init__(self, app, limit_for: Callable[[str], int]) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope.get("path", ""))
        declared = _content_length(scope)
        if declared == "invalid":
            await send_json_error(
                send, 400, "the Content-Length header is not one whole number of bytes"
            )
            return
        if declared is not None and declared > limit:
            await send_json_error(send, 413, body_too_large_message(limit))
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge as error:
            if started:
                raise
            await send_json_error(send, 413, error.detail)


def _content_length(scope: Scope) -> int | str | None:
    """The declared length; "invalid" unless every Content-Length header is the same string
    of ASCII digits (no sign, space, underscore or other digits Python's ``int`` accepts)."""
    values = {value for name, value in scope.get("headers", []) if name == b"content-length"}
    if not values:
        return None
    value = values.pop()
    if values or not value.isdigit():
        return "invalid"
    return int(value) if len(value) <= 18 else 10**18  # more than any limit


async def send_json_error(send, status: int, message: str) -> None:
    """Answer ``{"error": message, "status": status}`` and close the connection."""
    body = json.dumps({"error": message, "status": status}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
