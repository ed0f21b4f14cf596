"""/campaigns: outbound campaigns, their leads (CSV upload), start/pause/resume/stop;
/dnc: the do-not-call list every outbound path honours."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import phonenumbers
from fastapi import APIRouter, Depends, File, HTTPException, Query, Response, UploadFile
from fastapi import Path as PathParam
from pydantic import BaseModel, Field

from mediaserver.agents import AgentBook
from mediaserver.api.auth import Auth
from mediaserver.api.json_body import TextJsonRoute
from mediaserver.campaigns import leads_csv
from mediaserver.campaigns.model import MOVES, STATES, CampaignSpec, e164
from mediaserver.dialer import Dialer, DialError
from mediaserver.store.campaigns import CampaignStore

CampaignId = Annotated[int, PathParam(ge=1, le=2**31 - 1)]
Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0, le=2**31 - 1)]
SAMPLE_NUMBER = "+15555550100"  # to check that a trunk can carry numbers


class CampaignOut(BaseModel):
    id: int
    name: str
    state: str
    spec: dict[str, Any]
    leads: dict[str, int]  # how many leads are in each state
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    kind: str = Field("campaign", description="call: a POST /calls job")


class CampaignPage(BaseModel):
    total: int
    items: list[CampaignOut]


class LeadOut(BaseModel):
    id: int
    line: int
    phone: str
    name: str
    timezone: str
    variables: dict[str, str]
    state: str
    attempts: int
    next_at: datetime | None
    outcome: str | None
    sip_code: int | None
    call_id: str | None
    updated_at: datetime


class AttemptOut(BaseModel):
    number: int
    started_at: datetime
    ended_at: datetime | None
    outcome: str | None
    sip_code: int | None
    call_id: str | None


class LeadDetail(LeadOut):
    attempt_log: list[AttemptOut]


class LeadPage(BaseModel):
    total: int
    items: list[LeadOut]


class RowError(BaseModel):
    line: int
    reason: str


class ImportOut(BaseModel):
    imported: int
    rejected: int
    errors: list[RowError] = Field(description=f"the first {leads_csv.MAX_ERRORS} bad rows")


class DncIn(BaseModel):
    phones: list[str] = Field(min_length=1, max_length=1000)
    note: str = Field("", max_length=256)
    country: str = Field("US", description="for national numbers")


class DncOut(BaseModel):
    phone: str
    note: str
    created_at: datetime


class DncPage(BaseModel):
    total: int
    items: list[DncOut]


def _upload(file: UploadFile) -> bytes:
    data = file.file.read(leads_csv.MAX_BYTES + 1)
    if len(data) > leads_csv.MAX_BYTES:
        raise HTTPException(413, f"the file is over {leads_csv.MAX_BYTES // 2**20} MiB")
    return data


def _parsed(data: bytes, country: str) -> leads_csv.Parsed:
    try:
        return leads_csv.parse(data, country)
    except leads_csv.CsvError as exc:
        raise HTTPException(exc.status, str(exc)) from None


def router(store: CampaignStore, auth: Auth, book: AgentBook, dialer: Dialer) -> APIRouter:
    api = APIRouter(tags=["campaigns"], route_class=TextJsonRoute)
    admin, viewer = [Depends(auth.admin)], [Depends(auth.viewer)]

    def campaign(campaign_id: int) -> dict[str, Any]:
        found = store.get(campaign_id)
        if found is None:
            raise HTTPException(404, f"no campaign {campaign_id}")
        return found

    @api.post("/campaigns", response_model=CampaignOut, status_code=201, dependencies=admin)
    def create(spec: CampaignSpec) -> dict[str, Any]:
        if book.get(spec.agent) is None:
            raise HTTPException(422, f"no agent {spec.agent!r}")
        try:
            dialer.target(SAMPLE_NUMBER, spec.trunk)
        except DialError as exc:
            raise HTTPException(422, str(exc)) from None
        return store.create(spec.name, spec.model_dump())

    @api.get("/campaigns", response_model=CampaignPage, dependencies=viewer)
    def list_campaigns(
        limit: Limit = 50, offset: Offset = 0, kind: Literal["campaign", "call"] = "campaign"
    ) -> dict[str, Any]:
        """Campaigns; kind=call: the one-lead campaigns POST /calls made instead."""
        total, items = store.page(limit, offset, kind)
        return {"total": total, "items": items}

    @api.get("/campaigns/{campaign_id}", response_model=CampaignOut, dependencies=viewer)
    def get_campaign(campaign_id: CampaignId) -> dict[str, Any]:
        return campaign(campaign_id)

    @api.post(
        "/campaigns/{campaign_id}/leads",
        response_model=ImportOut,
        dependencies=admin,
        max_body_size=leads_csv.MAX_BYTES + 64 * 1024,
    )
    def upload_leads(
        campaign_id: CampaignId, file: Annotated[UploadFile, File()]
    ) -> dict[str, Any]:
        """A CSV of leads: `phone` (E.164 or national), optional `name`, `timezone`;
        other columns are variables ({column} in the agent's greeting and prompt)."""
        found = campaign(campaign_id)
        if found["state"] in ("stopped", "finished"):
            raise HTTPException(409, f"campaign {campaign_id} is {found['state']}")
        if found["kind"] != "campaign":
            raise HTTPException(409, f"campaign {campaign_id} is a POST /calls job of one call")
        parsed = _parsed(_upload(file), found["spec"]["country"])
        imported, already = store.add_leads(campaign_id, parsed.leads)
        for line, phone in already:
            parsed.reject(line, f"{phone} is already in this campaign")
        parsed.errors.sort(key=lambda error: int(error["line"]))
        return {"imported": imported, "rejected": parsed.rejected, "errors": parsed.errors}

    @api.get("/campaigns/{campaign_id}/leads", response_model=LeadPage, dependencies=viewer)
    def list_leads(
        campaign_id: CampaignId,
        state: Annotated[str | None, Query(max_length=16)] = None,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> dict[str, Any]:
        if state is not None and state not in STATES:
            raise HTTPException(422, f"state: one of {', '.join(STATES)}")
        campaign(campaign_id)
        total, items = store.leads(campaign_id, state, limit, offset)
        return {"total": total, "items": items}

    @api.get("/campaigns/{campaign_id}/leads.csv", dependencies=viewer)
    def export_leads(campaign_id: CampaignId) -> Response:
        """Every lead as CSV; a cell a spreadsheet would run as a formula is quoted."""
        campaign(campaign_id)
        _, rows = store.leads(campaign_id, None, limit=10**9)
        return Response(leads_csv.export(rows), media_type="text/csv; charset=utf-8")

    @api.get(
        "/campaigns/{campaign_id}/leads/{lead_id}",
        response_model=LeadDetail,
        dependencies=viewer,
    )
    def get_lead(campaign_id: CampaignId, lead_id: CampaignId) -> dict[str, Any]:
        found = store.lead(campaign_id, lead_id)
        if found is None:
            raise HTTPException(404, f"no lead {lead_id} in campaign {campaign_id}")
        return found

    @api.post("/campaigns/{campaign_id}/{action}", response_model=CampaignOut, dependencies=admin)
    def move(
        campaign_id: CampaignId, action: Literal["start", "pause", "resume", "stop"]
    ) -> dict[str, Any]:
        allowed, to = MOVES[action]
        if not store.move(campaign_id, allowed, to):
            state = campaign(campaign_id)["state"]
            raise HTTPException(409, f"cannot {action} campaign {campaign_id}: it is {state}")
        return campaign(campaign_id)

    api.include_router(dnc_router(store, auth))
    return api


def dnc_router(store: CampaignStore, auth: Auth) -> APIRouter:
    api = APIRouter(tags=["do-not-call"], route_class=TextJsonRoute)
    admin, viewer = [Depends(auth.admin)], [Depends(auth.viewer)]

    @api.get("/dnc", response_model=DncPage, dependencies=viewer)
    def list_dnc(limit: Limit = 100, offset: Offset = 0) -> dict[str, Any]:
        total, items = store.dnc_list(limit, offset)
        return {"total": total, "items": items}

    @api.post("/dnc", dependencies=admin)
    def add_dnc(body: DncIn) -> dict[str, int]:
        phones = []
        for index, phone in enumerate(body.phones):
            try:
                phones.append(e164(phone, body.country.upper()))
            except ValueError as exc:
                raise HTTPException(422, f"phones[{index}]: {exc}") from None
        return {"added": store.dnc_add(phones, body.note)}

    @api.post(
        "/dnc/csv",
        response_model=ImportOut,
        dependencies=admin,
        max_body_size=leads_csv.MAX_BYTES + 64 * 1024,
    )
    def upload_dnc(
        file: Annotated[UploadFile, File()], country: Annotated[str, Query(max_length=2)] = "US"
    ) -> dict[str, Any]:
        """A CSV with a `phone` column; bad rows are reported, good ones added."""
        if country.upper() not in phonenumbers.SUPPORTED_REGIONS:
            raise HTTPException(422, f"unknown country {country!r}")
        parsed = _parsed(_upload(file), country.upper())
        added = store.dnc_add([lead.phone for lead in parsed.leads], "csv")
        return {"imported": added, "rejected": parsed.rejected, "errors": parsed.errors}

    @api.delete("/dnc/{phone}", status_code=204, dependencies=admin)
    def remove_dnc(phone: Annotated[str, PathParam(max_length=32)]) -> Response:
        if not store.dnc_remove(phone):
            raise HTTPException(404, f"{phone} is not on the do-not-call list")
        return Response(status_code=204)

    return api
