// Calls in progress and their transcripts as they happen (GET /live: server-
// sent events, read with fetch so that the key travels in a header), and
// hanging one up (admin).
import { api, el, keyStore } from "/ui/api.js";
import { peer, shortWhen } from "/ui/format.js";
import { setUpSignIn, signOutIfRefused } from "/ui/session.js";

const $ = (id) => document.getElementById(id);
let reading = null; // the AbortController of the open stream

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = !message;
}

function card(call) {
  const existing = document.querySelector(`article[data-id="${CSS.escape(call.id)}"]`);
  if (existing) return existing;
  const hangup = el("button", { type: "button", class: "danger admin-only" }, "Hang up");
  hangup.addEventListener("click", async () => {
    hangup.disabled = true;
    try {
      await api(`/calls/${encodeURIComponent(call.id)}/hangup`, { method: "POST" });
      hangup.textContent = "Hanging up…";
    } catch (e) {
      hangup.disabled = false;
      signOutIfRefused(e);
      showError(e.message);
    }
  });
  return el("article", { "data-id": call.id, class: "live-call" },
    el("h2", {}, `${call.agent} · ${peer(call)}`),
    el("p", { class: "hint" }, `${call.transport} ${call.direction} · since ${shortWhen(call.created_at)} · `,
      el("a", { href: `/ui/calls.html#call=${encodeURIComponent(call.id)}` }, "record")),
    el("ol", { class: "transcript" }), hangup);
}

function onEvent(kind, data) {
  if (kind === "calls") {
    $("live").replaceChildren(...data.map(card));
    $("status").textContent = data.length ? `${data.length} in progress` : "No calls in progress.";
  } else if (kind === "turn") {
    const list = document.querySelector(`article[data-id="${CSS.escape(data.call_id)}"] ol`);
    list?.append(el("li", { class: data.speaker },
      el("span", { class: "meta" }, data.interrupted ? `${data.speaker} · interrupted` : data.speaker), data.text));
  }
}

async function follow() {
  reading?.abort();
  reading = null;
  $("live").replaceChildren();
  if (!keyStore.get()) return showError("Enter an API key to see live calls.");
  const controller = new AbortController();
  reading = controller;
  try {
    const response = await api("/live", { signal: controller.signal, headers: { Accept: "text/event-stream" } });
    showError("");
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const kind = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (kind && data) onEvent(kind, JSON.parse(data));
      }
    }
  } catch (e) {
    if (controller.signal.aborted) return;
    signOutIfRefused(e);
    showError(e.message);
    if (e.status) return; // refused: wait for the operator
  }
  if (reading === controller) setTimeout(follow, 1000); // the stream ended: follow again
}

setUpSignIn(follow);
follow();
