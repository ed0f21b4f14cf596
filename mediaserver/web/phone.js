// The softphone: a WebRTC call to an agent, its transcript and latency.
import { api, el } from "/ui/api.js";
import "/ui/nav.js";

const $ = (id) => document.getElementById(id);
const phone = { pc: null, channel: null, stream: null, meter: null, timer: null, speaking: null, ending: null };
window.phone = phone; // for the tests: getStats() on the live connection, onMessage

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = !message;
}

function setState(text, kind = "") {
  $("state").textContent = text;
  $("state").className = `state ${kind}`;
}

// What the conversation is doing: listening, thinking or speaking.
function setActivity(text) {
  $("activity").textContent = text;
  $("activity").dataset.state = text.split(" ")[0].toLowerCase();
}

function startTimer() {
  const started = Date.now();
  const tick = () => {
    const seconds = Math.floor((Date.now() - started) / 1000);
    $("timer").textContent = `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`;
  };
  tick();
  phone.timer = setInterval(tick, 1000);
}

function toggleMute() {
  const muted = $("mute").getAttribute("aria-pressed") !== "true";
  for (const track of phone.stream?.getAudioTracks() ?? []) track.enabled = !muted;
  $("mute").setAttribute("aria-pressed", String(muted));
  $("mute").textContent = muted ? "Unmute" : "Mute";
}

function setInCall(inCall) {
  $("call").disabled = inCall;
  $("hangup").disabled = !inCall;
  $("mute").disabled = !inCall;
  for (const key of $("keypad").querySelectorAll("button")) key.disabled = !inCall;
}

function token() {
  return $("token").value.trim();
}

async function signaling(path, options = {}) {
  try {
    return await (await api(path, options, token())).json();
  } catch (e) {
    if (e.status === 401) throw new Error(`The call token was refused (${e.detail}).`);
    if (e.status) throw new Error(e.detail);
    throw e;
  }
}

async function loadAgents() {
  if (!token()) return;
  try {
    const config = await signaling("/webrtc/config");
    $("agent").replaceChildren(...config.agents.map((name) => el("option", { value: name }, name)));
    showError("");
    return config;
  } catch (e) {
    showError(e.message);
  }
}

function addLine(speaker, text, meta = "") {
  const item = el("li", { class: speaker },
    el("span", { class: "meta" }, meta ? `${speaker} · ${meta}` : speaker), el("span", { class: "text" }, text));
  $("transcript").append(item);
  item.scrollIntoView({ block: "nearest" });
  return item;
}

// The agent's reply shows clause by clause as each starts to play
// (agent_clause); its record (transcript) then replaces it with the latency,
// or with what was heard before the caller cut in.
function agentSaid(message) {
  const meta = [];
  if (message.latency_ms != null) meta.push(`answered in ${Math.round(message.latency_ms)} ms`);
  if (message.interrupted) meta.push("interrupted");
  const item = phone.speaking;
  phone.speaking = null;
  if (!item) return addLine("agent", message.text, meta.join(" · "));
  item.querySelector(".text").textContent = message.text;
  item.querySelector(".meta").textContent = meta.length ? `agent · ${meta.join(" · ")}` : "agent";
  item.classList.remove("speaking");
  item.classList.toggle("interrupted", Boolean(message.interrupted));
}

function onMessage(event) {
  const message = JSON.parse(event.data);
  if (message.type === "transcript" && message.speaker === "agent") {
    agentSaid(message);
    setActivity("Listening");
  } else if (message.type === "transcript") {
    addLine(message.speaker, message.text);
    setActivity("Thinking…");
  } else if (message.type === "agent_clause") {
    if (phone.speaking) phone.speaking.querySelector(".text").append(` ${message.text}`);
    else phone.speaking = addLine("agent", message.text, "speaking…");
    phone.speaking.classList.add("speaking");
    setActivity("Speaking");
  } else if (message.type === "agent_text") {
    // the whole reply, once generated: ahead of the audio, so not shown (the clauses are)
  } else if (message.type === "interrupted") {
    phone.speaking?.classList.add("interrupted");
    setActivity("Listening (you interrupted)");
  } else if (message.type === "ended") {
    setState(`Call ended (${message.reason.replaceAll("_", " ")})`);
    if (message.record_id) showRecord(message.record_id);
    finish();
  }
}
phone.onMessage = onMessage;

function watchLevel(stream) {
  const context = new AudioContext();
  const analyser = context.createAnalyser();
  analyser.fftSize = 512;
  context.createMediaStreamSource(stream).connect(analyser);
  const samples = new Float32Array(analyser.fftSize);
  const timer = setInterval(() => {
    analyser.getFloatTimeDomainData(samples);
    let sum = 0;
    for (const s of samples) sum += s * s;
    $("level").value = Math.min(1, Math.sqrt(sum / samples.length) * 4);
  }, 100);
  return () => { clearInterval(timer); context.close(); };
}

