// The audit log: administrative actions, newest first.
import { api } from "../api.js";
import { field, guarded, h, table, when } from "../ui.js";

export async function render(root) {
  const action = h("input", { name: "action", placeholder: "e.g. POST /v1/orgs/{slug}/keys" });
  const results = h("div", {});
  const load = () => guarded(async () => {
    const query = new URLSearchParams({ limit: "200" });
    if (action.value) query.set("action", action.value);
    const entries = (await api(`/v1/audit?${query}`)).entries;
    results.replaceChildren(table([
      ["When", (e) => when(e.at)], ["Action", (e) => e.action], ["Target", (e) => e.target],
      ["Status", (e) => e.details?.status ?? ""], ["Key", (e) => e.key_id ?? ""], ["From", (e) => e.address ?? ""],
    ], entries, "No administrative actions recorded yet."));
  });
  const form = h("form", { class: "filters" }, field("Action", action), h("button", { type: "submit" }, "Filter"));
  form.addEventListener("submit", (event) => { event.preventDefault(); load(); });
  root.replaceChildren(h("h1", {}, "Audit log"), form, results);
  await load();
}
