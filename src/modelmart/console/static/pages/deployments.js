// Deployments: status, instances and batching, live charts from /v1/metrics, scale and undeploy.
import { api } from "../api.js";
import { lineChart } from "../charts.js";
import { bucketDelta, buckets, errorCounts, parsePrometheus, quantile, total } from "../metrics.js";
import { announce, confirmButton, empty, guarded, h, number, section, select, table } from "../ui.js";

const POLL_MS = 2000;
// The strictest of the organisation's, the key's and the deployment's PII policy is in force.
const PII_POLICIES = ["off", "detect", "redact-output", "redact-input"];
const HISTORY = 40;

function controls(deployment, refresh) {
  const input = (name, value, min, label) =>
    h("input", { type: "number", name, value, min, "aria-label": `${label} of ${deployment.name}`, class: "narrow" });
  const instances = input("instances", deployment.instances, 1, "Instances");
  const batch = input("max_batch_size", deployment.max_batch_size, 1, "Max batch size");
  const delay = input("max_delay_ms", deployment.max_delay_ms, 0, "Max delay (ms)");
  const queue = input("max_queued_requests", deployment.max_queued_requests, 1, "Queue limit");
  const pii = select("pii_policy", PII_POLICIES, deployment.pii_policy ?? "off");
  pii.setAttribute("aria-label", `PII policy of ${deployment.name}`);
  const apply = h("button", { type: "button", onclick: () => guarded(async () => {
    const changed = pii.value !== (deployment.pii_policy ?? "off");
    const queueChanged = Number(queue.value) !== deployment.max_queued_requests;
    await api(`/v1/deployments/${deployment.name}`, { method: "PATCH", json: {
      instances: Number(instances.value), max_batch_size: Number(batch.value), max_delay_ms: Number(delay.value),
      ...(changed ? { pii_policy: pii.value } : {}),
      ...(queueChanged ? { max_queued_requests: Number(queue.value) } : {}) } });
    announce(`${deployment.name} updated`);
    await refresh();
  }) }, "Apply");
  const undeploy = confirmButton("Undeploy", () => guarded(async () => {
    await api(`/v1/deployments/${deployment.name}`, { method: "DELETE" });
    announce(`${deployment.name} undeployed`);
    await refresh();
  }));
  return h("div", { class: "inline" }, instances, batch, delay, queue, pii, apply,
    h("a", { href: `#/playground/${deployment.name}` }, "Try it"), undeploy);
}

/** Per deployment, a rolling window of rows/s and batch latency percentiles; overall 5xx rate. */
class Sampler {
  constructor() {
    this.previous = null;
    this.history = new Map();
    this.errors = [];
  }

  series(name) {
    if (!this.history.has(name)) this.history.set(name, { rate: [], p50: [], p95: [], p99: [] });
    return this.history.get(name);
  }

  push(samples, names, at) {
    const before = this.previous;
    this.previous = { samples, at };
    if (!before) return;
    const seconds = (at - before.at) / 1000;
    for (const name of names) {
      const s = this.series(name);
      const rows = total(samples, "modelmart_batch_size_sum", name) - total(before.samples, "modelmart_batch_size_sum", name);
      const window = bucketDelta(buckets(samples, "modelmart_batch_duration_seconds", name),
        buckets(before.samples, "modelmart_batch_duration_seconds", name));
      for (const [key, value] of [["rate", rows / seconds], ["p50", quantile(0.5, window) * 1000],
        ["p95", quantile(0.95, window) * 1000], ["p99", quantile(0.99, window) * 1000]]) {
        s[key].push(value);
        if (s[key].length > HISTORY) s[key].shift();
      }
    }
    const now = errorCounts(samples);
    const then = errorCounts(before.samples);
    this.serverWide = now.all > 0; // the operator's view: request counts of the whole server
    const all = now.all - then.all;
    this.errors.push(all ? (100 * (now.errors - then.errors)) / all : 0);
    if (this.errors.length > HISTORY) this.errors.shift();
  }
}

export async function render(root) {
  const sampler = new Sampler();
  const list = h("div", {});
  const charts = h("div", { class: "charts" });
  let deployments = [];
  const refresh = async () => {
    const fresh = (await api("/v1/deployments")).deployments;
    // Redraw only on a change, so a value being typed into a row is not wiped every poll.
    if (list.childElementCount && JSON.stringify(fresh) === JSON.stringify(deployments)) return;
    deployments = fresh;
    list.replaceChildren(table([
      ["Name", (d) => h("a", { href: `#/models/${d.model}` }, d.name)],
      ["Version", (d) => `v${d.served_version ?? d.version ?? "?"}${d.alias ? ` (${d.alias})` : ""}`],
      ["State", (d) => h("span", { class: `badge ${d.state}` }, d.state)],
      // Autoscaled: ready of what the autoscaler wants now, within its bounds.
      ["Ready", (d) => (d.max_instances == null
        ? `${d.ready_instances}/${d.instances}`
        : `${d.ready_instances}/${d.desired_instances} (autoscaled ${d.min_instances}–${d.max_instances})`)],
      ["Batching", (d) => `≤${d.max_batch_size} rows, ${d.max_delay_ms} ms`],
      ["Queue", (d) => `${d.queue_depth} of ${d.max_queued_requests}`],
      ["Isolation", (d) => (d.cpus?.length ? `${d.isolation} on CPUs ${d.cpus.join(",")}` : d.isolation)],
      ["PII policy", (d) => d.pii_policy ?? "off"],
      ["Error", (d) => d.error || ""],
      ["Scale, batching, queue limit, PII policy, undeploy", (d) => controls(d, refresh)],
    ], deployments, "Nothing is deployed. Open a model in the Catalogue and press Deploy."));
  };
  const tick = async () => {
    const text = await api("/v1/metrics");
    sampler.push(parsePrometheus(text), deployments.map((d) => d.name), performance.now());
    charts.replaceChildren(
      ...(sampler.serverWide
        ? [lineChart("Inference error rate (% of POSTs answered 5xx)", [{ name: "errors", values: sampler.errors }])]
        : []),
      ...deployments.flatMap((d) => {
        const s = sampler.series(d.name);
        return [
          lineChart(`${d.name}: rows per second`, [{ name: "rows/s", values: s.rate }]),
          lineChart(`${d.name}: batch latency (ms)`, [
            { name: "p50", values: s.p50 }, { name: "p95", values: s.p95 }, { name: "p99", values: s.p99 }]),
        ];
      }));
  };
  await refresh();
  root.replaceChildren(h("h1", {}, "Deployments"), list,
    section("Live", h("p", {}, `Refreshed every ${POLL_MS / 1000} s from /v1/metrics.`), charts));
  await guarded(tick);
  const timer = setInterval(() => guarded(async () => { await refresh(); await tick(); }), POLL_MS);
  if (!deployments.length) charts.replaceChildren(empty("Charts appear once a model is deployed."));
  return () => clearInterval(timer);
}
