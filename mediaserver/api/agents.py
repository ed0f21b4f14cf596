"""/agents: create, read, update, delete, with every version kept."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mediaserver.agents import DEFAULT_AGENT
from mediaserver.analysis.analyzer import SchemaError, check_schema
from mediaserver.api.auth import Auth
from mediaserver.api.guard import LARGE_BODY
from mediaserver.api.json_body import TextJsonRoute
from mediaserver.netguard import url_problem
from mediaserver.store import Store
from mediaserver.store.documents import delete_agent_with_documents
from mediaserver.tools.secret import tool_secret
from mediaserver.tools.spec import BUILTINS, NAME, SECRET_REF, schema_problem

# a header whose name says it carries a credential: its value must be a ${SECRET} reference
SECRET_HEADER = ("auth", "key", "token", "secret", "cookie", "password", "signature")

AgentName = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
Version = Annotated[int, Path(ge=1, le=2**31 - 1)]


class MenuOption(BaseModel):
    model_config = ConfigDict(extra="forbid")
    digit: str = Field(pattern=r"^[0-9*#]$")
    language: str = Field(pattern=r"^[a-z]{2,3}(-[A-Za-z]{2,4})?$")
    greeting: str = Field(min_length=1, max_length=1000)


class ToolSpec(BaseModel):
    """An HTTP tool of the agent (or a built-in by name: transfer_call, end_call, send_dtmf)."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=NAME.pattern)
    description: str = Field("", max_length=2000)
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})
    url: str = Field("", max_length=2000)
    method: Literal["GET", "POST"] = "POST"
    # values that are secrets name them: "Bearer ${CRM_TOKEN}" (from [tools] secrets or the env)
    headers: dict[str, Annotated[str, Field(max_length=2000)]] = Field(
        default_factory=dict, max_length=20
    )
    timeout_seconds: float = Field(5.0, gt=0, le=30)

    @model_validator(mode="after")
    def _check(self) -> ToolSpec:
        if not self.url:
            if self.name not in BUILTINS:
                raise ValueError(
                    f"tool {self.name!r}: a url is required (built-ins: {', '.join(BUILTINS)})"
                )
            return self
        if self.name in BUILTINS:
            raise ValueError(f"tool {self.name!r}: the name of a built-in; choose another")
        if (problem := url_problem(self.url)) is not None:
            raise ValueError(f"tool {self.name!r}: url: {problem}")
        if (problem := schema_problem(self.parameters)) is not None:
            raise ValueError(f"tool {self.name!r}: {problem}")
        if self.parameters.get("type", "object") != "object":
            raise ValueError(f"tool {self.name!r}: parameters must be an object schema")
        for header, value in self.headers.items():
            if not header.isascii() or not header.replace("-", "").isalnum():
                raise ValueError(f"tool {self.name!r}: {header!r} is not a header name")
            looks_secret = any(word in header.lower() for word in SECRET_HEADER)
            if looks_secret and not SECRET_REF.search(value):
                raise ValueError(
                    f"tool {self.name!r}: header {header}: a credential is never stored in the "
                    'agent: write "${SECRET_NAME}" and set it in [tools] secrets or the environment'
                )
        return self


class AnalysisSettings(BaseModel):
    """The post-call analysis (mediaserver/analysis): a summary, one of the
    dispositions, the caller's sentiment, and fields matching `schema`."""

    model_config = ConfigDict(extra="forbid", serialize_by_alias=True, validate_by_name=True)
    enabled: bool = True
    dispositions: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=list, max_length=50
    )
    fields_schema: dict[str, Any] = Field(
        default_factory=dict, alias="schema", description="JSON Schema of the fields to extract"
    )

    @field_validator("fields_schema")
    @classmethod
    def _valid_schema(cls, value: dict[str, Any]) -> dict[str, Any]:
        try:
            check_schema(value)
        except SchemaError as exc:
            raise ValueError(f"not a valid JSON Schema: {exc}") from None
        return value


