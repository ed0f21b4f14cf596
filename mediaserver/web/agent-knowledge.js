// The selected agent's knowledge base: its documents (status, chunks, size),
// an upload and a delete for admins; polled while one is still processing.
import { api, el } from "/ui/api.js";
import { signOutIfRefused } from "/ui/session.js";

const $ = (id) => document.getElementById(id);
const POLL_MS = 2000;
let agent = null; // whose documents are shown; null: none
let timer = null;

const path = (suffix = "") => `/agents/${encodeURIComponent(agent)}/documents${suffix}`;

function showError(message) {
  $("kb-error").textContent = message;
  $("kb-error").hidden = !message;
}

function failed(e) {
  signOutIfRefused(e);
  showError(e.message);
}

function size(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 ** 2) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 ** 2).toFixed(1)} MB`;
}

function status(document) {
  if (document.status === "failed") return `failed: ${document.reason}`;
  return document.status;
}

function documentRow(document) {
  const remove = el("button", { type: "button", class: "quiet", "aria-label": `Delete ${document.name}` }, "Delete");
  remove.addEventListener("click", () => deleteDocument(document).catch(failed));
  return el("tr", { "data-id": document.id, "data-status": document.status },
    el("td", {}, document.name), el("td", { class: `status-${document.status}` }, status(document)),
    el("td", { class: "num" }, String(document.chunk_count)), el("td", { class: "num" }, size(document.size)),
    el("td", { class: "admin-only" }, remove));
}

async function refresh() {
  clearTimeout(timer);
  timer = null;
  if (!agent) return;
  const shown = agent;
  const documents = await (await api(path())).json();
  if (shown !== agent) return; // another agent was opened meanwhile
  $("documents").tBodies[0].replaceChildren(...(documents.length
    ? documents.map(documentRow)
    : [el("tr", { class: "empty" }, el("td", { colspan: "5" }, "No documents yet."))]));
  if (documents.some((document) => document.status === "processing")) {
    timer = setTimeout(() => refresh().catch(failed), POLL_MS);
  }
}

async function upload(event) {
  event.preventDefault();
  const file = $("doc-file").files[0];
  if (!file) return;
  const body = new FormData();
  body.append("file", file);
  $("upload-doc").disabled = true;
  try {
    await api(path(), { method: "POST", body });
    showError("");
    $("upload-form").reset();
  } finally {
    $("upload-doc").disabled = false;
    await refresh();
  }
}

async function deleteDocument(document) {
  if (!window.confirm(`Delete ${document.name} from ${agent}'s knowledge base?`)) return;
  await api(path(`/${encodeURIComponent(document.id)}`), { method: "DELETE" });
  showError("");
  await refresh();
}

// A server without [knowledge] has no documents API: its schema says so.
let available = null;
async function knowledgeAvailable() {
  available ??= fetch("/openapi.json").then((response) => response.json())
    .then((schema) => "/agents/{name}/documents" in schema.paths, () => false);
  return available;
}

export async function showKnowledge(name) {
  agent = name;
  if (!(await knowledgeAvailable()) || agent !== name) return;
  $("knowledge").hidden = false;
  showError("");
  $("documents").tBodies[0].replaceChildren();
  refresh().catch(failed);
}

export function hideKnowledge() {
  agent = null;
  clearTimeout(timer);
  timer = null;
  $("knowledge").hidden = true;
}

$("upload-form").addEventListener("submit", (event) => upload(event).catch(failed));
