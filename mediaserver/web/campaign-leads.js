// One campaign's leads: the table (filter by state, paging), a lead's attempts
// (each linked to its call record), the CSV upload with its per-row report, and
// the export. The poll redraws a table only when what it shows has changed.
import { api, el } from "/ui/api.js";
import { endReason, shortWhen, when } from "/ui/format.js";

export const STATES = ["queued", "calling", "answered", "voicemail", "busy", "no_answer", "rejected", "failed", "dnc", "stopped"];
const PAGE = 50;
const $ = (id) => document.getElementById(id);
let campaignId = null;
let offset = 0;
let shownLeads = null; // JSON of the page drawn
let leadId = null; // the lead whose attempts are open
let shownLead = null;
let failed = () => {}; // shows an error (setUpLeads)
let imported = () => {}; // after an upload: the campaign's counts are redrawn

const NAMES = { dnc: "Do not call", unclean: "Cut short (server stopped)", human: "Answered (a person)", machine: "Answering machine" };

export function stateName(state) {
  return NAMES[state] ?? endReason(state);
}

export function callLink(callId) {
  return el("a", { href: `/ui/calls.html#call=${encodeURIComponent(callId)}` }, callId.slice(0, 8));
}

// Opens another campaign's leads (or forgets them: null).
export async function showLeads(id) {
  if (id === campaignId) return;
  campaignId = id;
  offset = 0;
  shownLeads = null;
  leadId = null;
  shownLead = null;
  $("lead").hidden = true;
  $("lead-state").value = "";
  $("import-report").hidden = true;
  $("leads").tBodies[0].replaceChildren();
  if (id !== null) await refreshLeads();
}

export async function refreshLeads() {
  if (campaignId === null) return;
  const id = campaignId;
  const params = new URLSearchParams({ limit: String(PAGE), offset: String(offset) });
  if ($("lead-state").value) params.set("state", $("lead-state").value);
  const page = await (await api(`/campaigns/${id}/leads?${params}`)).json();
  if (id !== campaignId) return; // another campaign was opened meanwhile
  const json = JSON.stringify(page);
  if (json !== shownLeads) drawLeads(page);
  shownLeads = json;
  if (leadId !== null) await refreshLead();
}

function drawLeads(page) {
  const focused = document.activeElement?.closest?.("#leads tr")?.dataset.id;
  const rows = $("leads").tBodies[0];
  if (page.items.length === 0) {
    const empty = $("lead-state").value ? "No leads in this state." : "No leads yet. Upload a CSV of leads.";
    rows.replaceChildren(el("tr", { class: "empty" }, el("td", { colspan: "8" }, empty)));
  } else {
    rows.replaceChildren(...page.items.map(leadRow));
  }
  if (focused) rows.querySelector(`tr[data-id="${CSS.escape(focused)}"]`)?.focus();
  $("lead-paging").hidden = page.total <= PAGE && offset === 0;
  const last = Math.min(offset + page.items.length, page.total);
  $("leads-count").textContent = page.total ? `${offset + 1}–${last} of ${page.total}` : "";
  $("leads-prev").disabled = offset === 0;
  $("leads-next").disabled = last >= page.total;
}

function leadRow(lead) {
  const row = el("tr", { tabindex: "0", "data-id": String(lead.id), "aria-label": `Lead ${lead.phone}: attempts` },
    el("td", { class: "num" }, String(lead.line)), el("td", { class: "nowrap" }, lead.phone), el("td", {}, lead.name),
    el("td", { "data-state": lead.state }, stateName(lead.state)), el("td", { class: "num" }, String(lead.attempts)),
    el("td", { title: when(lead.next_at), class: "nowrap" }, lead.state === "queued" ? shortWhen(lead.next_at) || "now" : ""),
    el("td", {}, outcome(lead.outcome, lead.sip_code)), el("td", {}, lead.call_id ? callLink(lead.call_id) : ""));
  const open = (event) => {
    if (event.target.closest("a")) return; // the call link goes to the calls page
    leadId = lead.id;
    shownLead = null;
    refreshLead().catch(failed);
  };
  row.addEventListener("click", open);
  row.addEventListener("keydown", (event) => { if (event.key === "Enter") open(event); });
  return row;
}

