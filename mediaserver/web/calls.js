import { api, el, keyStore } from "/ui/api.js";

const rows = document.querySelector("#calls tbody");
const error = document.getElementById("error");
let selected = null;
let recordingUrl = null;

function showError(message) {
  error.textContent = message;
  error.hidden = !message;
}

function when(iso) {
  return iso ? new Date(iso).toLocaleString() : "";
}

async function loadCalls() {
  if (!keyStore.get()) return showError("Enter an API key to see calls.");
  const params = new URLSearchParams({ limit: "50" });
  const q = document.getElementById("q").value.trim();
  const direction = document.getElementById("direction").value;
  if (q) params.set("q", q);
  if (direction) params.set("direction", direction);
  try {
    const page = await (await api(`/calls?${params}`)).json();
    rows.replaceChildren(...page.items.map(callRow));
    showError("");
  } catch (e) {
    showError(e.message);
  }
}

function callRow(call) {
  const state = call.ended_at
    ? el("span", {}, call.end_reason || "ended")
    : el("span", { class: "live" }, "live");
  const peer = call.direction === "inbound" ? call.from_uri : call.to_uri;
  const row = el("tr", { tabindex: "0", "data-id": call.id },
    el("td", {}, when(call.created_at)), el("td", {}, call.direction),
    el("td", {}, peer), el("td", {}, `${call.agent} v${call.agent_version}`), el("td", {}, state));
  const open = () => showCall(call.id);
  row.addEventListener("click", open);
  row.addEventListener("keydown", (event) => { if (event.key === "Enter") open(); });
  return row;
}

async function showCall(id) {
  selected = id;
  try {
    const call = await (await api(`/calls/${encodeURIComponent(id)}`)).json();
    renderCall(call);
  } catch (e) {
    showError(e.message);
  }
}

function renderCall(call) {
  document.getElementById("detail").hidden = false;
  const facts = [
    ["Call", call.id], ["Transport", `${call.transport} ${call.direction}`],
    ["From", call.from_uri], ["To", call.to_uri], ["Agent", `${call.agent} v${call.agent_version}`],
    ["Started", when(call.created_at)], ["Ended", call.ended_at ? when(call.ended_at) : "in progress"],
    ["End reason", call.end_reason || ""],
  ];
  document.getElementById("facts").replaceChildren(
    ...facts.flatMap(([name, value]) => [el("dt", {}, name), el("dd", {}, value || "—")]));
  document.getElementById("transcript").replaceChildren(...call.turns.map(turnItem));
  loadRecording(call);
}

function turnItem(turn) {
  const latency = turn.timings_ms?.first_audio_out;
  const meta = [`${turn.start_s?.toFixed(1) ?? "?"} s`];
  if (latency !== undefined) meta.push(`answered in ${Math.round(latency)} ms`);
  if (turn.interrupted) meta.push("interrupted");
  return el("li", { class: turn.speaker },
    el("span", { class: "meta" }, `${turn.speaker} · ${meta.join(" · ")}`), turn.text);
}

async function loadRecording(call) {
  const player = document.getElementById("player");
  if (recordingUrl) URL.revokeObjectURL(recordingUrl);
  recordingUrl = null;
  player.hidden = true;
  if (!call.recording_path || !call.ended_at) return;
  try {
    const blob = await (await api(`/calls/${encodeURIComponent(call.id)}/recording`)).blob();
    recordingUrl = URL.createObjectURL(blob);
    player.src = recordingUrl;
    player.hidden = false;
  } catch { /* no recording kept */ }
}

document.getElementById("key-form").addEventListener("submit", (event) => {
  event.preventDefault();
  keyStore.set(document.getElementById("key").value.trim());
  loadCalls();
});
document.getElementById("filters").addEventListener("input", loadCalls);
document.getElementById("filters").addEventListener("submit", (event) => event.preventDefault());
const fromHash = new URLSearchParams(location.hash.slice(1)).get("key");
if (fromHash) { keyStore.set(fromHash); history.replaceState(null, "", location.pathname); }
loadCalls();
setInterval(() => { loadCalls(); if (selected) showCall(selected); }, 3000);
