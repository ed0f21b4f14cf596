"""The call store's tables (SQLAlchemy Core). Changes go through a migration
in migrations/versions/, never through create_all."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

settings = Table(
    "settings",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

agents = Table(
    "agents",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("spec", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# Every version an agent ever had: a call names the version it ran with.
agent_versions = Table(
    "agent_versions",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("spec", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

calls = Table(
    "calls",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("transport", String(16), nullable=False),  # sip | webrtc | twilio | websocket
    Column("direction", String(8), nullable=False),  # inbound | outbound
    Column("from_uri", String(256), nullable=False, default=""),
    Column("to_uri", String(256), nullable=False, default=""),
    Column("trunk", String(64), nullable=False, default=""),
    Column("agent", String(64), nullable=False),
    Column("agent_version", Integer, nullable=False, default=0),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("answered_at", DateTime(timezone=True)),
    Column("ended_at", DateTime(timezone=True)),
    # while the call runs: its last turn, event or heartbeat (an unclean end is dated by it)
    Column("last_seen_at", DateTime(timezone=True)),
    Column("end_reason", String(32)),  # hangup, agent, max_duration, silence, ... unclean
    Column("sip_code", Integer),
    Column("transfer_target", String(256)),
    Column("transfer_outcome", String(16)),  # done | failed
    Column("recording_path", String(512)),
    Column("external_id", String(64), nullable=False, default=""),  # e.g. Twilio's CallSid
    Column("worker", String(32), nullable=False, default=""),  # cluster media worker ("": none)
    # outbound answering-machine detection: human | machine | unknown, when, beep heard
    Column("amd", String(16)),
    Column("amd_decision_s", Float),
    Column("amd_beep", Boolean),
    # post-call analysis: {"status": pending | done | failed, ...} (mediaserver/analysis)
    Column("analysis", JSON),
    Index("calls_created_at", "created_at"),
    Index("calls_agent", "agent"),
    Index("calls_worker_open", "worker", "ended_at"),
)

turns = Table(
    "turns",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("call_id", String(36), ForeignKey("calls.id", ondelete="CASCADE"), nullable=False),
    Column("speaker", String(8), nullable=False),  # caller | agent
    Column("text", Text, nullable=False),
    Column("start_s", Float),  # seconds into the call
    Column("end_s", Float),
    Column("interrupted", Boolean, nullable=False, default=False),
    Column("timings_ms", JSON),  # the agent's per-stage latency after the caller stopped
    Column("chunks", JSON),  # the knowledge-base chunk ids the agent's answer was given
    Index("turns_call", "call_id", "id"),
)

call_events = Table(
    "call_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("call_id", String(36), ForeignKey("calls.id", ondelete="CASCADE"), nullable=False),
    Column("at_s", Float, nullable=False),
    Column("kind", String(16), nullable=False),  # dtmf | transfer | interrupted | amd | ...
    Column("value", String(256), nullable=False, default=""),
    Index("call_events_call", "call_id", "id"),
)

# Every tool an agent called: what with, how it went, how long it took.
tool_calls = Table(
    "tool_calls",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("call_id", String(36), ForeignKey("calls.id", ondelete="CASCADE"), nullable=False),
    Column("at_s", Float, nullable=False),  # seconds into the call, when it was answered
    Column("name", String(64), nullable=False),
    Column("arguments", Text, nullable=False),  # JSON, as the model gave them
    Column("status", String(16), nullable=False),  # ok | error | timeout | refused | bad_arguments
    Column("latency_ms", Float, nullable=False),
    Column("detail", String(256), nullable=False, default=""),  # why it failed
    Index("tool_calls_call", "call_id", "id"),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(16), primary_key=True),  # the key's public prefix
    Column("name", String(64), nullable=False, default=""),
    Column("role", String(8), nullable=False),  # admin | viewer
    Column("secret_sha256", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True)),
)

# An agent's knowledge base: uploaded documents and their chunks (store/documents.py).
documents = Table(
    "documents",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("agent", String(64), nullable=False),
    Column("name", String(256), nullable=False),  # the uploaded file's name
    Column("content_type", String(16), nullable=False),  # pdf | docx | txt | md | html
    Column("size", Integer, nullable=False),  # bytes uploaded
    Column("status", String(16), nullable=False),  # processing | ready | failed
    Column("reason", Text, nullable=False, default=""),  # why it failed
    Column("chunk_count", Integer, nullable=False, default=0),
    Column("embedder", String(64), nullable=False, default=""),  # the model of its vectors
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("documents_agent", "agent", "name"),
)

chunks = Table(
    "chunks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "document_id", String(32), ForeignKey("documents.id", ondelete="CASCADE"), nullable=False
    ),
    Column("agent", String(64), nullable=False),
    Column("ordinal", Integer, nullable=False),  # its place in the document
    Column("text", Text, nullable=False),
    Column("vector", LargeBinary, nullable=False),  # float32, L2-normalized
    Index("chunks_agent", "agent", "id"),
    Index("chunks_document", "document_id"),
)

# Outbound campaigns (mediaserver/campaigns/): the spec as the API took it, and its state.
campaigns = Table(
    "campaigns",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(128), nullable=False),
    Column("spec", JSON, nullable=False),
    Column("state", String(16), nullable=False),  # draft | running | paused | stopped | finished
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    # "call": a POST /calls job (one lead), hidden from GET /campaigns unless asked
    Column("kind", String(16), nullable=False, server_default="campaign"),
)

# One number to call: queued -> calling (claimed under a lease) -> queued again
# (a retry at next_at) or a final state named after its last outcome.
campaign_leads = Table(
    "campaign_leads",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("campaign_id", Integer, ForeignKey("campaigns.id", ondelete="CASCADE"), nullable=False),
    Column("line", Integer, nullable=False),  # in the uploaded CSV
    Column("phone", String(320), nullable=False),  # E.164 (a POST /calls job: its SIP URI)
    Column("name", String(128), nullable=False, default=""),
    Column("timezone", String(64), nullable=False, default=""),  # "": the campaign's
    Column("variables", JSON, nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_at", DateTime(timezone=True)),  # not dialled before (None: at once)
    Column("lease_owner", String(32)),
    Column("lease_until", DateTime(timezone=True)),
    Column("outcome", String(16)),  # of the last attempt
    Column("sip_code", Integer),
    Column("call_id", String(36)),  # of the last attempt
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("campaign_leads_phone", "campaign_id", "phone", unique=True),
    Index("campaign_leads_due", "campaign_id", "state", "next_at"),
    Index("campaign_leads_lease", "state", "lease_until"),
)

campaign_attempts = Table(
    "campaign_attempts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("lead_id", Integer, ForeignKey("campaign_leads.id", ondelete="CASCADE"), nullable=False),
    Column("number", Integer, nullable=False),  # 1, 2, ... for its lead
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("ended_at", DateTime(timezone=True)),
    Column("outcome", String(16)),  # answered | busy | no_answer | voicemail | ... | unclean
    Column("sip_code", Integer),
    Column("call_id", String(36)),
    Column("amd", JSON),  # answering-machine detection's decision (AmdDecision.as_dict)
    Index("campaign_attempts_lead", "lead_id", "number"),
)

# Numbers no outbound call may reach (campaigns and POST /calls), E.164.
do_not_call = Table(
    "do_not_call",
    metadata,
    Column("phone", String(32), primary_key=True),
    Column("note", String(256), nullable=False, default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

webhooks = Table(
    "webhooks",
    metadata,
    Column("id", String(16), primary_key=True),
    Column("url", String(2048), nullable=False),
    Column("events", JSON, nullable=False),  # the event types it receives
    Column("agent", String(64)),  # only this agent's events (None: every agent's)
    Column("campaign", String(64)),  # only this campaign's events
    Column("secret", String(64), nullable=False),  # signs its deliveries (HMAC-SHA256)
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# The outbox: one row per event and webhook, written when the event happens;
# the delivery worker sends it until it is delivered or out of attempts.
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("webhook_id", String(16), ForeignKey("webhooks.id", ondelete="CASCADE"), nullable=False),
    Column("event_id", String(36), nullable=False),  # the receiver de-duplicates by it
    Column("event_type", String(32), nullable=False),
    Column("body", Text, nullable=False),  # the JSON sent, exactly as signed
    Column("state", String(12), nullable=False),  # pending | delivered | failed
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("last_status", Integer),  # the receiver's last HTTP status
    Column("last_error", String(256)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("delivered_at", DateTime(timezone=True)),
    UniqueConstraint("webhook_id", "event_id", name="webhook_deliveries_once"),
    Index("webhook_deliveries_due", "state", "next_attempt_at"),
    Index("webhook_deliveries_webhook", "webhook_id", "id"),
)
