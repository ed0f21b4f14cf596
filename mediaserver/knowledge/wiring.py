"""The knowledge base's parts, built from the config for each role: uploads
and retrieval in the process that takes the uploads, retrieval alone in a
cluster's media worker."""

from __future__ import annotations

import asyncio
import logging

from mediaserver.agents import AgentBook
from mediaserver.config import Config
from mediaserver.knowledge.embed import Embedders, EmbedderSource
from mediaserver.knowledge.index import KnowledgeIndex
from mediaserver.knowledge.ingest import Ingest
from mediaserver.services.remote_embed import RemoteEmbedders
from mediaserver.store import Store
from mediaserver.store.documents import Documents
from models.store import ModelError

log = logging.getLogger(__name__)


async def knowledge_base(
    config: Config, store: Store, book: AgentBook
) -> tuple[Ingest, KnowledgeIndex]:
    """Agents' documents: uploads (ingest) and retrieval in calls (index); the
    English embedding model loaded now, once for the process."""

    loop = asyncio.get_running_loop()
    stored = Documents(store)
    if failed := await loop.run_in_executor(None, stored.fail_unfinished):
        log.warning("%d document(s) were being processed when the server stopped", failed)
    embedders = embedders_for(config)
    try:
        await loop.run_in_executor(None, embedders.get, config.knowledge.english_model)
    except ModelError as exc:  # uploads fail with this reason; calls go without
        log.warning("knowledge base: %s", exc)
    index = KnowledgeIndex(stored, embedders, config.knowledge)

    def language_of(name: str) -> str:
        found = book.get(name)
        return found[0].language if found is not None else book.builtin.language

    return Ingest(stored, index, embedders, config.knowledge, language_of), index


def embedders_for(config: Config) -> EmbedderSource:
    """The embedding models: loaded here (backend "local"), or asked of the
    inference service's /v1/embeddings (backend "remote")."""

    if config.models.backend == "remote":
        return RemoteEmbedders(config.knowledge, config.models)
    return Embedders(config.knowledge, config.models)


def retrieval_index(config: Config, store: Store) -> KnowledgeIndex:
    """Retrieval only, for a cluster's media worker: the control process
    ingests into the shared store; the worker reads the agent's chunks from it
    at each call's start and embeds the caller's words via the service."""

    return KnowledgeIndex(Documents(store), embedders_for(config), config.knowledge)
