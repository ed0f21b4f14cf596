// How the pages write times, durations and reasons.
export const END_REASONS = {
  caller_hangup: "Caller hung up",
  agent_hangup: "Agent hung up",
  transferred: "Transferred",
  busy: "Busy",
  no_answer: "No answer",
  rejected: "Rejected",
  failed: "Failed",
  error: "Error on the server",
  unclean: "Server stopped during the call",
  server_shutdown: "Server shut down",
  media_timeout: "No audio from the caller",
  connect_timeout: "Never connected",
  connection_failed: "Connection failed",
  connection_closed: "Connection closed",
  message_too_big: "Message too big",
};

export function endReason(reason) {
  if (!reason) return "";
  return END_REASONS[reason] ?? reason[0].toUpperCase() + reason.slice(1).replaceAll("_", " ");
}

export function when(iso) {
  return iso ? new Date(iso).toLocaleString() : "";
}

// Short, for the list: the time today, the date and time otherwise.
export function shortWhen(iso) {
  if (!iso) return "";
  const at = new Date(iso);
  const time = at.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  if (at.toDateString() === new Date().toDateString()) return time;
  return `${at.toLocaleDateString([], { month: "short", day: "numeric" })} ${time}`;
}

export function duration(seconds) {
  if (seconds == null || Number.isNaN(seconds)) return "";
  const whole = Math.max(0, Math.round(seconds));
  const m = Math.floor(whole / 60);
  const s = String(whole % 60).padStart(2, "0");
  return `${m}:${s}`;
}

// Seconds from answer (or creation) to the end, or to now while live.
export function callSeconds(call, now = Date.now()) {
  const start = Date.parse(call.answered_at || call.created_at);
  const end = call.ended_at ? Date.parse(call.ended_at) : now;
  return (end - start) / 1000;
}

export function ms(value) {
  return value == null ? "—" : `${Math.round(value)} ms`;
}

// Who the other party is; browser calls carry no URI.
export function peer(call) {
  const uri = call.direction === "inbound" ? call.from_uri : call.to_uri;
  if (uri) return uri;
  return call.transport === "webrtc" ? "browser" : "—";
}
