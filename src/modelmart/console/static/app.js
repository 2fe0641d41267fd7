// The shell: sign-in, organisation switcher and hash routing to one module per page.
import { api, session } from "./api.js";
import { clearAlert, clearStaleStatus, field, guarded, h, showError } from "./ui.js";
import * as catalog from "./pages/catalog.js";
import * as model from "./pages/model.js";
import * as deployments from "./pages/deployments.js";
import * as playground from "./pages/playground.js";
import * as explain from "./pages/explain.js";
import * as datasets from "./pages/datasets.js";
import * as keys from "./pages/keys.js";
import * as usage from "./pages/usage.js";
import * as audit from "./pages/audit.js";

const PAGES = { catalog, models: model, deployments, playground, explain, datasets, keys, usage, audit };
const main = document.getElementById("main");
let cleanup = null;

function signInPage(reason) {
  const input = h("input", { type: "password", name: "key", autocomplete: "off", required: true, placeholder: "mm_…" });
  const form = h("form", { class: "signin card" },
    h("h1", {}, "Sign in"),
    h("p", {}, "Paste an API key. The first start of the server printed the operator's key; an organisation's owner makes more under Keys."),
    field("API key", input),
    h("button", { type: "submit" }, "Sign in"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    session.key = input.value.trim();
    if (await start()) location.hash = "#/catalog";
  });
  main.replaceChildren(form);
  if (reason) showError(reason);
  input.focus();
}

/** Who the key is; false (and the sign-in page) when it is not valid. */
async function start() {
  clearAlert();
  try {
    session.me = await api("/v1/me");
  } catch (error) {
    session.key = null;
    renderSession();
    signInPage(error);
    return false;
  }
  await renderSession();
  await route();
  return true;
}

async function renderSession() {
  const nav = document.getElementById("nav");
  const box = document.getElementById("session");
  if (!session.me) {
    nav.hidden = true;
    box.replaceChildren();
    return;
  }
  nav.hidden = false;
  const organisations = (await guarded(() => api("/v1/orgs")))?.organisations || [];
  // With accounts turned off there is no calling organisation: the first one stands in.
  const own = session.me.organisation || organisations[0]?.slug;
  if (!session.org || !organisations.some((org) => org.slug === session.org)) session.org = own;
  const switcher = h("select", { name: "organisation" },
    organisations.map((org) => h("option", { value: org.slug, selected: org.slug === session.org }, org.name)));
  switcher.addEventListener("change", () => {
    session.org = switcher.value;
    route();
  });
  const signOut = h("button", { type: "button", class: "secondary" }, "Sign out");
  signOut.addEventListener("click", () => document.dispatchEvent(new CustomEvent("signed-out")));
  box.replaceChildren(field("Organisation", switcher),
    h("span", { class: "who" }, session.me.auth_enabled ? `${own} · ${session.me.role}` : "accounts off"), signOut);
}

async function route() {
  if (cleanup) cleanup();
  cleanup = null;
  if (!session.me) return;
  const [name = "catalog", ...rest] = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  const page = PAGES[name] || catalog;
  for (const link of document.querySelectorAll("#nav a")) {
    link.toggleAttribute("aria-current", link.getAttribute("href") === `#/${name}`);
  }
  clearAlert();
  clearStaleStatus();
  // Each visit renders into its own view: a page still loading when the user moved on (or was
  // signed out) finishes into a view that is no longer on screen instead of over the new one.
  const view = h("div", { class: "view" }, h("p", {}, "Loading…"));
  main.replaceChildren(view);
  try {
    const done = (await page.render(view, rest)) || null;
    if (view.isConnected) cleanup = done;
    else if (done) done();
  } catch (error) {
    if (!view.isConnected) return;
    view.replaceChildren();
    showError(error);
  }
  if (view.isConnected) main.focus({ preventScroll: true });
}

document.addEventListener("signed-out", () => {
  if (cleanup) cleanup();
  session.key = null;
  session.org = null;
  session.me = null;
  renderSession();
  signInPage();
});
window.addEventListener("hashchange", route);

/** Without a key, a server with accounts turned off answers anyway: no sign-in needed. */
async function open() {
  if (session.key) return start();
  try {
    session.me = await api("/v1/me");
  } catch {
    signInPage();
    return false;
  }
  await renderSession();
  await route();
  return true;
}

open();
