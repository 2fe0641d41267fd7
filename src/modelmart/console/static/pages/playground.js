// Playground: one form per task; every call shows its latency, usage and the same call as
// curl and as Python.
import { api, errorOf, send, session, timed } from "../api.js";
import { boxesOver } from "../charts.js";
import { announce, code, empty, field, guarded, h, number, section, select, table } from "../ui.js";

const TEXT_ROUTES = {
  sentiment: "/v1/tasks/sentiment",
  "language-identification": "/v1/tasks/language",
  "named-entities": "/v1/tasks/entities",
  translation: "/v1/tasks/translation",
};
const IMAGE_ROUTES = {
  "image-classification": "/v1/tasks/image-classification",
  "face-detection": "/v1/tasks/face-detection",
  ocr: "/v1/tasks/ocr",
  "face-embedding": "/v1/tasks/face-verification",
};

/** A JSON value written as a Python literal (True, False, None). */
function python(value) {
  if (value === null || value === undefined) return "None";
  if (typeof value === "boolean") return value ? "True" : "False";
  if (Array.isArray(value)) return `[${value.map(python).join(", ")}]`;
  if (typeof value === "object") return `{${Object.entries(value).map(([k, v]) => `${JSON.stringify(k)}: ${python(v)}`).join(", ")}}`;
  return JSON.stringify(value);
}

function snippets(path, body) {
  const json = JSON.stringify(body);
  if (path.endsWith(":predict")) {
    // The SDK covers the plain predict route; the task routes are called as plain HTTP.
    const name = path.split("/").pop().replace(":predict", "");
    return { curl: curlOf(path, json), python: `from modelmart import Client\n\nwith Client() as mm:  # $MODELMART_URL and $MODELMART_API_KEY\n    print(mm.predict(${JSON.stringify(name)}, ${python(body.instances)}))` };
  }
  return { curl: curlOf(path, json), python: httpSnippet(path, body) };
}

function curlOf(path, json) {
  return `curl -s ${location.origin}${path} \\\n  -H "Authorization: Bearer $MODELMART_API_KEY" \\\n` +
    `  -H 'content-type: application/json' -d '${json.replaceAll("'", "'\\''")}'`;
}

function httpSnippet(path, body) {
  return `import os\n\nimport httpx\n\nanswer = httpx.post(\n    "${location.origin}${path}",\n` +
    `    headers={"Authorization": f"Bearer {os.environ['MODELMART_API_KEY']}"},\n    json=${python(body)},\n    timeout=60,\n).json()\nprint(answer)`;
}

function callReport(ms, usage, path, body, shown) {
  const { curl, python: sdk } = snippets(path, body);
  const units = Object.entries(usage || {}).map(([unit, value]) => `${unit}: ${value}`).join(", ");
  return h("div", { class: "result" },
    h("p", { class: "meta" }, h("strong", {}, "Latency "), `${number(ms, 1)} ms`, " · ",
      h("strong", {}, "Usage "), h("span", { class: "usage" }, units || "—")),
    shown,
    h("details", {}, h("summary", {}, "Answer (JSON)"), code(JSON.stringify(shown.answer ?? {}, null, 2))),
    h("h3", {}, "curl"), code(curl), h("h3", {}, "Python"), code(sdk));
}

function runForm(controls, run, label = "Run") {
  const button = h("button", { type: "submit" }, label);
  const output = h("div", { class: "output", "aria-live": "polite" });
  const form = h("form", {}, controls, button);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    button.disabled = true;
    guarded(async () => output.replaceChildren(await run()))
      .finally(() => { button.disabled = false; });
  });
  return [form, output];
}

function textTask(deployment, task) {
  const input = h("textarea", { name: "input", rows: 3, required: true }, "I love this console. It is fast and clear.");
  return runForm([field("Text (one per line)", input)], async () => {
    const texts = input.value.split("\n").filter((line) => line.trim());
    const body = { model: deployment.name, input: texts };
    if (task === "named-entities") body.redact = true;
    if (task === "translation") [body.source, body.target] = deployment.model.split("-").slice(-2);
    const { data, ms } = await timed(TEXT_ROUTES[task], { method: "POST", json: body });
    const shown = table([["Input", (r) => r.text], ["Result", (r) => resultText(r.result)]],
      data.results.map((result, i) => ({ text: texts[i], result })), "No results.");
    shown.answer = data;
    return callReport(ms, data.usage, TEXT_ROUTES[task], body, shown);
  });
}

function resultText(result) {
  if (typeof result !== "object" || result === null) return String(result);
  if ("label" in result) return `${result.label} (${number(result.score)})`;
  if ("language" in result) return `${result.language} (${number(result.probability)})`;
  if ("translation" in result) return result.translation;
  if ("entities" in result) return result.redacted ?? result.entities.map((e) => `${e.type}: ${e.text}`).join(", ");
  return JSON.stringify(result);
}