function outcome(name, sipCode) {
  if (!name) return "";
  return sipCode ? `${stateName(name)} (${sipCode})` : stateName(name);
}

async function refreshLead() {
  const id = campaignId;
  const lead = await (await api(`/campaigns/${id}/leads/${leadId}`)).json();
  if (id !== campaignId || lead.id !== leadId) return;
  const json = JSON.stringify(lead);
  if (json === shownLead) return;
  shownLead = json;
  $("lead").hidden = false;
  $("lead-title").textContent = `Lead ${lead.phone}${lead.name ? ` (${lead.name})` : ""}: ${stateName(lead.state)}`;
  const attempts = lead.attempt_log.map((attempt) => el("tr", {},
    el("td", { class: "num" }, String(attempt.number)),
    el("td", { title: when(attempt.started_at) }, shortWhen(attempt.started_at)),
    el("td", { title: when(attempt.ended_at) }, attempt.ended_at ? shortWhen(attempt.ended_at) : "calling"),
    el("td", {}, attempt.outcome ? stateName(attempt.outcome) : ""),
    el("td", { class: "num" }, attempt.sip_code ? String(attempt.sip_code) : ""),
    el("td", {}, attempt.call_id ? callLink(attempt.call_id) : "no call record")));
  $("attempts").tBodies[0].replaceChildren(...(attempts.length ? attempts
    : [el("tr", { class: "empty" }, el("td", { colspan: "6" }, "Not called yet."))]));
}

// The report of an upload: how many came in, and each refused row's line and reason.
export async function uploadLeads() {
  const file = $("leads-file").files[0];
  if (!file || campaignId === null) return;
  const body = new FormData();
  body.append("file", file);
  const report = await (await api(`/campaigns/${campaignId}/leads`, { method: "POST", body })).json();
  const summary = `Imported ${report.imported} lead${report.imported === 1 ? "" : "s"}` +
    (report.rejected ? `; ${report.rejected} row${report.rejected === 1 ? " was" : "s were"} refused:` : ".");
  const parts = [el("p", {}, summary)];
  if (report.errors.length) {
    parts.push(el("table", { id: "import-errors" },
      el("thead", {}, el("tr", {}, el("th", {}, "Line"), el("th", {}, "Reason"))),
      el("tbody", {}, ...report.errors.map((error) =>
        el("tr", {}, el("td", { class: "num" }, String(error.line)), el("td", {}, error.reason))))));
    if (report.rejected > report.errors.length) parts.push(el("p", { class: "hint" }, `(the first ${report.errors.length} shown)`));
  }
  $("import-report").replaceChildren(...parts);
  $("import-report").hidden = false;
  $("upload-form").reset();
  shownLeads = null;
  await imported();
}

export async function exportLeads() {
  const blob = await (await api(`/campaigns/${campaignId}/leads.csv`)).blob();
  const href = URL.createObjectURL(blob);
  const link = el("a", { href, download: `campaign-${campaignId}-leads.csv` });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(href), 10000);
}

export function setUpLeads(onFailure, onImported) {
  failed = onFailure;
  imported = onImported;
  $("lead-state").append(...STATES.map((state) => el("option", { value: state }, stateName(state))));
  const reload = () => { shownLeads = null; refreshLeads().catch(failed); };
  $("lead-state").addEventListener("change", () => { offset = 0; reload(); });
  $("leads-prev").addEventListener("click", () => { offset = Math.max(0, offset - PAGE); reload(); });
  $("leads-next").addEventListener("click", () => { offset += PAGE; reload(); });
  $("export").addEventListener("click", () => exportLeads().catch(failed));
  $("upload-form").addEventListener("submit", (event) => {
    event.preventDefault();
    uploadLeads().catch(failed);
  });
}
