// Catalogue and registered models: search and filter by task, runtime and stage.
import { api } from "../api.js";
import { field, h, section, select, table } from "../ui.js";

const STAGES = [["", "any stage"], ["deployed", "deployed"], ["available", "available, not deployed"],
  ["unavailable", "unavailable (package missing)"]];

function stageOf(entry) {
  if (entry.deployed) return "deployed";
  return entry.available === false ? "unavailable" : "available";
}

function matches(entry, filters) {
  const text = `${entry.name} ${entry.title || ""} ${entry.description || ""}`.toLowerCase();
  return text.includes(filters.search.toLowerCase()) &&
    (!filters.task || entry.task === filters.task) &&
    (!filters.runtime || entry.runtime === filters.runtime) &&
    (!filters.stage || stageOf(entry) === filters.stage);
}

function modelLink(name) {
  return h("a", { href: `#/models/${encodeURIComponent(name)}` }, name);
}

export async function render(root) {
  const [catalogue, registry, running] = await Promise.all([
    api("/v1/catalog"), api("/v1/registry/models"), api("/v1/deployments")]);
  const deployed = new Set(running.deployments.map((d) => d.model));
  const known = new Set(catalogue.models.map((m) => m.name));
  const entries = [
    ...catalogue.models.map((m) => ({ ...m, deployed: deployed.has(m.name), source: "catalogue" })),
    ...registry.models.filter((m) => !known.has(m.name))
      .map((m) => ({ ...m, runtime: "", available: true, deployed: deployed.has(m.name), source: "yours" })),
  ];
  const distinct = (key) => ["", ...new Set(entries.map((e) => e[key]).filter(Boolean))].sort()
    .map((v) => [v, v || "any"]);
  const search = h("input", { type: "search", name: "search", placeholder: "name or words" });
  const task = select("task", distinct("task"), "");
  const runtime = select("runtime", distinct("runtime"), "");
  const stage = select("stage", STAGES, "");
  const results = h("div", {});
  const draw = () => {
    const filters = { search: search.value, task: task.value, runtime: runtime.value, stage: stage.value };
    const shown = entries.filter((entry) => matches(entry, filters));
    results.replaceChildren(table([
      ["Model", (e) => modelLink(e.name)],
      ["What it does", (e) => e.title || e.description || "—"],
      ["Task", (e) => e.task],
      ["Runtime", (e) => e.runtime || "—"],
      ["Source", (e) => e.source],
      ["Stage", (e) => h("span", { class: `badge ${stageOf(e)}` }, stageOf(e))],
    ], shown, entries.length ? "No model matches these filters." :
      "No models yet: push one with `modelmart models push` or train one under Datasets & training."));
  };
  for (const control of [search, task, runtime, stage]) control.addEventListener("input", draw);
  draw();
  root.replaceChildren(h("h1", {}, "Catalogue and models"),
    section("Find a model", h("div", { class: "filters" },
      field("Search", search), field("Task", task), field("Runtime", runtime), field("Stage", stage))),
    results);
}
