"""POST /calls as a campaign of one lead: the spec its request makes (the
retry rules of the in-memory queue it replaces: busy or no answer called again
`retries` times, `retry_seconds` apart, any hour of any day; and, new with the
store, an attempt cut short by a stop or a crash, or still waiting for a
worker then, is called again like them), and the job as the API shows it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mediaserver.amd.policy import AmdPolicy
from mediaserver.campaigns.model import CampaignSpec, RetrySeconds, Schedule

ANY_TIME = Schedule(
    days=["mon", "tue", "wed", "thu", "fri", "sat", "sun"], start="00:00", end="24:00"
)
# A lead's last outcome as a job has always named it: a mailbox answered the
# call (`amd` says so), an attempt cut short by a stop or a crash failed.
JOB_OUTCOME = {"no_answer": "no answer", "voicemail": "answered", "unclean": "failed"}


@dataclass(frozen=True, slots=True)
class CallRules:
    """[sip] outbound_*: what every POST /calls job gets."""

    retries: int = 2  # busy or no answer: called again this many times
    retry_seconds: int = 60
    ring_seconds: float = 30.0
    queue_limit: int = 1000  # jobs waiting to be dialled, at most


def call_spec(
    agent: str, trunk: str, amd: AmdPolicy | None, rules: CallRules, caller_id: str = ""
) -> CampaignSpec:
    delay = rules.retry_seconds
    return CampaignSpec(
        name="call",
        agent=agent,
        trunk=trunk,
        caller_id=caller_id,
        schedule=ANY_TIME,
        max_concurrent=1,
        max_attempts=rules.retries + 1,
        retry_seconds=RetrySeconds(
            busy=delay, no_answer=delay, voicemail=None, failed=None, unclean=delay
        ),
        ring_seconds=rules.ring_seconds,
        amd=amd is not None,
        voicemail="leave_message" if amd is not None and amd.on_machine == "message" else "hang_up",
        voicemail_message=amd.voicemail_message if amd is not None else "",
    )


def job_state(lead_state: str, attempts: int) -> str:
    """queued (never dialled) | calling | waiting (for a retry) | done."""
    if lead_state == "queued":
        return "waiting" if attempts else "queued"
    return "calling" if lead_state == "calling" else "done"


def job_view(row: dict[str, Any]) -> dict[str, Any]:
    """A stored job (CallJobs) as GET /outbound/{id} shows it."""
    spec = CampaignSpec.model_validate(row["spec"])
    outcome: str | None = row["outcome"] or ("stopped" if row["state"] == "stopped" else None)
    decided = [a["amd"] for a in row["attempt_log"] if a["amd"]]
    policy = None
    if spec.amd:
        on_machine = "message" if spec.voicemail == "leave_message" else "hangup"
        policy = {
            "on_machine": on_machine,
            "voicemail_message": spec.voicemail_message,
            "variables": row["variables"],
        }
    return {
        "id": row["id"],
        "to": row["phone"],
        "agent": spec.agent,
        "trunk": spec.trunk,
        "state": job_state(row["state"], row["attempts"]),
        "outcome": None if outcome is None else JOB_OUTCOME.get(outcome, outcome),
        "sip_code": row["sip_code"],
        "attempts": row["attempts"],
        "call_ids": [a["call_id"] for a in row["attempt_log"] if a["call_id"]],
        "created_at": row["created_at"],
        "caller_id": spec.caller_id,
        "amd_policy": policy,
        "amd": decided[-1] if decided else None,
    }
