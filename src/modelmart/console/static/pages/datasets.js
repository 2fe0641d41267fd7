// Datasets and training: upload with progress, preview, a job form, live progress and curves.
import { api, events, upload } from "../api.js";
import { lineChart } from "../charts.js";
import { announce, field, guarded, h, number, section, select, showError, table, when } from "../ui.js";

const FAMILIES = ["logistic", "linear", "mlp", "cnn", "rnn", "lstm", "gru", "transformer",
  "embedding-head", "matrix-factorization", "als"];
const TASKS = ["classification", "regression", "text-classification", "image-classification", "recommendation"];

function uploadForm(refresh) {
  const name = h("input", { name: "dataset-name", required: true, pattern: "[a-z0-9][a-z0-9_.-]*", placeholder: "flowers" });
  const file = h("input", { type: "file", name: "file", required: true, accept: ".csv,.parquet,.jsonl,.zip" });
  const target = h("input", { name: "target", placeholder: "the last column by default" });
  const progress = h("progress", { max: 1, value: 0, "aria-label": "Upload progress" });
  const button = h("button", { type: "submit" }, "Upload");
  const form = h("form", { class: "filters" }, field("Dataset name", name), field("File", file),
    field("Target column", target), button, progress);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const body = new FormData();
    body.append("file", file.files[0]);
    body.append("metadata", JSON.stringify(target.value ? { target: target.value } : {}));
    button.disabled = true;
    guarded(async () => {
      const info = await upload(`/v1/datasets/${encodeURIComponent(name.value)}/versions`, body,
        (share) => { progress.value = share; });
      progress.value = 1;
      announce(`Uploaded ${info.name} v${info.version}: ${info.summary.rows} rows`);
      await refresh(info.name);
    }).finally(() => { button.disabled = false; });
  });
  return section("Upload a dataset", form);
}

async function preview(name, into) {
  const [info, rows] = await Promise.all([api(`/v1/datasets/${name}`), api(`/v1/datasets/${name}/preview?rows=10`)]);
  const balance = Object.entries(info.summary.class_balance || {}).map(([k, v]) => `${k}: ${v}`).join(", ");
  into.replaceChildren(section(`Preview of ${name} v${info.version}`,
    h("p", {}, `${info.summary.rows} rows · target ${info.target || "—"}${balance ? ` · classes ${balance}` : ""}`),
    table(rows.columns.map((column) => [column, (row) => String(row[column] ?? "")]), rows.rows, "The dataset is empty."),
    table([["Column", (c) => c.name], ["Type", (c) => c.dtype], ["Missing", (c) => c.missing], ["Distinct", (c) => c.distinct]],
      info.summary.columns || [], "No columns.", "Columns")));
}

function trainForm(datasets) {
  const dataset = select("dataset", datasets.map((d) => d.name), datasets[0]?.name);
  const model = h("input", { name: "model", required: true, placeholder: "flowers-logistic" });
  const task = select("task", TASKS, "classification");
  const family = select("family", FAMILIES, "logistic");
  const hyper = h("input", { name: "hyperparameters", placeholder: '{"C": 0.5}' });
  const button = h("button", { type: "submit" }, "Start training");
  const form = h("form", { class: "filters" }, field("Dataset", dataset), field("Model name", model),
    field("Task", task), field("Family", family), field("Hyperparameters (JSON)", hyper), button);
  dataset.addEventListener("change", () => { model.placeholder = `${dataset.value}-${family.value}`; });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    guarded(async () => {
      let hyperparameters = {};
      try {
        hyperparameters = hyper.value ? JSON.parse(hyper.value) : {};
      } catch {
        throw new Error('the hyperparameters are not valid JSON: write an object such as {"C": 0.5}');
      }
      const job = await api("/v1/jobs", { method: "POST", json: {
        dataset: dataset.value, model: model.value,
        spec: { task: task.value, family: family.value, hyperparameters } } });
      location.hash = `#/datasets/job/${job.id}`;
    });
  });
  return section("Train a model", form);
}

