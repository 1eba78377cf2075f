"""uvicorn's HTTP/1.1 protocol, answering requests it cannot parse with this API's 400 JSON.

A malformed request line, header or ``Content-Length`` (``abc``, ``-1``, two different
values) is refused by uvicorn's parser before the app sees it, with a plain-text 400. This
subclass of uvicorn's own protocol (httptools, or h11 without it) sends the same 400 as
``{"error": ..., "status": 400}`` instead, so every client error has one shape.
"""

from __future__ import annotations

import json

from uvicorn.protocols.http.auto import AutoHTTPProtocol

BAD_REQUEST = (
    "the request is not valid HTTP/1.1: check the request line and the headers (a "
    "Content-Length must be one whole number of bytes)"
)


class JsonBadRequestProtocol(AutoHTTPProtocol):  # type: ignore[misc, valid-type]
    """``AutoHTTPProtocol`` whose parse-error answer is JSON; everything else is uvicorn's."""

    def send_400_response(self, msg: str) -> None:
        body = json.dumps({"error": BAD_REQUEST, "status": 400}).encode()
        self.transport.write(
            b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\n"
            b"content-length: %d\r\nconnection: close\r\n\r\n" % len(body) + body
        )
        self.transport.close()
