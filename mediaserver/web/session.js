// Sign-in: the API key is typed once per browser session (sessionStorage),
// taken out of the URL when it came as #key=, and shown as signed in.
import { keyStore } from "/ui/api.js";

const $ = (id) => document.getElementById(id);

function render() {
  const signedIn = Boolean(keyStore.get());
  $("key-form").hidden = signedIn;
  $("signed-in").hidden = !signedIn;
}

// `onChange` runs after each sign-in and sign-out.
export function setUpSignIn(onChange) {
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
    onChange();
  });
  $("sign-out").addEventListener("click", () => {
    keyStore.clear();
    render();
    onChange();
    $("key").focus();
  });
  render();
}

// A refused key signs the page out, so that the box asks for another
// (429 comes only in place of a 401, for too many wrong keys).
export function signOutIfRefused(error) {
  if (error.status === 401 || error.status === 429) {
    keyStore.clear();
    render();
  }
}
