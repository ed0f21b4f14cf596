"""A worker's loopback HTTP, for the control process only (a shared secret
in X-Worker-Secret): its status, a browser offer to answer, an outbound call
to place, its metrics."""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, FastAPI, Header, HTTPException, Response
from fastapi.concurrency import run_in_threadpool
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field, field_validator

from mediaserver.amd.detector import AmdDecision
from mediaserver.amd.policy import AmdPolicy, AmdPolicyError
from mediaserver.caller_id import MAX_LENGTH, checked
from mediaserver.dialer import DialOptions
from mediaserver.metrics import Metrics
from mediaserver.transports.webrtc import Busy, OfferError

if TYPE_CHECKING:
    from mediaserver.cluster.worker import MediaWorker

SECRET_HEADER = "X-Worker-Secret"  # noqa: S105 (a header's name)


class OfferIn(BaseModel):
    sdp: str = Field(max_length=100_000)
    type: str
    agent: str = "default"


class DialIn(BaseModel):
    uri: str = Field(max_length=256)
    agent: str = "default"
    ring_seconds: float = Field(30.0, gt=0, le=600)
    trunk: str | None = None
    amd: dict[str, Any] | None = None  # AmdPolicy.as_dict()
    variables: dict[str, str] = Field(default_factory=dict)  # a campaign lead's columns
    caller_id: str = Field("", max_length=MAX_LENGTH)  # the INVITE's From

    @field_validator("caller_id")
    @classmethod
    def _caller_id(cls, value: str) -> str:
        return checked(value)


def worker_app(worker: MediaWorker, metrics: Metrics) -> FastAPI:
    def secret(x_worker_secret: Annotated[str, Header()] = "") -> None:
        if not hmac.compare_digest(x_worker_secret.encode(), worker.secret.encode()):
            raise HTTPException(403, "not the control process")

    app = FastAPI(title=f"mediaserver worker {worker.me.worker}", dependencies=[Depends(secret)])

    @app.get("/worker/status")
    async def status() -> dict[str, Any]:
        return {
            "worker": worker.me.worker,
            "draining": worker.draining,
            "sip_calls": worker.sip_calls(),
            "webrtc_calls": worker.webrtc_calls(),
            "sip_capacity": worker.config.cluster.calls_per_worker,
            "webrtc_capacity": worker.config.webrtc.max_calls,
        }

    @app.post("/worker/webrtc/offer")
    async def offer(body: OfferIn) -> dict[str, Any]:
        if worker.draining or worker.browser is None:
            raise HTTPException(503, f"worker {worker.me.worker} is draining")
        try:
            call, sdp = await worker.browser.answer(body.sdp, body.type, body.agent)
        except OfferError as exc:
            raise HTTPException(400, str(exc)) from None
        except Busy as exc:
            raise HTTPException(503, str(exc)) from None
        return {"sdp": sdp, "type": "answer", "call_id": call.call_id, "worker": worker.me.worker}

    @app.post("/worker/dial")
    async def dial(body: DialIn) -> dict[str, Any]:
        """Place the call and answer once it is over: (outcome, code, reason, record id)."""
        calls = worker.calls_
        if worker.draining or calls is None:
            raise HTTPException(503, f"worker {worker.me.worker} is draining")
        if worker.sip_calls() >= worker.config.cluster.calls_per_worker:
            raise HTTPException(503, f"worker {worker.me.worker} is full")
        found = await run_in_threadpool(calls.agents.get, body.agent)
        if found is None:
            raise HTTPException(404, f"no agent {body.agent!r}")
        try:
            amd = AmdPolicy.of(**body.amd) if body.amd is not None else None
        except (AmdPolicyError, TypeError) as exc:
            raise HTTPException(422, f"amd: {exc}") from None
        decided: list[AmdDecision] = []
        options = DialOptions(
            ring_seconds=body.ring_seconds,
            trunk=body.trunk,
            amd=amd,
            on_amd=decided.append,
            variables=body.variables,
            caller_id=body.caller_id,
        )
        outcome, code, reason, call_id = await calls.dial(body.uri, found[0], found[1], options)
        return {
            "outcome": outcome,
            "code": code,
            "reason": reason,
            "call_id": call_id,
            "amd": decided[0].as_dict() if decided else None,
        }

    @app.post("/worker/hangup/{call_id}", status_code=204)
    async def hangup(call_id: str) -> None:
        calls = worker.calls_
        if calls is None or not await calls.hang_up_now(call_id):
            raise HTTPException(404, f"no call {call_id!r} on worker {worker.me.worker}")

    @app.get("/worker/metrics")
    def scrape() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app
