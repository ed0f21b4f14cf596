"""Calling an agent's HTTP tools: signed requests, only to allowed hosts, no
redirects, a capped answer that must be JSON, within the tool's timeout.

Signature: X-Mediaserver-Signature = "sha256=" + hex HMAC-SHA256(secret,
timestamp + "." + body), X-Mediaserver-Timestamp = Unix seconds; the body is
the JSON body of a POST, the query string of a GET. `secret` is the agent's
(POST /agents/{name}/tool-secret)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import os
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx

from mediaserver.clock import now
from mediaserver.netguard import NetGuard, Network, Refused
from mediaserver.tools.spec import SECRET_REF, Tool, ToolResult

log = logging.getLogger(__name__)

MAX_RESPONSE_BYTES = 64 * 1024
USER_AGENT = "mediaserver-tools/1"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def resolve_secrets(value: str, secrets: Mapping[str, str]) -> str:
    """`value` with each ${NAME} replaced (the config's secrets, then the
    environment); KeyError names one that is set nowhere."""

    def lookup(match: Any) -> str:
        name = match.group(1)
        found = secrets.get(name, os.environ.get(name))
        if found is None:
            raise KeyError(name)
        return found

    return SECRET_REF.sub(lookup, value)


class HttpTools:
    """The ToolRunner of one call: its agent's signing secret, the server's
    allowed networks and secrets. One HTTP client, closed with the call."""

    def __init__(
        self,
        secret: str,
        allowed: tuple[Network, ...] = (),
        secrets: Mapping[str, str] | None = None,
        *,
        call_id: str = "",
        max_response_bytes: int = MAX_RESPONSE_BYTES,
    ) -> None:
        self.secret = secret
        self.guard = NetGuard(allowed, setting="[tools] allow")
        self.secrets = secrets or {}
        self.call_id = call_id
        self.max_response_bytes = max_response_bytes
        self._client = httpx.AsyncClient(
            follow_redirects=False, trust_env=False, transport=self.guard.transport()
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def run(self, tool: Tool, arguments: dict[str, Any]) -> ToolResult:
        started = now()
        try:
            async with asyncio.timeout(tool.timeout_seconds):
                status, content = await self._call(tool, arguments)
        except TimeoutError:
            status, content = "timeout", f"no answer within {tool.timeout_seconds:g} s"
        except Refused as exc:
            status, content = "refused", str(exc)
        except httpx.HTTPError as exc:
            status, content = "error", f"{type(exc).__name__}: {exc}"
        latency = round(1000 * (now() - started), 1)
        if status != "ok":
            log.warning("tool %s: %s (%s)", tool.name, status, content)
        return ToolResult(status, content, latency)

    async def _call(self, tool: Tool, arguments: dict[str, Any]) -> tuple[Any, str]:
        try:
            headers = {k: resolve_secrets(v, self.secrets) for k, v in tool.headers}
        except KeyError as exc:
            raise Refused(
                f"the secret {exc.args[0]} is set neither in [tools] secrets nor the environment"
            ) from None
        url = tool.url.split("#", 1)[0]
        parts = urlsplit(url)
        body = b""
        if tool.method == "GET":
            query = urlencode({k: _plain(v) for k, v in arguments.items()})
            url = f"{url}{'&' if parts.query else '?'}{query}" if query else url
            signed = query.encode()
        else:
            body = json.dumps(arguments, separators=(",", ":")).encode()
            signed = body
            headers["Content-Type"] = "application/json"
        timestamp = str(int(time.time()))
        headers.update(
            {
                "User-Agent": USER_AGENT,
                "Accept": "application/json",
                "X-Mediaserver-Tool": tool.name,
                "X-Mediaserver-Call": self.call_id,
                "X-Mediaserver-Timestamp": timestamp,
                "X-Mediaserver-Signature": sign(self.secret, timestamp, signed),
            }
        )
        request = self._client.build_request(
            tool.method,
            url,
            content=body or None,
            headers=headers,
        )
        response = await self._client.send(request, stream=True)
        try:
            if response.is_redirect:
                raise Refused(f"answered a redirect ({response.status_code}): not followed")
            data = bytearray()
            async for chunk in response.aiter_bytes():
                data += chunk
                if len(data) > self.max_response_bytes:
                    return "error", f"answer larger than {self.max_response_bytes} bytes"
        finally:
            await response.aclose()
        if response.status_code >= 400:
            return (
                "error",
                f"HTTP {response.status_code}: {bytes(data[:200]).decode(errors='replace')}",
            )
        try:
            answer = json.loads(data)
        except ValueError:
            return "error", "the answer is not JSON"
        return "ok", json.dumps(answer, separators=(",", ":"))


def _plain(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))
