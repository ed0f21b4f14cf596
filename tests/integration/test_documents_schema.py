"""schemathesis against /agents/{name}/documents: whatever it uploads, lists
or deletes with an admin key, nothing answers 500 (SQLite, real app in
process, the real embedding model)."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from mediaserver.agents import Agent, AgentBook
from mediaserver.app import control_plane, create_http_app
from mediaserver.config import ApiConfig, Config, KnowledgeConfig, ServerConfig
from mediaserver.knowledge.wiring import knowledge_base

pytestmark = pytest.mark.integration

_root = Path(tempfile.mkdtemp(prefix="mediaserver-documents-schema-"))
_config = Config(
    server=ServerConfig(data_dir=str(_root / "data")),
    api=ApiConfig(store_url=f"sqlite:///{_root / 'store.db'}", rate_burst=1_000_000),
    knowledge=KnowledgeConfig(max_upload_mb=1),
)
_plane = control_plane(_config)
_admin = _plane.store.create_key("admin")
_book = AgentBook(Agent(), _plane.store)
_ingest, _index = asyncio.run(knowledge_base(_config, _plane.store, _book))
app = create_http_app(_config, _plane, dict, knowledge=(_ingest, _book))
schema = schemathesis.openapi.from_asgi("/openapi.json", app).include(path_regex="documents")


@schema.parametrize()
@settings(max_examples=30, suppress_health_check=list(HealthCheck), deadline=None)
def test_no_document_request_makes_the_api_fail(case: schemathesis.Case) -> None:
    case.call_and_validate(
        headers={"Authorization": f"Bearer {_admin}"}, checks=[not_a_server_error]
    )
