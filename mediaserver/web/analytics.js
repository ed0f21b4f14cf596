// Analytics: /analytics over the chosen range, charted.
import { api, el, keyStore } from "/ui/api.js";
import { barChart, lineChart } from "/ui/charts.js";
import { endReason } from "/ui/format.js";
import { setUpSignIn, signOutIfRefused } from "/ui/session.js";

const $ = (id) => document.getElementById(id);

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = !message;
}

function empty(text) {
  return el("p", { class: "hint" }, text);
}

async function load() {
  const charts = ["calls-chart", "v2v-chart", "talk-chart"];
  if (!keyStore.get()) {
    for (const id of charts) $(id).replaceChildren();
    $("outcomes").tBodies[0].replaceChildren();
    return showError("Enter an API key to see analytics.");
  }
  const until = new Date();
  const since = new Date(until - Number($("days").value) * 86400_000);
  const params = new URLSearchParams({ since: since.toISOString(), until: until.toISOString() });
  if ($("agent").value.trim()) params.set("agent", $("agent").value.trim());
  let figures;
  try {
    figures = await (await api(`/analytics?${params}`)).json();
  } catch (e) {
    signOutIfRefused(e);
    return showError(e.message);
  }
  showError("");
  const noCalls = "No calls in this range.";
  $("calls-chart").replaceChildren(figures.days.length
    ? barChart("Calls per day by agent", figures.days.map((d) => ({ x: d.day, series: d.agent, value: d.calls })))
    : empty(noCalls));
  $("talk-chart").replaceChildren(figures.days.length
    ? barChart("Talk time per day", figures.days.map((d) => ({ x: d.day, series: d.agent, value: d.talk_seconds / 60 })), "")
    : empty(noCalls));
  const v2v = figures.voice_to_voice;
  $("v2v-chart").replaceChildren(v2v.length
    ? lineChart("Voice-to-voice p50 and p95 per day", {
      p50: v2v.map((d) => ({ x: d.day, y: d.p50_ms })),
      p95: v2v.map((d) => ({ x: d.day, y: d.p95_ms })),
    }, " ms")
    : empty("No timed replies in this range."));
  const outcomes = Object.entries(figures.outcomes);
  const total = outcomes.reduce((sum, [, n]) => sum + n, 0);
  $("outcomes").tBodies[0].replaceChildren(...(outcomes.length
    ? outcomes.map(([reason, n]) => el("tr", {},
      el("td", {}, endReason(reason) || reason), el("td", { class: "num" }, String(n)),
      el("td", { class: "share" }, el("span", { style: `width: ${Math.round(100 * n / total)}%` }))))
    : [el("tr", { class: "empty" }, el("td", {}, noCalls))]));
}

setUpSignIn(load);
$("range").addEventListener("input", load);
$("range").addEventListener("submit", (event) => event.preventDefault());
load();
