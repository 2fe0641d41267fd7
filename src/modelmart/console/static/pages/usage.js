// Usage by day, model or key (energy_joules is one of its units: the chart shows any unit);
// the month's invoice with downloads and its energy; budget and its alert.
import { api, download, session } from "../api.js";
import { barChart } from "../charts.js";
import { announce, empty, field, guarded, h, number, section, select, table } from "../ui.js";

const GROUPS = [["day", "by day"], ["model", "by model"], ["key", "by key"]];
const ALERT_SHARE = 0.8;

function thisMonth() {
  return new Date().toISOString().slice(0, 7);
}

async function usageSection() {
  const group = select("group_by", GROUPS, "day");
  const unit = select("unit", ["requests"], "requests");
  const out = h("div", {});
  const load = () => guarded(async () => {
    const query = new URLSearchParams({ group_by: group.value, organisation: session.org });
    const rows = (await api(`/v1/usage?${query}`)).usage;
    const units = [...new Set(rows.map((r) => r.unit))];
    const chosen = units.includes(unit.value) ? unit.value : units[0] || "requests";
    unit.replaceChildren(...(units.length ? units : ["requests"]).map((u) => h("option", { value: u, selected: u === chosen }, u)));
    const shown = rows.filter((r) => r.unit === chosen);
    out.replaceChildren(
      shown.length ? barChart(`${chosen} ${group.selectedOptions[0].textContent}`,
        shown.map((r) => ({ label: String(r[group.value] ?? "—"), value: Number(r.quantity) }))) : empty("No usage this month yet: call a model in the Playground."),
      table([[group.value, (r) => String(r[group.value] ?? "—")], ["Unit", (r) => r.unit], ["Quantity", (r) => number(r.quantity)]],
        rows, "", "All units"));
  });
  group.addEventListener("change", load);
  unit.addEventListener("change", load);
  await load();
  return section("Usage this month", h("div", { class: "filters" }, field("Group", group), field("Unit", unit)), out);
}

async function invoiceSection() {
  const period = h("input", { name: "period", value: thisMonth(), pattern: "\\d{4}-\\d{2}", required: true });
  const out = h("div", {});
  const path = () => `/v1/orgs/${session.org}/invoices/${period.value}`;
  const load = () => guarded(async () => {
    const invoice = await api(path());
    out.replaceChildren(
      h("p", {}, `${invoice.organisation} · ${invoice.period} · plan ${invoice.plan} · ${invoice.status} · total `,
        h("strong", {}, `${invoice.total} ${invoice.currency}`)),
      table([["Kind", (l) => l.kind], ["Model", (l) => l.model ?? "—"], ["Unit", (l) => l.unit ?? "—"],
        ["Quantity", (l) => l.quantity ?? ""], ["Included", (l) => l.included ?? ""], ["Billable", (l) => l.billable ?? ""],
        ["Unit price", (l) => l.unit_price ?? ""], ["Amount", (l) => l.amount]], invoice.lines, "Nothing billed in this period."),
      // Energy is listed, never charged (invoices finalised before it was kept have none).
      invoice.energy_joules === undefined ? "" :
        h("p", {}, `Energy used: ${number(invoice.energy_joules)} J (not charged)`));
  });
  const form = h("form", { class: "filters" }, field("Month (YYYY-MM)", period), h("button", { type: "submit" }, "Show"),
    h("button", { type: "button", class: "secondary", onclick: () => guarded(() => download(`${path()}?format=csv`, `invoice-${session.org}-${period.value}.csv`)) }, "Download CSV"),
    h("button", { type: "button", class: "secondary", onclick: () => guarded(() => download(`${path()}?format=html`, `invoice-${session.org}-${period.value}.html`)) }, "Download HTML"));
  form.addEventListener("submit", (event) => { event.preventDefault(); load(); });
  await load();
  return section("Invoice", form, out);
}

async function budgetSection() {
  const [org, invoice] = await Promise.all([api(`/v1/orgs/${session.org}`), api(`/v1/orgs/${session.org}/invoices/${thisMonth()}`)]);
  const budget = h("input", { type: "number", name: "monthly_budget", min: 0, step: "0.01", value: org.monthly_budget ?? "" });
  const action = select("budget_action", [["stop", "stop calls when spent"], ["alert", "only alert"]], org.budget_action);
  const form = h("form", { class: "filters" }, field("Monthly budget", budget), field("When spent", action), h("button", { type: "submit" }, "Save budget"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    guarded(async () => {
      await api(`/v1/orgs/${session.org}`, { method: "PATCH", json: {
        monthly_budget: budget.value === "" ? null : budget.value, budget_action: action.value } });
      announce("Budget saved");
    });
  });
  const spent = Number(invoice.total);
  const limit = Number(org.monthly_budget);
  const warning = org.monthly_budget && spent >= ALERT_SHARE * limit ?
    h("p", { class: "warning" }, `Spent ${number(spent, 2)} of the ${number(limit, 2)} budget this month (${number((100 * spent) / limit, 0)} %).`) :
    h("p", {}, `Spent ${number(spent, 2)} ${invoice.currency} this month${org.monthly_budget ? ` of ${org.monthly_budget}` : "; no budget set"}.`);
  return section("Budget and alerts", warning, form);
}

export async function render(root) {
  root.replaceChildren(h("h1", {}, `Usage and invoices of ${session.org}`),
    await usageSection(), await invoiceSection(), await budgetSection());
}