async function jobsList() {
  const jobs = (await api("/v1/jobs")).jobs;
  return section("Jobs", table([
    ["Job", (j) => h("a", { href: `#/datasets/job/${j.id}` }, j.id.slice(0, 8))],
    ["Dataset", (j) => `${j.dataset} v${j.dataset_version}`], ["Model", (j) => j.model],
    ["Family", (j) => j.spec.family], ["State", (j) => h("span", { class: `badge ${j.state}` }, j.state)],
    ["Created", (j) => when(j.created_at)],
  ], jobs, "No jobs yet: start one with the form above."));
}

async function jobPage(root, id) {
  const controller = new AbortController();
  const state = h("span", { class: "badge" }, "…");
  const epochs = [];
  const curves = h("div", { class: "charts" });
  const metrics = h("div", {});
  const done = h("div", {});
  const draw = () => curves.replaceChildren(
    lineChart("Loss per epoch", [{ name: "train", values: epochs.map((e) => e.train_loss ?? NaN) },
      { name: "validation", values: epochs.map((e) => e.validation_loss ?? NaN) }]),
    lineChart("Validation metrics per epoch", Object.keys(epochs.at(-1)?.metrics || {}).map((name) =>
      ({ name, values: epochs.map((e) => e.metrics[name] ?? NaN) }))));
  const show = (job) => {
    state.textContent = job.state;
    state.className = `badge ${job.state}`;
    if (job.state === "failed") showError(`The job failed: ${job.failure_reason || "see its log"}`);
    if (job.state === "succeeded") {
      done.replaceChildren(h("p", {}, "Registered as ",
        h("a", { href: `#/models/${job.model}` }, `${job.model} v${job.model_version}`),
        ": open its page for the evaluation report, comparisons and the deploy button."));
    }
  };
  const job = await api(`/v1/jobs/${id}`);
  root.replaceChildren(h("h1", {}, `Training job ${id.slice(0, 8)}`),
    h("p", {}, `${job.spec.family} ${job.spec.task} on ${job.dataset} v${job.dataset_version} → ${job.model} · `, state),
    curves, metrics, done, h("p", {}, h("a", { href: "#/datasets" }, "Back to datasets")));
  show(job);
  draw();
  (async () => {
    try {
      for await (const event of events(`/v1/jobs/${id}/events`, controller.signal)) {
        const data = JSON.parse(event.data);
        if (event.event === "progress") {
          epochs.push(data);
          metrics.replaceChildren(h("p", {}, `Epoch ${data.epoch}/${data.total_epochs}`,
            ...Object.entries(data.metrics).map(([k, v]) => ` · ${k} ${number(v)}`)));
          draw();
        } else if (event.event === "state") show(data);
      }
    } catch (error) {
      if (!controller.signal.aborted) showError(error);
    }
  })();
  return () => controller.abort();
}

export async function render(root, [view, id]) {
  if (view === "job" && id) return jobPage(root, id);
  const previewBox = h("div", {});
  const datasets = (await api("/v1/datasets")).datasets;
  const refresh = async (name) => {
    await render(root, []);
    if (!name) return;
    root.querySelector("select[name=dataset]").value = name;
    await guarded(() => preview(name, root.querySelector("#preview")));
  };
  previewBox.id = "preview";
  root.replaceChildren(h("h1", {}, "Datasets and training"), uploadForm(refresh),
    section("Datasets", table([
      ["Name", (d) => h("button", { type: "button", class: "link", onclick: () => guarded(() => preview(d.name, previewBox)) }, d.name)],
      ["Version", (d) => `v${d.version}`], ["Kind", (d) => d.kind], ["Rows", (d) => d.summary.rows],
      ["Target", (d) => d.target || "—"], ["Size", (d) => `${number(d.size / 1024, 1)} KiB`],
      ["Owner", (d) => d.owner || "built-in sample"], ["Created", (d) => when(d.created_at)],
    ], datasets, "No datasets yet: upload a CSV above.")),
    previewBox, trainForm(datasets), await jobsList());
  return undefined;
}
