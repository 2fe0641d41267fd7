// A version's model card, drawn from the card's JSON with text nodes only: names, uses and
// licences come from uploaders, so nothing here is parsed as HTML.
import { api, download } from "../api.js";
import { field, guarded, h, number, section, select } from "../ui.js";

function lineage(training) {
  if (!training.dataset) return "not recorded";
  const version = training.dataset_version == null ? "" : ` v${training.dataset_version}`;
  const job = training.training_job ? ` (job ${training.training_job})` : "";
  return `${training.dataset}${version}${job}`;
}

function quality(metrics) {
  if (!metrics.length) return "not evaluated";
  return h("ul", {}, metrics.map((m) =>
    h("li", {}, `${m.metric} = ${number(m.value, 4)} on ${m.evaluation_set || "an unnamed set"}`)));
}

function energy(measured) {
  return measured ? `${number(measured.joules_per_item, 4)} J (${measured.method})` : "not measured";
}

/** The facts of one card as a definition list. */
export function cardFacts(card) {
  const rows = [
    ["Source", card.source],
    ["Intended use", card.intended_use || "not declared"],
    ["Training data", lineage(card.training)],
    ["Quality", quality(card.quality)],
    ["Limits", card.limits.length ? h("ul", {}, card.limits.map((line) => h("li", {}, line))) : "—"],
    ["Licence", card.licence],
    ["Energy per item", energy(card.energy_per_item)],
    ["Explanations", card.explanation.method || card.explanation.reason || "—"],
  ];
  return h("dl", { class: "facts", "aria-label": `Model card of ${card.model} v${card.version}` },
    rows.flatMap(([label, value]) => [h("dt", {}, label), h("dd", {}, value)]));
}

/** A section showing the card of the chosen version (the latest at first). */
export function versionCard(name, versions) {
  if (!versions.length) return null;
  const numbers = versions.map((v) => [String(v.version), `v${v.version}`]);
  const body = h("div", {});
  const choice = select("card-version", numbers, numbers.at(-1)[0]);
  const show = () => guarded(async () => {
    const card = await api(`/v1/registry/models/${name}/versions/${choice.value}/card`);
    body.replaceChildren(cardFacts(card));
  });
  choice.addEventListener("change", show);
  show();
  return section("Version card",
    h("div", { class: "filters" }, field("Version", choice),
      h("button", { type: "button", onclick: () => guarded(() => download(
        `/v1/registry/models/${name}/versions/${choice.value}/card?format=markdown`,
        `${name}-v${choice.value}-card.md`)) }, "Download Markdown")),
    body);
}
