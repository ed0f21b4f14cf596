// One call: facts, recording (loaded once, never reloaded), transcript with
// per-turn stage timings (click a turn to hear it), events and downloads.
import { api, el } from "/ui/api.js";
import { callSeconds, duration, endReason, ms, peer, when } from "/ui/format.js";

const $ = (id) => document.getElementById(id);
const STAGES = [["stt_done", "STT"], ["first_token", "First token"], ["first_tts_audio", "First TTS audio"], ["first_audio_out", "First audio"]];
let current = null; // {id, ended, drawn: JSON of what is drawn, recording: blob URL}

async function fetchCall(id) {
  return (await api(`/calls/${encodeURIComponent(id)}`)).json();
}

export async function showCall(id) {
  if (current?.id === id) return;
  if (current?.recording) URL.revokeObjectURL(current.recording);
  current = { id, ended: false, drawn: null, recording: null };
  const player = $("player");
  player.pause();
  player.removeAttribute("src");
  player.hidden = true;
  $("downloads").replaceChildren();
  draw(await fetchCall(id));
}

// The poll: only a live call changes; a finished one is left alone.
export async function refreshCall() {
  if (!current || current.ended) return;
  const call = await fetchCall(current.id);
  if (call.id === current.id) draw(call);
}

function draw(call) {
  if (call.id !== current?.id) return;
  $("detail").hidden = false;
  const json = JSON.stringify(call);
  if (json === current.drawn) return;
  current.drawn = json;
  const facts = [
    ["Call", call.id], ["Transport", `${call.transport} ${call.direction}`],
    ["From", call.from_uri || (call.direction === "inbound" ? peer(call) : "")],
    ["To", call.to_uri || (call.direction === "outbound" ? peer(call) : "")],
    ["Agent", `${call.agent} v${call.agent_version}`],
    ["Started", when(call.created_at)], ["Duration", duration(callSeconds(call))],
    ["Ended", call.ended_at ? when(call.ended_at) : "in progress"],
    ["End reason", endReason(call.end_reason)],
  ];
  if (call.transfer_target) facts.push(["Transfer", `${call.transfer_target} (${call.transfer_outcome || "pending"})`]);
  $("facts").replaceChildren(
    ...facts.flatMap(([name, value]) => [el("dt", {}, name), el("dd", {}, value || "—")]));
  $("transcript").replaceChildren(...call.turns.map(turnItem));
  $("events").replaceChildren(...(call.events.length
    ? call.events.map((event) => el("li", {}, `${event.at_s.toFixed(1)} s · ${event.kind}${event.value ? `: ${event.value}` : ""}`))
    : [el("li", { class: "none" }, "No events.")]));
  if (call.ended_at && !current.ended) {
    current.ended = true;
    drawDownloads(call);
  }
}

function turnItem(turn) {
  const meta = [turn.start_s != null ? `${turn.start_s.toFixed(1)} s` : "?"];
  if (turn.interrupted) meta.push("interrupted");
  const item = el("li", { class: turn.speaker, tabindex: "0", title: "Play from here" },
    el("span", { class: "meta" }, `${turn.speaker} · ${meta.join(" · ")}`), turn.text);
  const timings = turn.timings_ms || {};
  const measured = STAGES.filter(([stage]) => timings[stage] != null);
  if (measured.length) {
    item.append(el("span", { class: "timings" },
      measured.map(([stage, name]) => `${name} ${ms(timings[stage])}`).join(" · ")));
  }
  const seek = () => {
    const player = $("player");
    if (player.hidden || turn.start_s == null) return;
    player.currentTime = turn.start_s;
    player.play().catch(() => { /* the user pauses or the browser refuses */ });
  };
  item.addEventListener("click", seek);
  item.addEventListener("keydown", (event) => { if (event.key === "Enter") seek(); });
  return item;
}

function download(name, href, label) {
  return el("a", { href, download: name, class: "button" }, label);
}

function transcriptText(call) {
  const lines = [`Call ${call.id} · ${call.agent} v${call.agent_version} · ${when(call.created_at)}`, ""];
  for (const turn of call.turns) {
    const at = turn.start_s != null ? `[${duration(turn.start_s)}] ` : "";
    lines.push(`${at}${turn.speaker}: ${turn.text}${turn.interrupted ? " (interrupted)" : ""}`);
  }
  return lines.join("\n") + "\n";
}

async function drawDownloads(call) {
  const id = call.id;
  const json = URL.createObjectURL(new Blob([JSON.stringify(call, null, 2)], { type: "application/json" }));
  const text = URL.createObjectURL(new Blob([transcriptText(call)], { type: "text/plain" }));
  const links = [download(`${id}.json`, json, "Transcript (JSON)"), download(`${id}.txt`, text, "Transcript (text)")];
  $("downloads").replaceChildren(...links);
  if (!call.recording_path) return;
  try {
    const blob = await (await api(`/calls/${encodeURIComponent(id)}/recording`)).blob();
    if (current?.id !== id) return;
    current.recording = URL.createObjectURL(blob);
    $("player").src = current.recording;
    $("player").hidden = false;
    $("downloads").prepend(download(`${id}.wav`, current.recording, "Recording (WAV)"));
  } catch { /* no recording kept */ }
}