function cosine(a, b) {
  let dot = 0;
  let na = 0;
  let nb = 0;
  a.forEach((v, i) => { dot += v * b[i]; na += v * v; nb += b[i] * b[i]; });
  return dot / Math.sqrt(na * nb);
}

function embeddingTask(deployment) {
  const input = h("textarea", { name: "input", rows: 4, required: true },
    "A cat sat on the mat.\nA kitten rested on the rug.\nStock markets fell sharply.");
  return runForm([field("Texts to compare (one per line)", input)], async () => {
    const texts = input.value.split("\n").filter((line) => line.trim());
    const body = { model: deployment.name, input: texts };
    const { data, ms } = await timed("/v1/embeddings", { method: "POST", json: body });
    const vectors = data.data.map((item) => item.embedding);
    const shown = h("table", { class: "matrix" }, h("caption", {}, "Cosine similarity"),
      h("tr", {}, h("th", {}, ""), texts.map((_, j) => h("th", { scope: "col" }, `#${j + 1}`))),
      texts.map((text, i) => h("tr", {}, h("th", { scope: "row" }, `#${i + 1} ${text.slice(0, 40)}`),
        vectors.map((v) => h("td", {}, number(cosine(vectors[i], v), 3))))));
    shown.answer = { ...data, data: data.data.map((d) => ({ ...d, embedding: `[${d.embedding.length} numbers]` })) };
    return callReport(ms, data.usage, "/v1/embeddings", body, shown);
  });
}

function chatTask(deployment) {
  const input = h("textarea", { name: "message", rows: 3, required: true }, "Say hello in French.");
  const maxTokens = h("input", { type: "number", name: "max_tokens", value: 48, min: 1 });
  return runForm([field("Message", input), field("Max tokens", maxTokens)], async () => {
    const body = { model: deployment.name, stream: true, max_tokens: Number(maxTokens.value),
      stream_options: { include_usage: true }, messages: [{ role: "user", content: input.value }] };
    const answer = h("p", { class: "chat" });
    const started = performance.now();
    const response = await send("/v1/chat/completions", { method: "POST", json: body });
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    let usage = null;
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
      buffer += chunk.value;
      const lines = buffer.split("\n");
      buffer = lines.pop();
      for (const line of lines) {
        if (!line.startsWith("data:") || line.includes("[DONE]")) continue;
        const event = JSON.parse(line.slice(5));
        if (event.usage) usage = event.usage;
        answer.append(event.choices?.[0]?.delta?.content || "");
      }
    }
    answer.answer = { text: answer.textContent, usage };
    return callReport(performance.now() - started, usage, "/v1/chat/completions", body, answer);
  }, "Send");
}

function readAsDataUrl(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(new Error(`could not read ${file.name}`));
    reader.readAsDataURL(file);
  });
}

function imageSize(url) {
  return new Promise((resolve) => {
    const image = new Image();
    image.onload = () => resolve([image.naturalWidth, image.naturalHeight]);
    image.onerror = () => resolve([640, 480]);
    image.src = url;
  });
}

function shapesOf(result) {
  const corners = (b) => [[b.left, b.top], [b.right, b.top], [b.right, b.bottom], [b.left, b.bottom]];
  if (result.faces) return result.faces.map((f) => ({ points: corners(f.box), label: f.score !== undefined ? number(f.score, 2) : "" }));
  if (result.lines) return result.lines.map((line) => ({ points: line.box, label: line.text }));
  return [];
}

function imageTask(deployment, task) {
  const pair = task === "face-embedding";
  const files = [h("input", { type: "file", name: "image", accept: "image/*", required: true })];
  if (pair) files.push(h("input", { type: "file", name: "image2", accept: "image/*", required: true }));
  return runForm(files.map((input, i) => field(pair ? `Image ${i + 1}` : "Image", input)), async () => {
    const urls = await Promise.all(files.map((input) => readAsDataUrl(input.files[0])));
    const body = { model: deployment.name, input: pair ? urls : urls[0] };
    const path = IMAGE_ROUTES[task];
    const { data, ms } = await timed(path, { method: "POST", json: body });
    const result = data.results[0];
    const [width, height] = await imageSize(urls[0]);
    const shapes = shapesOf(result);
    const shown = shapes.length ? boxesOver(urls[0], width, height, shapes) :
      h("pre", { class: "code" }, JSON.stringify(result, null, 2));
    shown.answer = data;
    return callReport(ms, data.usage, path, { ...body, input: "<base64 image>" }, shown);
  });
}

