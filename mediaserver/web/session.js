// Sign-in: the API key is typed once per browser session (sessionStorage),
// taken out of the URL when it came as #key=, and shown as signed in with the
// key's name and role (GET /auth/me). Until the role is known to be admin,
// <body data-role> is not "admin" and style.css hides every .admin-only
// control: a viewer never sees edit buttons it could not use.
import { api, keyStore } from "/ui/api.js";
import "/ui/nav.js"; // the header, with the sign-in form this module drives

const $ = (id) => document.getElementById(id);
let onRoleKnown = () => {};

function render() {
  const signedIn = Boolean(keyStore.get());
  $("key-form").hidden = signedIn;
  $("signed-in").hidden = !signedIn;
  if (!signedIn) setRole("");
}

function setRole(role, name = "") {
  document.body.dataset.role = role;
  $("who").textContent = role ? `Signed in${name ? ` as ${name}` : ""} · ${role}` : "Signed in";
  onRoleKnown(role);
}

export function isAdmin() {
  return document.body.dataset.role === "admin";
}

// True if the key was accepted; a refusal is shown, and signs out.
async function loadRole() {
  if (!keyStore.get()) return false;
  try {
    const me = await (await api("/auth/me")).json();
    setRole(me.role, me.name);
    return true;
  } catch (e) {
    signOutIfRefused(e);
    $("error").textContent = e.message;
    $("error").hidden = false;
    return false;
  }
}

// `onChange` runs after each sign-in and sign-out; `onRole` once the key's
// role is known (or forgotten, at sign-out).
export function setUpSignIn(onChange, onRole = () => {}) {
  onRoleKnown = onRole;
  const fromHash = new URLSearchParams(location.hash.slice(1)).get("key");
  if (fromHash) {
    keyStore.set(fromHash);
    history.replaceState(null, "", location.pathname + location.search);
  }
  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const key = $("key").value.trim();
    $("key").value = "";
    if (!key) return;
    keyStore.set(key);
    render();
    // the key is tried once (a wrong one counts towards the throttle), then the page loads
    loadRole().then((accepted) => { if (accepted) onChange(); });
  });
  $("sign-out").addEventListener("click", () => {
    keyStore.clear();
    render();
    onChange();
    $("key").focus();
  });
  setRole("");
  render();
  loadRole();
}

// A refused key signs the page out, so that the box asks for another
// (a 429 for too many wrong keys, not one for a good key's too many requests).
export function signOutIfRefused(error) {
  if (error.status === 401 || (error.status === 429 && /failed auth/.test(error.detail))) {
    keyStore.clear();
    render();
  }
}
