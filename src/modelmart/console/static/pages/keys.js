// API keys of the selected organisation: create (the secret is shown once), change a key's PII
// policy, revoke.
import { api, session } from "../api.js";
import { announce, code, confirmButton, field, guarded, h, section, select, table, when } from "../ui.js";

const ROLES = ["inference", "viewer", "developer", "admin", "owner"];
// The strictest of the organisation's, the key's and the deployment's PII policy is in force.
const PII_POLICIES = [["", "as the organisation"], "detect", "redact-output", "redact-input"];

export async function render(root) {
  const org = session.org;
  // A key's own policy, changed in place: the key keeps its secret.
  const policyOf = (key) => {
    const choice = select(`pii_policy_${key.id}`, PII_POLICIES, key.pii_policy ?? "");
    choice.setAttribute("aria-label", `PII policy of ${key.name}`);
    choice.addEventListener("change", () => guarded(async () => {
      await api(`/v1/orgs/${org}/keys/${key.id}`, { method: "PATCH", json: { pii_policy: choice.value || null } });
      announce(`Key ${key.name}: PII policy ${choice.value || "as the organisation"}`);
    }));
    return choice;
  };
  const keys = (await api(`/v1/orgs/${org}/keys`)).keys;
  const secret = h("div", {});
  const name = h("input", { name: "key-name", required: true, placeholder: "web-app" });
  const role = select("role", ROLES, "inference");
  const expires = h("input", { type: "number", name: "expires_in_days", min: 1, placeholder: "never" });
  const perMinute = h("input", { type: "number", name: "requests_per_minute", min: 1, placeholder: "the plan's" });
  const pii = select("pii_policy", PII_POLICIES, "");
  const form = h("form", { class: "filters" }, field("Name", name), field("Role", role),
    field("Expires in (days)", expires), field("Requests per minute", perMinute), field("PII policy", pii),
    h("button", { type: "submit" }, "Create key"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    guarded(async () => {
      const created = await api(`/v1/orgs/${org}/keys`, { method: "POST", json: {
        name: name.value, role: role.value,
        expires_in_days: expires.value ? Number(expires.value) : null,
        requests_per_minute: perMinute.value ? Number(perMinute.value) : null,
        pii_policy: pii.value || null } });
      await render(root);
      root.querySelector("#secret").replaceChildren(section("New key: copy it now",
        h("p", {}, "This is the only time the secret is shown; ModelMart keeps only its hash."),
        code(created.key),
        h("button", { type: "button", onclick: () => navigator.clipboard?.writeText(created.key).then(() => announce("Copied")) }, "Copy")));
    });
  });
  secret.id = "secret";
  root.replaceChildren(h("h1", {}, `Keys of ${org}`), secret, section("Create a key", form),
    section("Keys", table([
      ["Name", (k) => k.name], ["Prefix", (k) => h("code", {}, k.prefix)], ["Role", (k) => k.role],
      ["Models", (k) => (k.models || ["all"]).join(", ")], ["Per minute", (k) => k.requests_per_minute ?? "plan"],
      ["PII policy", (k) => (k.revoked_at ? k.pii_policy ?? "organisation's" : policyOf(k))],
      ["Created", (k) => when(k.created_at)], ["Expires", (k) => when(k.expires_at)],
      ["Status", (k) => (k.revoked_at ? `revoked ${when(k.revoked_at)}` :
        k.id === session.me?.key_id ? "active (signed in with it)" : "active")],
      ["", (k) => (k.revoked_at ? "" : confirmButton("Revoke", () => guarded(async () => {
        await api(`/v1/orgs/${org}/keys/${k.id}`, { method: "DELETE" });
        announce(`Key ${k.name} revoked`);
        await render(root);
      })))],
    ], keys, "This organisation has no keys.")));
}
