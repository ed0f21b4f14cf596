// The new-campaign form: the API's CampaignSpec out, and the API's refusals
// (a 422's field errors, or one reason) shown beside the fields they name.
import { el } from "/ui/api.js";

const $ = (id) => document.getElementById(id);
const NUMBERS = ["max_concurrent", "max_attempts", "ring_seconds"];
const RETRIES = ["busy", "no_answer", "voicemail", "failed"];

export function readForm() {
  const text = (id) => $(id).value.trim();
  const spec = {
    name: text("c-name"),
    agent: $("c-agent").value,
    trunk: text("c-trunk"),
    caller_id: text("c-caller_id"),
    country: text("c-country"),
    timezone: text("c-timezone"),
    schedule: {
      days: [...document.querySelectorAll("input[name=day]:checked")].map((box) => box.value),
      start: text("c-schedule-start"),
      end: text("c-schedule-end"),
    },
    retry_seconds: {},
    voicemail: $("c-voicemail").value,
    voicemail_message: $("c-voicemail_message").value.trim(),
  };
  // an empty box is sent as it is ("" is refused with a reason), not as a default
  for (const field of NUMBERS) spec[field] = numberOr(text(`c-${field}`), text(`c-${field}`));
  for (const outcome of RETRIES) spec.retry_seconds[outcome] = numberOr(text(`c-retry_seconds-${outcome}`), null);
  return spec;
}

function numberOr(value, empty) {
  return value === "" ? empty : Number(value);
}

export function fillAgents(agents) {
  const names = [...new Set(["default", ...agents.map((agent) => agent.name)])];
  const chosen = $("c-agent").value;
  $("c-agent").replaceChildren(...names.map((name) => el("option", { value: name }, name)));
  if (names.includes(chosen)) $("c-agent").value = chosen;
}

export function fillTrunks(trunks) {
  $("trunk-names").replaceChildren(...trunks.map((trunk) => el("option", { value: trunk.name })));
}

export function clearErrors() {
  $("form-errors").replaceChildren();
  $("form-errors").hidden = true;
  for (const field of document.querySelectorAll("#campaign-form [aria-invalid]")) {
    field.removeAttribute("aria-invalid");
    field.removeAttribute("aria-describedby");
  }
}

// A 422 from FastAPI: {detail: [{loc: ["body", "schedule", "start"], msg}]}; the
// API's own checks (an unknown agent, a trunk): {detail: "the reason"}.
export function showErrors(error) {
  clearErrors();
  let problems = [{ loc: [], msg: error.message }];
  try {
    const detail = JSON.parse(error.detail);
    if (Array.isArray(detail)) problems = detail;
  } catch { /* a sentence, not JSON */ }
  const items = problems.map((problem, index) => {
    const path = (problem.loc || []).filter((part) => part !== "body");
    const field = fieldOf(path);
    const id = `form-error-${index}`;
    if (field) {
      field.setAttribute("aria-invalid", "true");
      field.setAttribute("aria-describedby", id);
    }
    const where = path.length ? `${label(field, path)}: ` : "";
    return el("li", { id }, where + String(problem.msg).replace(/^Value error, /, ""));
  });
  $("form-errors").replaceChildren(...items);
  $("form-errors").hidden = false;
  const first = document.querySelector("#campaign-form [aria-invalid]");
  (first ?? $("c-name")).focus();
}

// The closest control for a path: schedule.days.2 is the days' group.
function fieldOf(path) {
  for (let length = path.length; length > 0; length--) {
    const field = document.getElementById(`c-${path.slice(0, length).join("-")}`);
    if (field) return field;
  }
  return null;
}

// The field's own label where it has one ("Time zone of leads…"), else its path.
function label(field, path) {
  if (field?.labels?.length) return field.labels[0].textContent;
  const legend = field?.querySelector?.("legend");
  if (legend) return legend.textContent;
  return field?.getAttribute("aria-label") ?? path.join(".");
}

export function resetForm() {
  clearErrors();
  $("campaign-form").reset();
  // a new campaign's leads default to the operator's own time zone
  $("c-timezone").value = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
}
