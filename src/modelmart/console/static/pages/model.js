// One model: its card, versions and metrics, version cards, evaluation report, aliases and a deploy form.
import { api, send } from "../api.js";
import { announce, field, guarded, h, number, section, select, table, when } from "../ui.js";
import { versionCard } from "./version_card.js";

function card(entry) {
  if (!entry) return null;
  const licences = Object.entries(entry.licences || {}).map(([pkg, licence]) => `${pkg}: ${licence}`);
  return section("Model card",
    h("p", {}, entry.description),
    h("dl", { class: "facts" },
      h("dt", {}, "Runtime"), h("dd", {}, entry.runtime),
      h("dt", {}, "Size"), h("dd", {}, `${number((entry.size_bytes || 0) / 1048576, 1)} MiB`),
      h("dt", {}, "Licences"), h("dd", {}, licences.join("; ") || "—"),
      h("dt", {}, "Available"), h("dd", {}, entry.available === false ? `no — ${entry.install_hint || entry.unavailable_reason || "package missing"}` : "yes")));
}

function reportFrame(title) {
  // The report's HTML is the server's own, shown sandboxed: no scripts run in it.
  return h("iframe", { title, sandbox: "", class: "report" });
}

async function showHtml(frame, path) {
  const html = await (await send(path, { headers: { accept: "text/html" } })).text();
  frame.srcdoc = html;
  frame.hidden = false;
}

function reports(name, versions) {
  const numbers = versions.map((v) => [String(v.version), `v${v.version}`]);
  const frame = reportFrame(`Evaluation report of ${name}`);
  frame.hidden = true;
  const one = select("report-version", numbers, numbers.at(-1)?.[0]);
  const a = select("compare-a", numbers, numbers[0]?.[0]);
  const b = select("compare-b", numbers, numbers.at(-1)?.[0]);
  const open = h("button", { type: "button", onclick: () => guarded(() =>
    showHtml(frame, `/v1/registry/models/${name}/versions/${one.value}/report?format=html`)) }, "Open report");
  const compare = h("button", { type: "button", onclick: () => guarded(() =>
    showHtml(frame, `/v1/registry/models/${name}/compare?a=${a.value}&b=${b.value}&format=html`)) }, "Compare");
  return section("Evaluation report",
    h("p", {}, "Trained versions carry a report with test metrics, intervals and plots."),
    h("div", { class: "filters" }, field("Version", one), open, field("Version A", a), field("Version B", b), compare),
    frame);
}

function aliases(name, info, versions) {
  const rows = Object.entries(info.aliases || {}).map(([alias, version]) => ({ alias, version }));
  const alias = h("input", { name: "alias", required: true, placeholder: "production" });
  const version = select("alias-version", versions.map((v) => [String(v.version), `v${v.version}`]), String(info.latest_version));
  const form = h("form", { class: "filters" }, field("Alias", alias), field("Points to", version),
    h("button", { type: "submit" }, "Move alias"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    guarded(async () => {
      await api(`/v1/registry/models/${name}/aliases/${encodeURIComponent(alias.value)}`,
        { method: "PUT", json: { version: Number(version.value) } });
      announce(`Alias ${alias.value} now points to v${version.value}`);
      location.hash = `#/models/${name}?${Date.now()}`;
    });
  });
  return section("Aliases",
    table([["Alias", (r) => r.alias], ["Version", (r) => `v${r.version}`]], rows, "No aliases yet."), form);
}

export function deployForm(name, versions) {
  const number = (fieldName, value, min) => h("input", { type: "number", name: fieldName, value, min, required: true });
  const version = select("version", versions.map((v) => [String(v.version), `v${v.version}`]), String(versions.at(-1)?.version));
  const instances = number("instances", 1, 1);
  const batch = number("max_batch_size", 32, 1);
  const delay = number("max_delay_ms", 5, 0);
  const isolation = select("isolation", [["process", "worker process (isolated)"], ["thread", "thread (trusted, fastest start)"]], "process");
  const button = h("button", { type: "submit" }, "Deploy");
  const form = h("form", { class: "filters", "aria-label": `Deploy ${name}` },
    field("Version", version), field("Instances", instances), field("Max batch size", batch),
    field("Max delay (ms)", delay), field("Isolation", isolation), button);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    button.disabled = true;
    announce(`Deploying ${name}…`);
    guarded(async () => {
      await api("/v1/deployments", { method: "POST", json: {
        model: name, version: Number(version.value), instances: Number(instances.value),
        max_batch_size: Number(batch.value), max_delay_ms: Number(delay.value), isolation: isolation.value,
      } });
      announce(`${name} deployed`);
      location.hash = "#/deployments";
    }).finally(() => { button.disabled = false; });
  });
  return section("Deploy", form);
}

export async function render(root, [name]) {
  name = name.split("?")[0];
  const [info, listed, entry] = await Promise.all([
    api(`/v1/registry/models/${name}`),
    api(`/v1/registry/models/${name}/versions`),
    api(`/v1/catalog/${name}`).catch(() => null),
  ]);
  const versions = listed.versions;
  const metricNames = [...new Set(versions.flatMap((v) => Object.keys(v.metrics || {})))];
  root.replaceChildren(
    h("h1", {}, name), h("p", {}, `${info.task} · owner ${info.owner} · created ${when(info.created_at)}`),
    h("p", {}, info.description || ""),
    deployForm(name, versions),
    card(entry) || "",
    section("Versions", table([
      ["Version", (v) => `v${v.version}`], ["Runtime", (v) => v.runtime], ["Format", (v) => v.format],
      ...metricNames.map((metric) => [metric, (v) => number(v.metrics?.[metric])]),
      ["Size", (v) => `${number(v.artifact_size / 1024, 1)} KiB`], ["Created", (v) => when(v.created_at)],
    ], versions, "No versions yet: push one with `modelmart models push`.")),
    versionCard(name, versions) || "",
    reports(name, versions),
    aliases(name, info, versions));
}
