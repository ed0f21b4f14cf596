// The list of calls; a click opens one (call-detail.js). Polled every 3 s,
// but only what changed is redrawn: nothing the operator is using reloads.
import { api, el, keyStore } from "/ui/api.js";
import { showCall, refreshCall } from "/ui/call-detail.js";
import { END_REASONS, callSeconds, duration, endReason, ms, peer, shortWhen, when } from "/ui/format.js";
import { setUpSignIn, signOutIfRefused } from "/ui/session.js";

const PAGE = 50;
const rows = document.querySelector("#calls tbody");
const error = document.getElementById("error");
let offset = 0;
let shown = null; // the page last drawn, as JSON: redraw only on a change
let choicesLoaded = false; // the agents' names for the filter

export function showError(message) {
  error.textContent = message;
  error.hidden = !message;
}

async function loadCalls() {
  if (!keyStore.get()) {
    rows.replaceChildren();
    shown = null;
    document.getElementById("paging").hidden = true;
    return showError("Enter an API key to see calls.");
  }
  const params = new URLSearchParams({ limit: String(PAGE), offset: String(offset) });
  const filters = readFilters();
  for (const [name, value] of Object.entries(filters)) params.set(name, value);
  try {
    const page = await (await api(`/calls?${params}`)).json();
    showError("");
    if (!choicesLoaded) loadChoices(); // after the key is known to be good
    const json = JSON.stringify(page);
    const live = page.items.some((call) => !call.ended_at);
    if (json !== shown || live) drawCalls(page, Object.keys(filters).length > 0);
    shown = json;
  } catch (e) {
    signOutIfRefused(e);
    if (!keyStore.get()) { rows.replaceChildren(); shown = null; }
    showError(e.message);
  }
}

// The filters the API has, as its query parameters; dates are local days.
function readFilters() {
  const value = (id) => document.getElementById(id).value.trim();
  const filters = {};
  for (const name of ["q", "direction", "agent", "end_reason"]) if (value(name)) filters[name] = value(name);
  if (value("since")) filters.since = new Date(`${value("since")}T00:00`).toISOString();
  if (value("until")) {
    const end = new Date(`${value("until")}T00:00`);
    end.setDate(end.getDate() + 1); // the whole day
    filters.until = end.toISOString();
  }
  return filters;
}

async function loadChoices() {
  if (!keyStore.get()) return;
  try {
    const agents = await (await api("/agents")).json();
    choicesLoaded = true;
    const names = new Set(["default", ...agents.map((agent) => agent.name)]);
    document.getElementById("agent-names").replaceChildren(...[...names].map((name) => el("option", { value: name })));
  } catch { /* the list says why */ }
}

function fillOutcomes() {
  const select = document.getElementById("end_reason");
  select.append(...Object.keys(END_REASONS).map((reason) => el("option", { value: reason }, endReason(reason))));
}

function drawCalls(page, filtered) {
  const focused = document.activeElement?.closest?.("tr")?.dataset.id;
  if (page.items.length === 0) {
    const empty = filtered ? "No calls match these filters." : "No calls yet. Calls appear here as they happen.";
    rows.replaceChildren(el("tr", { class: "empty" }, el("td", { colspan: "9" }, empty)));
  } else {
    rows.replaceChildren(...page.items.map(callRow));
  }
  if (focused) rows.querySelector(`tr[data-id="${CSS.escape(focused)}"]`)?.focus();
  document.getElementById("paging").hidden = page.total <= PAGE && offset === 0;
  const last = Math.min(offset + page.items.length, page.total);
  document.getElementById("count").textContent =
    page.total ? `${offset + 1}–${last} of ${page.total}` : "";
  document.getElementById("newer").disabled = offset === 0;
  document.getElementById("older").disabled = last >= page.total;
}

function callRow(call) {
  const outcome = call.ended_at
    ? el("span", {}, endReason(call.end_reason) || "Ended")
    : el("span", { class: "live" }, "live");
  const row = el("tr", { tabindex: "0", "data-id": call.id },
    el("td", { title: when(call.created_at), class: "nowrap" }, shortWhen(call.created_at)), el("td", {}, call.direction), el("td", {}, peer(call)),
    el("td", {}, `${call.agent} v${call.agent_version}`), el("td", {}, call.transport),
    el("td", { class: "num" }, duration(callSeconds(call))), el("td", { class: "num" }, String(call.turn_count)),
    el("td", { class: "num" }, ms(call.voice_to_voice_p50_ms)), el("td", {}, outcome));
  const open = () => showCall(call.id).catch((e) => { signOutIfRefused(e); showError(e.message); });
  row.addEventListener("click", open);
  row.addEventListener("keydown", (event) => { if (event.key === "Enter") open(); });
  return row;
}

function restart() {
  offset = 0;
  shown = null;
  choicesLoaded = false;
  loadCalls();
  openLinked(); // a link's call, once signed in
}

fillOutcomes();
const linked = () => new URLSearchParams(location.hash.slice(1)).get("call"); // #call=: the live page's link
const openLinked = () => {
  if (linked() && keyStore.get()) showCall(linked()).catch((e) => showError(e.message));
};
setUpSignIn(restart);
openLinked();
window.addEventListener("hashchange", openLinked);
document.getElementById("filters").addEventListener("input", restart);
document.getElementById("filters").addEventListener("submit", (event) => event.preventDefault());
document.getElementById("newer").addEventListener("click", () => { offset = Math.max(0, offset - PAGE); loadCalls(); });
document.getElementById("older").addEventListener("click", () => { offset += PAGE; loadCalls(); });
loadCalls();
setInterval(() => {
  if (document.hidden || !keyStore.get()) return;
  loadCalls();
  refreshCall().catch((e) => showError(e.message));
}, 3000);