function audioTask(deployment) {
  const file = h("input", { type: "file", name: "file", accept: "audio/*" });
  const record = h("button", { type: "button", class: "secondary" }, "Record");
  let recorded = null;
  if (!window.MediaRecorder) record.disabled = true;
  record.addEventListener("click", () => guarded(async () => {
    if (record.recorder) { record.recorder.stop(); return; }
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    const recorder = new MediaRecorder(stream);
    const parts = [];
    recorder.ondataavailable = (event) => parts.push(event.data);
    recorder.onstop = () => {
      recorded = new Blob(parts, { type: recorder.mimeType });
      stream.getTracks().forEach((track) => track.stop());
      record.recorder = null;
      record.textContent = "Record again";
      announce(`Recorded ${Math.round(recorded.size / 1024)} KiB`);
    };
    recorder.start();
    record.recorder = recorder;
    record.textContent = "Stop recording";
  }));
  return runForm([field("Audio file (WAV, FLAC, Ogg, MP3)", file), record], async () => {
    const audio = file.files[0] || recorded;
    if (!audio) throw new Error("choose an audio file or record one first");
    const form = new FormData();
    form.append("model", deployment.name);
    form.append("response_format", "verbose_json");
    form.append("file", audio, audio.name || "recording.ogg");
    const started = performance.now();
    const response = await fetch("/v1/audio/transcriptions", { method: "POST", body: form,
      headers: session.key ? { Authorization: `Bearer ${session.key}` } : {} });
    if (!response.ok) throw await errorOf(response);
    const data = await response.json();
    const shown = h("p", { class: "chat" }, data.text || "(no speech found)");
    shown.answer = data;
    return callReport(performance.now() - started, data.usage, "/v1/audio/transcriptions",
      { model: deployment.name, file: "<audio>" }, shown);
  });
}

function speechTask(deployment) {
  const input = h("textarea", { name: "input", rows: 2, required: true }, "Please call the office before noon.");
  return runForm([field("Text to speak", input)], async () => {
    const body = { model: deployment.name, input: input.value };
    const { data, ms } = await timed("/v1/tasks/speech", { method: "POST", json: body });
    const result = data.results[0];
    const shown = h("audio", { controls: true, src: `data:audio/wav;base64,${result.audio}` });
    shown.answer = { ...data, results: [{ ...result, audio: "<base64 wav>" }] };
    return callReport(ms, data.usage, "/v1/tasks/speech", body, shown);
  });
}

function predictTask(deployment) {
  const input = h("textarea", { name: "instances", rows: 4, required: true }, "[[5.1, 3.5, 1.4, 0.2]]");
  return runForm([field("Instances (JSON list, one row per example)", input)], async () => {
    let instances;
    try {
      instances = JSON.parse(input.value);
    } catch {
      throw new Error("the instances are not valid JSON: write a list such as [[5.1, 3.5, 1.4, 0.2]]");
    }
    const path = `/v1/models/${deployment.name}:predict`;
    const body = { instances };
    const { data, ms } = await timed(path, { method: "POST", json: body });
    const shown = h("div", {}, h("pre", { class: "code predictions" }, JSON.stringify(data.predictions, null, 2)),
      await billedLine(deployment.model));
    shown.answer = data;
    return callReport(ms, data.usage, path, body, shown);
  });
}

const ENERGY_UNIT = "energy_joules";

/** What the ledger has billed for a model this month, read back after a call: the plain
 * predict answer carries no usage object, so this is how its cost shows up in the playground. */
async function billedLine(model) {
  const query = new URLSearchParams({ group_by: "model" });
  if (session.org) query.set("organisation", session.org);
  const rows = (await api(`/v1/usage?${query}`)).usage.filter((r) => r.model === model);
  // Energy is reported beside the units, never billed.
  const billed = rows.filter((r) => r.unit !== ENERGY_UNIT);
  const energy = rows.find((r) => r.unit === ENERGY_UNIT);
  const units = billed.map((r) => `${r.unit}: ${number(r.quantity)}`).join(", ");
  return h("p", { class: "meta" }, h("strong", {}, `Billed for ${model} this month `),
    h("span", { class: "billed" }, units || "nothing yet"),
    energy ? h("span", { class: "energy" }, ` · energy used: ${number(energy.quantity)} J`) : null);
}

function formFor(deployment, task) {
  if (task in TEXT_ROUTES) return textTask(deployment, task);
  if (task in IMAGE_ROUTES) return imageTask(deployment, task);
  const special = { embedding: embeddingTask, chat: chatTask, "speech-recognition": audioTask, "text-to-speech": speechTask };
  return (special[task] || predictTask)(deployment);
}

export async function render(root, [chosen]) {
  const deployments = (await api("/v1/deployments")).deployments.filter((d) => d.state === "ready");
  root.replaceChildren(h("h1", {}, "Playground"));
  if (!deployments.length) {
    root.append(empty("Nothing is ready to call: deploy a model from the Catalogue first."));
    return;
  }
  const current = deployments.find((d) => d.name === chosen) || deployments[0];
  const picker = select("deployment", deployments.map((d) => d.name), current.name);
  picker.addEventListener("change", () => { location.hash = `#/playground/${picker.value}`; });
  const model = await api(`/v1/registry/models/${current.model}`);
  root.append(field("Deployment", picker), section(`${current.name} · ${model.task}`, formFor(current, model.task)));
}