function iceComplete(pc, seconds = 5) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => { if (pc.iceGatheringState === "complete") resolve(); };
    pc.addEventListener("icegatheringstatechange", done);
    setTimeout(resolve, seconds * 1000); // send what we have
  });
}

async function call(event) {
  event.preventDefault();
  showError("");
  $("transcript").replaceChildren();
  $("record").hidden = true;
  const config = await loadAgents();
  if (!config) return;
  try {
    phone.stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  } catch (e) {
    showError(e.name === "NotAllowedError"
      ? "Microphone access was denied. Allow it in the browser's site settings and call again."
      : `No microphone could be opened (${e.message}).`);
    return;
  }
  phone.meter = watchLevel(phone.stream);
  const pc = new RTCPeerConnection({ iceServers: config.ice_servers });
  phone.pc = pc;
  for (const track of phone.stream.getTracks()) pc.addTrack(track, phone.stream);
  pc.addEventListener("track", (e) => { $("remote").srcObject = e.streams[0] ?? new MediaStream([e.track]); });
  pc.addEventListener("connectionstatechange", () => {
    const state = pc.connectionState;
    if (state === "connected") {
      setState("Connected", "connected");
      setActivity("Waiting for the agent's greeting…");
      if (!phone.timer) startTimer();
    }
    else if (state === "failed") { setState("Connection failed", "failed"); finish(); }
    else if (state !== "closed") setState(state[0].toUpperCase() + state.slice(1));
  });
  phone.channel = pc.createDataChannel("control");
  phone.channel.addEventListener("message", onMessage);
  const wasOnCall = document.activeElement === $("call");
  setInCall(true);
  if (wasOnCall) $("hangup").focus(); // Enter calls, Enter again hangs up
  setState("Calling…");
  try {
    await pc.setLocalDescription(await pc.createOffer());
    await iceComplete(pc);
    const answer = await signaling("/webrtc/offer", {
      method: "POST",
      body: JSON.stringify({ sdp: pc.localDescription.sdp, type: "offer", agent: $("agent").value }),
    });
    await pc.setRemoteDescription(answer);
  } catch (e) {
    showError(e.message);
    setState("Not connected");
    finish();
  }
}

// The call's record, for an operator (the calls page asks for an API key).
function showRecord(id) {
  const link = el("a", { href: `/ui/calls.html#call=${encodeURIComponent(id)}`, target: "_blank" }, "Open this call's record");
  $("record").replaceChildren(link);
  $("record").hidden = false;
}

function hangUp() {
  setState("Call ended");
  if (phone.channel?.readyState !== "open") return finish();
  phone.channel.send(JSON.stringify({ type: "hangup" }));
  phone.ending = setTimeout(finish, 1500); // the server's "ended" (with the record) finishes first
}

function finish() {
  clearTimeout(phone.ending);
  phone.ending = null;
  const hadFocus = document.activeElement === $("hangup");
  phone.meter?.();
  phone.meter = null;
  phone.stream?.getTracks().forEach((track) => track.stop());
  phone.pc?.close();
  phone.pc = phone.channel = phone.stream = null;
  clearInterval(phone.timer);
  phone.timer = null;
  phone.speaking?.classList.remove("speaking");
  phone.speaking = null;
  $("mute").setAttribute("aria-pressed", "false");
  $("mute").textContent = "Mute";
  setActivity("");
  $("level").value = 0;
  setInCall(false);
  if (hadFocus) ($("record").querySelector("a") ?? $("call")).focus(); // keyboard users stay on the phone
}

$("call-form").addEventListener("submit", call);
$("hangup").addEventListener("click", hangUp);
$("mute").addEventListener("click", toggleMute);
$("keypad").addEventListener("click", (event) => {
  const digit = event.target.dataset?.digit;
  if (digit && phone.channel?.readyState === "open") {
    phone.channel.send(JSON.stringify({ type: "dtmf", digits: digit }));
    addLine("caller", `(pressed ${digit})`);
  }
});
$("token").addEventListener("change", loadAgents);
const fromHash = new URLSearchParams(location.hash.slice(1));
if (fromHash.get("token")) {
  $("token").value = fromHash.get("token");
  history.replaceState(null, "", location.pathname);
  const wanted = fromHash.get("agent"); // from the agents page's "Call this agent"
  loadAgents().then(() => { if (wanted) $("agent").value = wanted; });
}
setInCall(false);