class AgentSpec(BaseModel):
    """What an agent is. Model names come from the registry (models/registry.py) or are paths."""

    model_config = ConfigDict(extra="forbid")
    system_prompt: str = Field(DEFAULT_AGENT.system_prompt, min_length=1, max_length=20_000)
    greeting: str = Field(DEFAULT_AGENT.greeting, min_length=1, max_length=1000)
    # names and words callers will say, for the speech recogniser; "": none;
    # None: the built-in agent's, if system_prompt is the built-in one
    stt_prompt: str | None = Field(None, max_length=1000)
    languages: list[Annotated[str, Field(pattern=r"^[a-z]{2,3}(-[A-Za-z]{2,4})?$")]] = Field(
        default_factory=lambda: [DEFAULT_AGENT.language], min_length=1, max_length=10
    )
    # a registry name (models/registry.py) or a path; None: the server's [models]
    stt_model: str | None = Field(None, min_length=1, max_length=512)
    llm_model: str | None = Field(None, min_length=1, max_length=512)
    tts_voice: str | None = Field(None, min_length=1, max_length=512)
    ivr_menu: list[MenuOption] = Field(default_factory=list, max_length=12)
    transfer_target: str = Field("", max_length=256)
    max_call_seconds: int = Field(DEFAULT_AGENT.max_call_seconds, ge=10, le=86400)
    silence_seconds: int = Field(DEFAULT_AGENT.silence_seconds, ge=3, le=3600)
    max_turns: int = Field(DEFAULT_AGENT.max_turns, ge=1, le=1000)
    record: bool = DEFAULT_AGENT.record
    # "transfer"/"hangup": the fixed phrases' hand-over and goodbye; objects: what the LLM may call
    tools: list[Literal["transfer", "hangup"] | ToolSpec] = Field(
        default_factory=lambda: ["transfer", "hangup"],  # type: ignore[arg-type]
        max_length=32,
    )

    @field_validator("tools")
    @classmethod
    def _distinct_tools(
        cls, value: list[Literal["transfer", "hangup"] | ToolSpec]
    ) -> list[Literal["transfer", "hangup"] | ToolSpec]:
        names = [tool.name for tool in value if isinstance(tool, ToolSpec)]
        if len(set(names)) != len(names):
            raise ValueError("each tool name may appear once")
        return value

    analysis: AnalysisSettings | None = None  # post-call analysis (None: none)

    @field_validator("transfer_target")
    @classmethod
    def _sip_uri(cls, value: str) -> str:
        if value and not value.startswith(("sip:", "sips:")):
            raise ValueError("expected a sip: URI")
        return value

    @field_validator("ivr_menu")
    @classmethod
    def _distinct_digits(cls, value: list[MenuOption]) -> list[MenuOption]:
        digits = [option.digit for option in value]
        if len(set(digits)) != len(digits):
            raise ValueError("each digit may appear once")
        return value


class NewAgent(AgentSpec):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")


class AgentOut(BaseModel):
    name: str
    version: int
    spec: AgentSpec
    created_at: datetime
    updated_at: datetime | None = None


def router(store: Store, auth: Auth) -> APIRouter:
    api = APIRouter(prefix="/agents", tags=["agents"], route_class=TextJsonRoute)

    def found(row: dict[str, Any] | None, name: str) -> dict[str, Any]:
        if row is None:
            raise HTTPException(404, f"no agent {name!r}")
        return row

    @api.get("", response_model=list[AgentOut], dependencies=[Depends(auth.viewer)])
    def list_agents() -> list[dict[str, Any]]:
        return store.list_agents()

    @api.post(
        "",
        response_model=AgentOut,
        status_code=201,
        dependencies=[Depends(auth.admin)],
        max_body_size=LARGE_BODY,
    )
    def create_agent(agent: NewAgent) -> dict[str, Any]:
        if store.get_agent(agent.name) is not None:
            raise HTTPException(409, f"agent {agent.name!r} exists: PUT /agents/{agent.name}")
        return store.put_agent(agent.name, agent.model_dump(exclude={"name"}))

    @api.get("/{name}", response_model=AgentOut, dependencies=[Depends(auth.viewer)])
    def get_agent(name: AgentName) -> dict[str, Any]:
        return found(store.get_agent(name), name)

    @api.get(
        "/{name}/versions/{version}",
        response_model=AgentOut,
        dependencies=[Depends(auth.viewer)],
    )
    def get_version(
        name: AgentName, version: Annotated[int, Path(ge=1, le=2**31 - 1)]
    ) -> dict[str, Any]:
        return found(store.get_agent(name, version), f"{name} version {version}")

    @api.put(
        "/{name}",
        response_model=AgentOut,
        dependencies=[Depends(auth.admin)],
        max_body_size=LARGE_BODY,
    )
    def update_agent(name: AgentName, spec: AgentSpec) -> dict[str, Any]:
        stored = found(store.get_agent(name), name)
        new = spec.model_dump()
        if (
            "analysis" not in spec.model_fields_set
        ):  # forms that do not show it keep it; null drops it
            new["analysis"] = stored["spec"].get("analysis")
        return store.put_agent(name, new)

    # a POST: every GET is a viewer's, and a viewer must not read the key
    @api.post("/{name}/tool-secret", dependencies=[Depends(auth.admin)])
    def tool_signing_key(name: AgentName) -> dict[str, str]:
        """The key this agent's tool requests are signed with (README: Tools)."""
        found(store.get_agent(name), name)
        return {"secret": tool_secret(store, name), "algorithm": "HMAC-SHA256"}

    @api.delete("/{name}", status_code=204, dependencies=[Depends(auth.admin)])
    def delete_agent(name: AgentName) -> Response:
        if not delete_agent_with_documents(store, name):
            raise HTTPException(404, f"no agent {name!r}")
        return Response(status_code=204)

    return api
