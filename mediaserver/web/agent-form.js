// The agent form: a spec (the API's AgentSpec) in, a spec out.
import { el } from "/ui/api.js";

const $ = (id) => document.getElementById(id);
const TEXT = ["system_prompt", "greeting", "stt_prompt", "transfer_target"];
const OPTIONAL = ["stt_model", "llm_model", "tts_voice"]; // "": the server's [models]
const NUMBERS = ["max_call_seconds", "silence_seconds", "max_turns"];

function menuOption(option = { digit: "", language: "", greeting: "" }) {
  const remove = el("button", { type: "button", class: "quiet" }, "Remove");
  const item = el("li", { class: "menu-option" },
    el("input", { "aria-label": "Digit", name: "digit", value: option.digit, size: "2", maxlength: "1", required: "" }),
    el("input", { "aria-label": "Language", name: "language", value: option.language, size: "6", required: "" }),
    el("input", { "aria-label": "Greeting", name: "greeting", value: option.greeting, required: "" }),
    remove);
  remove.addEventListener("click", () => item.remove());
  return item;
}

// The HTTP tools textarea could not be read: shown next to it, nothing is sent.
export class ToolsSyntaxError extends Error {}

export function showToolsError(message) {
  $("tools-error").textContent = message;
  $("tools-error").hidden = !message;
  if (message) $("f-http_tools").setAttribute("aria-invalid", "true");
  else $("f-http_tools").removeAttribute("aria-invalid");
}

function readTools() {
  const text = $("f-http_tools").value.trim();
  if (!text) return [];
  let tools;
  try {
    tools = JSON.parse(text);
  } catch (e) {
    throw new ToolsSyntaxError(`HTTP tools: not valid JSON (${e.message}).`);
  }
  if (!Array.isArray(tools)) tools = [tools]; // one tool written without its list
  if (!tools.every((tool) => tool && typeof tool === "object" && !Array.isArray(tool))) {
    throw new ToolsSyntaxError("HTTP tools: expected a list of objects, one per tool.");
  }
  showToolsError("");
  return tools;
}

export function fillForm(name, spec) {
  const httpTools = spec.tools.filter((tool) => typeof tool === "object");
  $("f-http_tools").value = httpTools.length ? JSON.stringify(httpTools, null, 2) : "";
  showToolsError("");
  $("f-name").value = name;
  for (const field of TEXT) $(`f-${field}`).value = spec[field] ?? "";
  for (const field of OPTIONAL) $(`f-${field}`).value = spec[field] ?? "";
  for (const field of NUMBERS) $(`f-${field}`).value = spec[field];
  $("f-languages").value = spec.languages.join(", ");
  $("f-record").checked = spec.record;
  for (const box of document.querySelectorAll("input[name=tool]")) box.checked = spec.tools.includes(box.value);
  $("menu").replaceChildren(...spec.ivr_menu.map(menuOption));
}

export function readForm() {
  const spec = {};
  for (const field of TEXT) spec[field] = $(`f-${field}`).value.trim();
  if (!spec.stt_prompt) spec.stt_prompt = null;
  for (const field of OPTIONAL) spec[field] = $(`f-${field}`).value.trim() || null;
  for (const field of NUMBERS) spec[field] = Number($(`f-${field}`).value);
  spec.languages = $("f-languages").value.split(",").map((l) => l.trim()).filter(Boolean);
  spec.record = $("f-record").checked;
  spec.tools = [
    ...[...document.querySelectorAll("input[name=tool]:checked")].map((box) => box.value),
    ...readTools(),
  ];
  spec.ivr_menu = [...document.querySelectorAll("#menu li")].map((item) => ({
    digit: item.querySelector("[name=digit]").value.trim(),
    language: item.querySelector("[name=language]").value.trim(),
    greeting: item.querySelector("[name=greeting]").value.trim(),
  }));
  return spec;
}

export function addMenuOption() {
  const item = menuOption();
  $("menu").append(item);
  item.querySelector("input").focus();
}

// What changed from `before` to `after`, field by field.
export function diff(before, after) {
  const fields = [...new Set([...Object.keys(before), ...Object.keys(after)])];
  return fields
    .filter((field) => JSON.stringify(before[field]) !== JSON.stringify(after[field]))
    .map((field) => ({ field, before: before[field], after: after[field] }));
}

export function setReadOnly(readOnly) {
  for (const control of $("agent-form").elements) {
    if (control.id !== "save") control.disabled = readOnly;
  }
  $("save").hidden = readOnly;
  $("add-option").hidden = readOnly;
}
