"""Asking Kamailio, the SIP edge, over JSON-RPC on its unix datagram socket
(the jsonrpcs module, kamailio_cfg.py): one request per datagram, sent from
a socket bound in a fresh temporary directory, which is where Kamailio
answers. The socket work runs in a thread, off the event loop."""

from __future__ import annotations

import asyncio
import itertools
import json
import shutil
import socket
import tempfile
from pathlib import Path
from typing import Any

MAX_REPLY = 65535  # one datagram: jsonrpcs answers in one


class EdgeRpcError(RuntimeError):
    """Kamailio did not answer, or answered with an error (retrying may help:
    it may be starting or restarting)."""


_ids = itertools.count(1)


async def call(path: Path, method: str, *params: str, within: float = 2.0) -> Any:
    """The result of `method` at the Kamailio listening on `path`, answered
    `within` seconds."""
    return await asyncio.to_thread(_call, path, method, params, within)


def _call(path: Path, method: str, params: tuple[str, ...], timeout: float) -> Any:
    request_id = next(_ids)
    request = {"jsonrpc": "2.0", "method": method, "params": list(params), "id": request_id}
    here = tempfile.mkdtemp(prefix="ms-rpc-")
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
            s.bind(f"{here}/s")
            s.settimeout(timeout)
            try:
                s.sendto(json.dumps(request).encode(), str(path))
                data = s.recv(MAX_REPLY)
            except TimeoutError:
                raise EdgeRpcError(f"Kamailio did not answer {method} in {timeout:g} s") from None
            except OSError as exc:  # no socket there: Kamailio is not running
                raise EdgeRpcError(f"Kamailio's RPC socket {path}: {exc.strerror}") from None
    finally:
        shutil.rmtree(here, ignore_errors=True)
    try:
        reply = json.loads(data)
    except ValueError:
        raise EdgeRpcError(f"{method}: not a JSON-RPC reply: {data[:200]!r}") from None
    if not isinstance(reply, dict) or reply.get("id") != request_id:
        raise EdgeRpcError(f"{method}: a reply to another request: {data[:200]!r}")
    if "error" in reply:
        error = reply["error"]
        if isinstance(error, dict):
            error = f"{error.get('code')} {error.get('message')}"
        raise EdgeRpcError(f"{method}: {error}")
    return reply.get("result")
