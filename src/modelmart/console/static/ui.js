// Small DOM helpers shared by the pages.

/** An element: h("button", {class: "x", onclick: fn}, "Label", child, [more]). */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (name === "value") element.value = value;
    else element.setAttribute(name, value === true ? "" : value);
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(element, child);
    else element.append(child instanceof Node ? child : String(child));
  }
}

let nextId = 0;

/** A labelled input: the label is tied to the control by id. */
export function field(label, control, hint) {
  control.id ||= `field-${++nextId}`;
  return h("div", { class: "field" }, h("label", { for: control.id }, label), control,
    hint ? h("small", {}, hint) : null);
}

export function select(name, options, value) {
  return h("select", { name }, options.map((option) => {
    const [key, text] = Array.isArray(option) ? option : [option, option];
    return h("option", { value: key, selected: key === value }, text);
  }));
}

export function showError(error) {
  const region = document.getElementById("alert");
  region.textContent = error instanceof Error ? error.message : String(error);
  region.hidden = false;
  if (error && error.status === 401) document.dispatchEvent(new CustomEvent("signed-out"));
}

export function clearAlert() {
  const region = document.getElementById("alert");
  region.textContent = "";
  region.hidden = true;
}

const STATUS_KEPT_MS = 5000;
let announcedAt = 0;

export function announce(text) {
  document.getElementById("status").textContent = text;
  announcedAt = performance.now();
}

/** Called on each page change: an old confirmation is cleared, one just made is kept. */
export function clearStaleStatus() {
  if (performance.now() - announcedAt > STATUS_KEPT_MS) document.getElementById("status").textContent = "";
}

/** Run an action, turning its failure into the alert region's message. */
export async function guarded(action) {
  clearAlert();
  try {
    return await action();
  } catch (error) {
    showError(error);
    return undefined;
  }
}

export function empty(text) {
  return h("p", { class: "empty" }, text);
}

/** A table; `columns` are [header, row => cell]. Shows `emptyText` when there are no rows. */
export function table(columns, rows, emptyText, caption) {
  if (!rows.length) return empty(emptyText);
  return h("table", {},
    caption ? h("caption", {}, caption) : null,
    h("thead", {}, h("tr", {}, columns.map(([header]) => h("th", { scope: "col" }, header)))),
    h("tbody", {}, rows.map((row) => h("tr", {}, columns.map(([, cell]) => h("td", {}, cell(row)))))));
}

export function when(iso) {
  return iso ? new Date(iso).toLocaleString() : "—";
}

export function number(value, digits = 3) {
  const parsed = Number(value);
  return Number.isFinite(parsed) ? String(+parsed.toFixed(digits)) : "—";
}

/** A button that asks again before a destructive action (no blocking confirm() dialogs). */
export function confirmButton(label, action) {
  const button = h("button", { type: "button", class: "danger" }, label);
  let armed = false;
  button.addEventListener("click", async () => {
    if (!armed) {
      armed = true;
      button.textContent = `Confirm: ${label.toLowerCase()}`;
      return;
    }
    button.disabled = true;
    await action();
  });
  button.addEventListener("blur", () => {
    armed = false;
    button.textContent = label;
  });
  return button;
}

export function code(text) {
  return h("pre", { class: "code" }, h("code", {}, text));
}

export function section(title, ...children) {
  return h("section", { class: "card" }, h("h2", {}, title), children);
}
