// Agents: list, create, edit, versions (view, diff with the current, restore),
// and "Call this agent" (a call token, then the softphone).
import { api, el, keyStore } from "/ui/api.js";
import {
  addMenuOption, diff, fillForm, readForm, setReadOnly, showToolsError, ToolsSyntaxError,
} from "/ui/agent-form.js";
import { hideKnowledge, showKnowledge } from "/ui/agent-knowledge.js";
import { shortWhen, when } from "/ui/format.js";
import { isAdmin, setUpSignIn, signOutIfRefused } from "/ui/session.js";

const $ = (id) => document.getElementById(id);
let current = null; // the agent being edited as the API returned it; null: a new one
let oldVersion = false; // an earlier version is shown: read only

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = !message;
}

function notice(message) {
  $("notice").textContent = message;
  $("notice").hidden = !message;
}

// A 422 from FastAPI lists its problems: {loc: ["body", "tools", 2, "url"], msg}.
function readable(e) {
  let problems;
  try { problems = JSON.parse(e.detail); } catch { return e.message; }
  if (!Array.isArray(problems)) return e.message;
  // a tool is a built-in's name or an object: drop the name branch's complaint
  // about an object, and the union's branch tags ("function-after[_check(), ToolSpec]")
  const isNameBranch = (problem) => String((problem.loc || []).at(-1)).startsWith("literal[");
  if (problems.some((problem) => !isNameBranch(problem))) problems = problems.filter((p) => !isNameBranch(p));
  return problems.map((problem) => {
    const where = (problem.loc || [])
      .filter((part) => part !== "body" && !String(part).includes("[")).join(".");
    const why = String(problem.msg).replace(/^Value error, /, "");
    return where ? `${where}: ${why}` : why;
  }).join("; ");
}

function failed(e) {
  signOutIfRefused(e);
  notice("");
  if (e instanceof ToolsSyntaxError) {
    showError("");
    showToolsError(e.message);
    $("f-http_tools").focus();
    return;
  }
  showError(readable(e));
}

async function loadAgents() {
  if (!keyStore.get()) {
    $("agents").tBodies[0].replaceChildren();
    $("editor").hidden = true;
    hideKnowledge();
    return showError("Enter an API key to see agents.");
  }
  try {
    const agents = await (await api("/agents")).json();
    showError("");
    $("agents").tBodies[0].replaceChildren(...(agents.length
      ? agents.map(agentRow)
      : [el("tr", { class: "empty" }, el("td", { colspan: "5" }, "No agents yet: calls use the built-in one. Create one with New agent."))]));
  } catch (e) {
    failed(e);
  }
}

function agentRow(agent) {
  const row = el("tr", { tabindex: "0", "data-name": agent.name },
    el("td", {}, agent.name), el("td", { class: "num" }, `v${agent.version}`),
    el("td", {}, agent.spec.languages.join(", ")), el("td", {}, agent.spec.tts_voice || "server default"),
    el("td", { title: when(agent.updated_at || agent.created_at) }, shortWhen(agent.updated_at || agent.created_at)));
  const open = () => openAgent(agent.name).catch(failed);
  row.addEventListener("click", open);
  row.addEventListener("keydown", (event) => { if (event.key === "Enter") open(); });
  return row;
}

async function openAgent(name) {
  current = await (await api(`/agents/${encodeURIComponent(name)}`)).json();
  showError("");
  notice("");
  edit(current);
}

// A viewer reads the form; an admin edits it (an earlier version stays read
// only, and a saved agent keeps its name).
function applyReadOnly() {
  setReadOnly(oldVersion || !isAdmin());
  if (current) $("f-name").disabled = true;
}

function edit(agent) {
  $("editor").hidden = false;
  $("editor-title").textContent = agent ? `Agent ${agent.name}` : "New agent";
  $("versions-bar").hidden = !agent;
  $("diff").hidden = true;
  $("restore").hidden = true;
  oldVersion = false;
  applyReadOnly();
  if (agent) {
    $("versions").replaceChildren(...Array.from({ length: agent.version }, (_, i) => agent.version - i)
      .map((n) => el("option", { value: String(n) }, n === agent.version ? `v${n} (current)` : `v${n}`)));
    fillForm(agent.name, agent.spec);
    showKnowledge(agent.name);
  } else {
    hideKnowledge();
  }
  $(agent ? "f-system_prompt" : "f-name").focus();
}

async function newAgent() {
  current = null;
  // a new agent starts from the defaults the API gives: read them from its schema
  const schema = await (await fetch("/openapi.json")).json();
  const defaults = {};
  const schemas = schema.components.schemas;
  const spec = schemas.AgentSpec ?? schemas["AgentSpec-Input"];
  for (const [field, property] of Object.entries(spec.properties)) {
    defaults[field] = property.default ?? null;
  }
  defaults.ivr_menu ??= [];
  defaults.languages ??= ["en"];
  defaults.tools ??= ["transfer", "hangup"];
  edit(null);
  fillForm("", defaults);
}

async function showVersion() {
  const version = Number($("versions").value);
  if (version === current.version) return edit(current);
  const old = await (await api(`/agents/${encodeURIComponent(current.name)}/versions/${version}`)).json();
  notice("");
  fillForm(old.name, old.spec);
  oldVersion = true;
  setReadOnly(true);
  $("restore").hidden = false;
  const changes = diff(old.spec, current.spec);
  $("diff").hidden = false;
  $("diff").replaceChildren(
    el("h3", {}, `v${version} → v${current.version} (current)`),
    ...(changes.length
      ? changes.map(({ field, before, after }) => el("div", { class: "change" },
        el("strong", {}, field), el("del", {}, JSON.stringify(before)), el("ins", {}, JSON.stringify(after))))
      : [el("p", {}, "No differences.")]));
}

async function save(spec, name) {
  const saved = current
    ? await api(`/agents/${encodeURIComponent(name)}`, { method: "PUT", body: JSON.stringify(spec) })
    : await api("/agents", { method: "POST", body: JSON.stringify({ name, ...spec }) });
  current = await saved.json();
  await loadAgents();
  edit(current);
  notice(`Saved ${current.name} as version ${current.version}.`);
}

async function callAgent() {
  const { token } = await (await api("/tokens", {
    method: "POST", body: JSON.stringify({ agent: current.name, ttl_seconds: 900 }),
  })).json();
  const params = new URLSearchParams({ token, agent: current.name });
  window.open(`/ui/phone.html#${params}`, "_blank");
}

setUpSignIn(loadAgents, applyReadOnly);
$("new-agent").addEventListener("click", () => newAgent().catch(failed));
$("add-option").addEventListener("click", addMenuOption);
$("versions").addEventListener("change", () => showVersion().catch(failed));
$("restore").addEventListener("click", () => {
  const spec = readForm();
  save(spec, current.name).catch(failed);
});
$("call-agent").addEventListener("click", () => callAgent().catch(failed));
$("agent-form").addEventListener("submit", (event) => {
  event.preventDefault();
  try {
    save(readForm(), $("f-name").value.trim()).catch(failed);
  } catch (e) {
    failed(e);
  }
});
loadAgents();
