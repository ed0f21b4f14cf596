// How one call's parts are written: its turns (with stage timings, tool calls
// and the sources a reply drew on), events, analysis, and the text download.
// Fields other parts of the server add later (analysis, a turn's chunks and
// tool_calls) are shown when present, whatever shape they arrive in.
import { el } from "/ui/api.js";
import { duration, ms, when } from "/ui/format.js";

export const STAGES = [["stt_done", "STT"], ["first_token", "First token"], ["first_tts_audio", "First TTS audio"], ["first_audio_out", "First audio"]];

// One line for a value of unknown shape.
function brief(value, limit = 160) {
  const text = typeof value === "string" ? value : JSON.stringify(value) ?? "";
  return text.length > limit ? `${text.slice(0, limit - 1)}…` : text;
}

function toolCall(call) {
  if (typeof call !== "object" || call === null) return brief(call);
  const name = call.name ?? call.tool ?? call.function?.name ?? "tool";
  const args = call.arguments ?? call.args ?? call.function?.arguments;
  const result = call.result ?? call.output;
  return `${name}(${args == null ? "" : brief(args, 80)})${result == null ? "" : ` → ${brief(result, 80)}`}`;
}

function source(chunk) {
  if (typeof chunk !== "object" || chunk === null) return brief(chunk, 60);
  return brief(chunk.title ?? chunk.document ?? chunk.source ?? chunk.name ?? chunk.text ?? chunk, 60);
}

// A turn's item; `seek(turn)` plays from its start.
export function turnItem(turn, seek) {
  const meta = [turn.start_s != null ? `${turn.start_s.toFixed(1)} s` : "?"];
  if (turn.interrupted) meta.push("interrupted");
  const item = el("li", { class: turn.speaker, tabindex: "0", title: "Play from here", "data-start": String(turn.start_s ?? "") },
    el("span", { class: "meta" }, `${turn.speaker} · ${meta.join(" · ")}`), turn.text);
  const timings = turn.timings_ms || {};
  const measured = STAGES.filter(([stage]) => timings[stage] != null);
  if (measured.length) {
    item.append(el("span", { class: "timings" },
      measured.map(([stage, name]) => `${name} ${ms(timings[stage])}`).join(" · ")));
  }
  if (Array.isArray(turn.tool_calls) && turn.tool_calls.length) {
    item.append(el("span", { class: "tools" }, `Tools: ${turn.tool_calls.map(toolCall).join("; ")}`));
  }
  if (Array.isArray(turn.chunks) && turn.chunks.length) {
    item.append(el("span", { class: "sources" }, `Sources: ${turn.chunks.map(source).join("; ")}`));
  }
  item.addEventListener("click", () => seek(turn.start_s));
  item.addEventListener("keydown", (event) => { if (event.key === "Enter") seek(turn.start_s); });
  return item;
}

const EVENTS = {
  dtmf: (value) => `Caller pressed ${value}`,
  menu: (value) => { const [digit, language] = value.split(" "); return `Menu: ${digit} chose ${language}`; },
  interrupted: (value) => (value ? `Caller interrupted the agent after “${value}”` : "Caller interrupted the agent"),
  transfer: (value) => `Transfer to ${value}`,
  tool_call: (value) => `Tool call: ${value}`,
};

export function eventItem(event, seek) {
  const text = EVENTS[event.kind]?.(event.value) ?? `${event.kind}${event.value ? `: ${event.value}` : ""}`;
  const item = el("li", { tabindex: "0", "data-kind": event.kind, title: "Play from here" },
    el("span", { class: "at" }, `${event.at_s.toFixed(1)} s · `), text);
  item.addEventListener("click", () => seek(event.at_s));
  item.addEventListener("keydown", (e) => { if (e.key === "Enter") seek(event.at_s); });
  return item;
}

// The call's analysis (summary, disposition, sentiment, fields), if it has one.
export function analysisParts(analysis) {
  if (typeof analysis !== "object" || analysis === null) return [];
  const facts = [];
  if (analysis.disposition) facts.push(["Disposition", brief(analysis.disposition)]);
  if (analysis.sentiment != null) facts.push(["Sentiment", brief(analysis.sentiment)]);
  if (analysis.fields && typeof analysis.fields === "object") {
    for (const [name, value] of Object.entries(analysis.fields)) facts.push([name, brief(value)]);
  }
  const parts = [];
  if (analysis.summary) parts.push(el("p", {}, brief(analysis.summary, 4000)));
  if (facts.length) parts.push(el("dl", {}, ...facts.flatMap(([name, value]) => [el("dt", {}, name), el("dd", {}, value)])));
  return parts;
}

export function transcriptText(call) {
  const lines = [`Call ${call.id} · ${call.agent} v${call.agent_version} · ${when(call.created_at)}`, ""];
  if (call.analysis?.summary) lines.push(`Summary: ${call.analysis.summary}`, "");
  for (const turn of call.turns) {
    const at = turn.start_s != null ? `[${duration(turn.start_s)}] ` : "";
    lines.push(`${at}${turn.speaker}: ${turn.text}${turn.interrupted ? " (interrupted)" : ""}`);
  }
  return lines.join("\n") + "\n";
}
