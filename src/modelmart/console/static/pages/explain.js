// Explain: a deployment's predictions with each instance's attributions, as bars (features or
// tokens, largest first) or as the image heatmap the server rendered. Everything shown is a
// text node, a <meter> or an <img> of the server's own PNG: nothing is parsed as HTML.
import { api, timed } from "../api.js";
import { empty, field, guarded, h, number, section, select } from "../ui.js";

const SHOWN = 15;
const EXAMPLES = { "text-classification": '["the food was great and the staff friendly"]' };

/** An image input's [channels, height, width] when it is [N, C, H, W] with 1 or 3 channels. */
export function imageShape(signature) {
  const shape = signature?.inputs?.length === 1 ? signature.inputs[0].shape : null;
  return shape?.length === 4 && [1, 3].includes(shape[1]) && shape[2] > 0 && shape[3] > 0 ? shape.slice(1) : null;
}

/** A picked image file as one instance: [C][H][W] pixel values 0-255, resized to the input. */
async function pixelsOf(file, [channels, height, width]) {
  const canvas = document.createElement("canvas");
  canvas.width = width;
  canvas.height = height;
  const context = canvas.getContext("2d");
  context.drawImage(await createImageBitmap(file), 0, 0, width, height);
  const { data } = context.getImageData(0, 0, width, height);
  const plane = (pick) => Array.from({ length: height }, (_, y) =>
    Array.from({ length: width }, (_, x) => pick(4 * (y * width + x))));
  if (channels === 1) return [plane((i) => Math.round((data[i] + data[i + 1] + data[i + 2]) / 3))];
  return [0, 1, 2].map((c) => plane((i) => data[i + c]));
}

/** Bars for the largest attributions of one instance (by magnitude). */
function bars(names, values) {
  const peak = Math.max(...values.map((v) => Math.abs(v)), 0) || 1;
  const order = values.map((_, i) => i).sort((a, b) => Math.abs(values[b]) - Math.abs(values[a]));
  return h("table", { class: "attributions" },
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Input"), h("th", { scope: "col" }, "Attribution"),
      h("th", { scope: "col" }, "Share"))),
    h("tbody", {}, order.slice(0, SHOWN).map((i) => h("tr", {},
      h("td", {}, String(names[i])),
      h("td", {}, (values[i] > 0 ? "+" : "") + number(values[i], 4)),
      h("td", {}, h("meter", { class: values[i] >= 0 ? "positive" : "negative", min: 0, max: 1,
        value: Math.abs(values[i]) / peak, title: number(values[i], 4) }))))));
}

/** One instance's explanation: what was explained, then bars or the heatmap. */
export function instanceView(item, index) {
  const heading = `#${index + 1}: ${item.target} = ${number(item.output_value, 4)} (base ${number(item.base_value, 4)})`;
  let body;
  if (item.heatmap_png) {
    body = h("img", { class: "heatmap", src: `data:image/png;base64,${item.heatmap_png}`,
      alt: `Heatmap of what most moved ${item.target}: red raised it, blue lowered it` });
  } else {
    body = bars(item.features || item.tokens || item.attributions.map((_, i) => `x${i}`), item.attributions);
  }
  const top = item.top_tokens?.length ? h("p", { class: "meta" }, `Top tokens: ${item.top_tokens.join(", ")}`) : null;
  return h("div", { class: "explanation" }, h("h3", {}, heading), top, body);
}

/** The whole answer: the method and its parameters, then every instance. */
export function explanationView(answer) {
  const parameters = Object.entries(answer.method.parameters || {}).map(([k, v]) => `${k}=${v}`).join(", ");
  return h("div", {},
    h("p", { class: "meta" }, h("strong", {}, "Method "), `${answer.method.name} (${parameters})`),
    answer.explanations.map(instanceView));
}

function explainForm(deployment, task, shape) {
  const input = h("textarea", { name: "instances", rows: 4, required: !shape }, EXAMPLES[task] || "[[5.1, 3.5, 1.4, 0.2]]");
  const file = shape ? h("input", { type: "file", name: "image", accept: "image/*" }) : null;
  const button = h("button", { type: "submit" }, "Explain");
  const output = h("div", { class: "output", "aria-live": "polite" });
  const form = h("form", {}, file ? field("Image (resized to the model's input)", file) : null,
    field(shape ? "…or instances (JSON)" : "Instances (JSON list, one per example)", input), button);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    button.disabled = true;
    guarded(async () => {
      let instances;
      try {
        instances = file?.files[0] ? [await pixelsOf(file.files[0], shape)] : JSON.parse(input.value);
      } catch (error) {
        if (file?.files[0]) throw error;
        throw new Error("the instances are not valid JSON: write a list such as [[5.1, 3.5, 1.4, 0.2]]");
      }
      const { data, ms } = await timed(`/v1/models/${deployment.name}:explain`, { method: "POST", json: { instances } });
      output.replaceChildren(h("p", { class: "meta" }, `${number(ms, 1)} ms · predictions: ${JSON.stringify(data.predictions).slice(0, 200)}`),
        explanationView(data));
    }).finally(() => { button.disabled = false; });
  });
  return [form, output];
}

export async function render(root, [chosen]) {
  const deployments = (await api("/v1/deployments")).deployments.filter((d) => d.state === "ready");
  root.replaceChildren(h("h1", {}, "Explain"));
  if (!deployments.length) {
    root.append(empty("Nothing is ready to explain: deploy a model first."));
    return;
  }
  const current = deployments.find((d) => d.name === chosen) || deployments[0];
  const picker = select("deployment", deployments.map((d) => d.name), current.name);
  picker.addEventListener("change", () => { location.hash = `#/explain/${picker.value}`; });
  const model = await api(`/v1/registry/models/${current.model}`);
  const version = current.served_version ?? current.version;
  const served = version ? await api(`/v1/registry/models/${current.model}/versions/${version}`) : null;
  root.append(field("Deployment", picker),
    section(`${current.name} · ${model.task}`, explainForm(current, model.task, imageShape(served?.signature))));
}
