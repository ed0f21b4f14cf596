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
    Index("turns_call", "call_id", "id"),
)

call_events = Table(
    "call_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("call_id", String(36), ForeignKey("calls.id", ondelete="CASCADE"), nullable=False),
    Column("at_s", Float, nullable=False),
    Column("kind", String(16), nullable=False),  # dtmf | transfer | interrupted
    Column("value", String(256), nullable=False, default=""),
    Index("call_events_call", "call_id", "id"),
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
