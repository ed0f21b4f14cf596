// One call: facts, analysis, the recording as a waveform whose playhead the
// transcript follows (the turn being heard is marked; click a turn or an event
// to hear it), per-turn stage timings, events and downloads. The recording is
// fetched once per call and never reloaded: the poll redraws only a live call.
import { api, el } from "/ui/api.js";
import { analysisParts, eventItem, transcriptText, turnItem } from "/ui/call-parts.js";
import { callSeconds, duration, endReason, peer, when } from "/ui/format.js";
import { Waveform, decodePeaks } from "/ui/waveform.js";

const $ = (id) => document.getElementById(id);
let current = null; // {id, ended, drawn: JSON of what is drawn, recording: blob URL, turns}
const waveform = new Waveform($("waveform"), $("player"));

async function fetchCall(id) {
  return (await api(`/calls/${encodeURIComponent(id)}`)).json();
}

export async function showCall(id) {
  if (current?.id === id) return;
  if (current?.recording) URL.revokeObjectURL(current.recording);
  current = { id, ended: false, drawn: null, recording: null, turns: [] };
  const player = $("player");
  player.pause();
  player.removeAttribute("src");
  player.hidden = true;
  waveform.clear();
  $("downloads").replaceChildren();
  draw(await fetchCall(id));
}

// The poll: only a live call changes; a finished one is left alone.
export async function refreshCall() {
  if (!current || current.ended) return;
  const call = await fetchCall(current.id);
  if (call.id === current.id) draw(call);
}

function seek(seconds) {
  const player = $("player");
  if (player.hidden || seconds == null) return;
  player.currentTime = seconds;
  player.play().catch(() => { /* the user pauses or the browser refuses */ });
}

// Mark the turn being heard (and keep it in view, once, when it changes).
function markPlaying() {
  const at = $("player").currentTime;
  const playing = current?.turns.findLastIndex((t) => t.start_s != null && t.start_s <= at && at < (t.end_s ?? t.start_s + 1));
  $("transcript").querySelectorAll("li").forEach((item, index) => {
    const now = index === playing && !$("player").hidden;
    if (now === item.classList.contains("playing")) return;
    item.classList.toggle("playing", now);
    if (now) {
      item.setAttribute("aria-current", "true");
      if (!$("player").paused) item.scrollIntoView({ block: "nearest" });
    } else {
      item.removeAttribute("aria-current");
    }
  });
}

function draw(call) {
  if (call.id !== current?.id) return;
  $("detail").hidden = false;
  const json = JSON.stringify(call);
  if (json === current.drawn) return;
  current.drawn = json;
  current.turns = call.turns;
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
  const analysis = analysisParts(call.analysis);
  $("analysis").hidden = analysis.length === 0;
  $("analysis-body").replaceChildren(...analysis);
  $("transcript").replaceChildren(...call.turns.map((turn) => turnItem(turn, seek)));
  $("events").replaceChildren(...(call.events.length
    ? call.events.map((event) => eventItem(event, seek))
    : [el("li", { class: "none" }, "No events.")]));
  markPlaying();
  if (waveform.wave) waveform.show(waveform.wave, call.turns);
  if (call.ended_at && !current.ended) {
    current.ended = true;
    drawDownloads(call);
  }
}

function download(name, href, label) {
  return el("a", { href, download: name, class: "button" }, label);
}

async function drawDownloads(call) {
  const id = call.id;
  const json = URL.createObjectURL(new Blob([JSON.stringify(call, null, 2)], { type: "application/json" }));
  const text = URL.createObjectURL(new Blob([transcriptText(call)], { type: "text/plain" }));
  const links = [download(`${id}.json`, json, "Transcript (JSON)"), download(`${id}.txt`, text, "Transcript (text)")];
  $("downloads").replaceChildren(...links);
  if (!call.recording_path) return;
  let blob;
  try {
    blob = await (await api(`/calls/${encodeURIComponent(id)}/recording`)).blob();
  } catch {
    return; // no recording kept
  }
  if (current?.id !== id) return;
  current.recording = URL.createObjectURL(blob);
  $("player").src = current.recording;
  $("player").hidden = false;
  $("downloads").prepend(download(`${id}.wav`, current.recording, "Recording (WAV)"));
  try {
    const wave = await decodePeaks(blob);
    if (current?.id === id) waveform.show(wave, current.turns);
  } catch { /* not decodable here: the player still plays it */ }
}

$("player").addEventListener("timeupdate", markPlaying);
$("player").addEventListener("seeked", markPlaying);
