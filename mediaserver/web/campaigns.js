// Campaigns: the list with each one's state and progress, the new-campaign
// form, and an opened campaign (its counts, start/pause/resume/stop, the lead
// upload and the leads: campaign-leads.js). Polled every 3 s; only what changed
// is redrawn, and the form and the file chooser are never touched by the poll.
import { api, el, keyStore } from "/ui/api.js";
import { clearErrors, fillAgents, fillTrunks, readForm, resetForm, showErrors } from "/ui/campaign-form.js";
import { STATES, refreshLeads, setUpLeads, showLeads, stateName } from "/ui/campaign-leads.js";
import { shortWhen, when } from "/ui/format.js";
import { setUpSignIn, signOutIfRefused } from "/ui/session.js";

const $ = (id) => document.getElementById(id);
const PAGE = 50;
const ACTIONS = { start: ["draft"], pause: ["running"], resume: ["paused"], stop: ["draft", "running", "paused"] };
const PAST = { start: "Started", pause: "Paused", resume: "Resumed", stop: "Stopped" };
const FINAL = STATES.filter((state) => state !== "queued" && state !== "calling");
let offset = 0;
let shownList = null; // JSON of the list drawn
let openId = null; // the campaign shown below the list
let shownCampaign = null;
let pollFailed = false; // the poll clears only an error it showed itself

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = !message;
}

function notice(message) {
  $("notice").textContent = message;
  $("notice").hidden = !message;
}

function failed(e) {
  signOutIfRefused(e);
  notice("");
  showError(e.message);
}

function progress(campaign) {
  const total = Object.values(campaign.leads).reduce((sum, n) => sum + n, 0);
  const done = FINAL.reduce((sum, state) => sum + (campaign.leads[state] ?? 0), 0);
  return { total, done };
}

function progressBar(campaign) {
  const { total, done } = progress(campaign);
  return el("span", { class: "progress-line" },
    el("progress", { max: String(Math.max(total, 1)), value: String(done), "aria-label": `${campaign.name}: leads done` }),
    ` ${done} of ${total}`);
}

function counts(campaign) {
  return STATES.filter((state) => campaign.leads[state])
    .map((state) => `${stateName(state)} ${campaign.leads[state]}`).join(" · ") || "no leads";
}

async function loadList() {
  if (!keyStore.get()) {
    $("campaigns").tBodies[0].replaceChildren();
    shownList = null;
    openCampaign(null);
    pollFailed = true;
    return showError("Enter an API key to see campaigns.");
  }
  try {
    const page = await (await api(`/campaigns?limit=${PAGE}&offset=${offset}`)).json();
    if (pollFailed) showError("");
    pollFailed = false;
    const json = JSON.stringify(page);
    if (json !== shownList) drawList(page);
    shownList = json;
    if (openId !== null) await refreshCampaign();
  } catch (e) {
    pollFailed = true;
    failed(e);
  }
}

function drawList(page) {
  const rows = $("campaigns").tBodies[0];
  const focused = document.activeElement?.closest?.("#campaigns tr")?.dataset.id;
  rows.replaceChildren(...(page.items.length ? page.items.map(campaignRow)
    : [el("tr", { class: "empty" }, el("td", { colspan: "6" }, "No campaigns yet. An admin creates one with New campaign."))]));
  if (focused) rows.querySelector(`tr[data-id="${CSS.escape(focused)}"]`)?.focus();
  $("campaign-paging").hidden = page.total <= PAGE && offset === 0;
  const last = Math.min(offset + page.items.length, page.total);
  $("campaigns-count").textContent = page.total ? `${offset + 1}–${last} of ${page.total}` : "";
  $("campaigns-newer").disabled = offset === 0;
  $("campaigns-older").disabled = last >= page.total;
}

function campaignRow(campaign) {
  const row = el("tr", { tabindex: "0", "data-id": String(campaign.id), "data-state": campaign.state },
    el("td", {}, campaign.name), el("td", {}, campaign.spec.agent),
    el("td", {}, el("span", { class: `state state-${campaign.state}` }, campaign.state)),
    el("td", { class: "progress-cell" }, progressBar(campaign)), el("td", {}, counts(campaign)),
    el("td", { title: when(campaign.created_at), class: "nowrap" }, shortWhen(campaign.created_at)));
  const open = () => openCampaign(campaign.id).catch(failed);
  row.addEventListener("click", open);
  row.addEventListener("keydown", (event) => { if (event.key === "Enter") open(); });
  return row;
}

