// The header every page shares: its title, the links between pages and, where
// the page reads the API with a key, the sign-in form. A page's HTML holds
// only <header data-sign-in> (or <header> for the softphone: it has no key).
import { el } from "/ui/api.js";

const PAGES = [
  ["/ui/calls.html", "Calls"], ["/ui/live.html", "Live"], ["/ui/agents.html", "Agents"],
  ["/ui/campaigns.html", "Campaigns"], ["/ui/analytics.html", "Analytics"], ["/ui/phone.html", "Softphone"],
];

function signInForm() {
  return [
    el("form", { id: "key-form", "aria-label": "API key" },
      el("label", { for: "key" }, "API key"),
      el("input", { id: "key", type: "password", autocomplete: "off", placeholder: "msk_…", required: "" }),
      el("button", { type: "submit" }, "Sign in")),
    el("p", { id: "signed-in", hidden: "" },
      el("span", { id: "who" }, "Signed in"),
      el("button", { id: "sign-out", type: "button", class: "quiet" }, "Sign out")),
  ];
}

const header = document.querySelector("body > header");
const links = PAGES.map(([href, name]) =>
  el("a", href === location.pathname ? { href, "aria-current": "page" } : { href }, name));
header.prepend(
  el("h1", {}, document.title.split(" · ")[0]),
  el("nav", { "aria-label": "Pages" }, ...links),
  ...(header.hasAttribute("data-sign-in") ? signInForm() : []));
