// The list of calls; a click opens one (call-detail.js). Polled every 3 s,
// but only what changed is redrawn: nothing the operator is using reloads.
import { api, el, keyStore } from "/ui/api.js";
import { showCall, refreshCall } from "/ui/call-detail.js";
import { callSeconds, duration, endReason, ms, peer, shortWhen, when } from "/ui/format.js";
import { setUpSignIn, signOutIfRefused } from "/ui/session.js";

const PAGE = 50;
const rows = document.querySelector("#calls tbody");
const error = document.getElementById("error");
let offset = 0;
let shown = null; // the page last drawn, as JSON: redraw only on a change

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
  const q = document.getElementById("q").value.trim();
  const direction = document.getElementById("direction").value;
  if (q) params.set("q", q);
  if (direction) params.set("direction", direction);
  try {
    const page = await (await api(`/calls?${params}`)).json();
    showError("");
    const json = JSON.stringify(page);
    const live = page.items.some((call) => !call.ended_at);
    if (json !== shown || live) drawCalls(page, Boolean(q || direction));
    shown = json;
  } catch (e) {
    signOutIfRefused(e);
    if (!keyStore.get()) { rows.replaceChildren(); shown = null; }
    showError(e.message);
  }
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
  loadCalls();
}

setUpSignIn(restart);
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