async function openCampaign(id) {
  openId = id;
  shownCampaign = null;
  $("campaign").hidden = id === null;
  await showLeads(id);
  if (id === null) return;
  $("editor").hidden = true;
  await refreshCampaign();
  $("campaign-title").focus();
}

async function refreshCampaign() {
  const id = openId;
  const campaign = await (await api(`/campaigns/${id}`)).json();
  if (id !== openId) return;
  const json = JSON.stringify(campaign);
  if (json !== shownCampaign) drawCampaign(campaign);
  shownCampaign = json;
  await refreshLeads();
}

function drawCampaign(campaign) {
  const spec = campaign.spec;
  $("campaign").dataset.state = campaign.state;
  $("campaign-title").textContent = `${campaign.name}: ${campaign.state}`;
  const hours = `${spec.schedule.days.join(", ")} ${spec.schedule.start}–${spec.schedule.end} (${spec.timezone})`;
  $("campaign-facts").textContent = [`agent ${spec.agent}`, `trunk ${spec.trunk}`,
    spec.caller_id ? `caller ID ${spec.caller_id}` : "", hours,
    `${spec.max_concurrent} at once`, `${spec.max_attempts} attempts`,
    spec.voicemail === "leave_message" ? "leaves a voicemail" : "hangs up on voicemail"].filter(Boolean).join(" · ");
  const { total, done } = progress(campaign);
  $("campaign-progress").max = Math.max(total, 1);
  $("campaign-progress").value = done;
  $("campaign-done").textContent = `${done} of ${total} leads done`;
  $("campaign-counts").replaceChildren(...STATES.filter((state) => campaign.leads[state]).map((state) =>
    el("li", { "data-state": state }, `${stateName(state)}: ${campaign.leads[state]}`)));
  for (const [action, from] of Object.entries(ACTIONS)) $(action).disabled = !from.includes(campaign.state);
  const closed = campaign.state === "stopped" || campaign.state === "finished";
  for (const control of [$("leads-file"), $("upload")]) control.disabled = closed;
}

async function move(action) {
  const button = $(action);
  if (action === "stop" && !confirm("Stop this campaign? Its queued leads end as stopped; it cannot be started again.")) return;
  button.disabled = true; // one click, one request
  try {
    const campaign = await (await api(`/campaigns/${openId}/${action}`, { method: "POST" })).json();
    showError("");
    notice(`${PAST[action]} ${campaign.name}.`);
    shownList = null;
    await loadList();
  } catch (e) {
    failed(e);
    shownCampaign = null;
    await refreshCampaign().catch(() => {});
  }
}

async function newCampaign() {
  resetForm();
  $("editor").hidden = false;
  $("campaign").hidden = true;
  await showLeads(null);
  openId = null;
  $("c-name").focus();
  try {
    fillAgents(await (await api("/agents")).json());
  } catch (e) {
    failed(e);
  }
  // the registration trunks, as suggestions (a static trunk_host is "default")
  api("/trunks").then((r) => r.json()).then(fillTrunks).catch(() => {});
}

async function create() {
  clearErrors();
  try {
    const response = await api("/campaigns", { method: "POST", body: JSON.stringify(readForm()) });
    const campaign = await response.json();
    showError("");
    notice(`Created ${campaign.name}. Upload its leads, then start it.`);
    shownList = null;
    await loadList();
    await openCampaign(campaign.id);
  } catch (e) {
    if (e.status === 422) return showErrors(e);
    failed(e);
  }
}

function restart() {
  offset = 0;
  shownList = null;
  $("editor").hidden = true;
  openCampaign(null);
  loadList();
}

setUpSignIn(restart);
setUpLeads(failed, () => { shownList = null; return loadList(); });
$("campaign-title").tabIndex = -1; // focus lands on an opened campaign
$("new-campaign").addEventListener("click", () => newCampaign().catch(failed));
$("cancel").addEventListener("click", () => { clearErrors(); $("editor").hidden = true; });
$("campaign-form").addEventListener("submit", (event) => { event.preventDefault(); create(); });
for (const action of Object.keys(ACTIONS)) $(action).addEventListener("click", () => move(action));
$("campaigns-newer").addEventListener("click", () => { offset = Math.max(0, offset - PAGE); loadList(); });
$("campaigns-older").addEventListener("click", () => { offset += PAGE; loadList(); });
loadList();
setInterval(() => {
  if (document.hidden || !keyStore.get()) return;
  loadList();
}, 3000);
