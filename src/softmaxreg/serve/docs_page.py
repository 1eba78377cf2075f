"""``GET /docs``: the OpenAPI schema as one self-contained HTML page (no CDN, no script).

FastAPI's default /docs loads Swagger UI from a CDN, which an offline machine cannot reach
and which this server's pages never do; this page lists every operation with its summary,
parameters, request body and responses, with the JSON schemas written out.
"""

from __future__ import annotations

import html
import json
from typing import Any

STYLE = """
body{margin:0 auto;max-width:960px;padding:20px;font:15px/1.5 system-ui,sans-serif;color:#1d2433}
h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-top:1px solid #d9dde5;padding-top:14px}
code,pre{font:13px/1.4 ui-monospace,monospace}pre{background:#f3f5f8;padding:10px;overflow:auto}
.method{display:inline-block;min-width:4.5em;font-weight:700;color:#fff;background:#3b6fb6;
padding:1px 8px;border-radius:4px;margin-right:8px;text-align:center}.post{background:#2e8b57}
details{margin:6px 0}summary{cursor:pointer;color:#3b6fb6}
"""


def docs_html(schema: dict[str, Any]) -> str:
    """The page for ``schema`` (the app's OpenAPI dict)."""
    info = schema.get("info", {})
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{_e(info.get('title', 'API'))} API</title><style>{STYLE}</style></head><body>",
        f"<h1>{_e(info.get('title', 'API'))} {_e(info.get('version', ''))} &mdash; HTTP API</h1>",
        f"<p>{_e(info.get('description', ''))}</p>",
        "<p>Machine-readable schema: <a href='/openapi.json'>/openapi.json</a></p>",
    ]
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            parts.append(_operation(path, method, operation))
    components = schema.get("components", {}).get("schemas", {})
    if components:
        parts.append("<h2>Schemas</h2>")
        for name, body in components.items():
            parts.append(f"<details><summary>{_e(name)}</summary>{_pre(body)}</details>")
    parts.append("</body></html>")
    return "".join(parts)


def _operation(path: str, method: str, operation: dict[str, Any]) -> str:
    parts = [
        f"<h2 id='{_e(method)}-{_e(path)}'><span class='method {_e(method)}'>"
        f"{_e(method.upper())}</span><code>{_e(path)}</code></h2>",
        f"<p><b>{_e(operation.get('summary', ''))}</b></p>",
        f"<p>{_e(operation.get('description', ''))}</p>",
    ]
    for parameter in operation.get("parameters", []):
        parts.append(
            f"<p>Parameter <code>{_e(parameter.get('name'))}</code> in "
            f"{_e(parameter.get('in'))}: {_e(json.dumps(parameter.get('schema', {})))}</p>"
        )
    body = operation.get("requestBody")
    if body:
        for media, content in body.get("content", {}).items():
            parts.append(f"<p>Request body ({_e(media)}):</p>{_pre(content.get('schema', {}))}")
    for status, response in operation.get("responses", {}).items():
        content = response.get("content", {})
        schemas = "".join(
            f"<div>{_e(media)}</div>{_pre(item.get('schema', {}))}"
            for media, item in content.items()
            if item.get("schema")
        )
        parts.append(
            f"<details><summary>{_e(status)} {_e(response.get('description', ''))}</summary>"
            f"{schemas}</details>"
        )
    return "".join(parts)


def _pre(value: Any) -> str:
    return f"<pre>{_e(json.dumps(value, indent=2))}</pre>"


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)
