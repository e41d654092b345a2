// The admin console's analytics: sales per day, top products and the funnel from cart to
// order over a period of UTC days (inclusive), each as a chart, a table and a CSV download.

import * as api from "./api.js";
import { drawChart } from "./charts.js";
import { field, h, money, replace, route } from "./dom.js";
import { clearProblems, describe, notice, problemSlot, showProblem } from "./ui.js";

// analytics' own default period when none is asked for.
const DEFAULT_DAYS = 30;
const DAY_MS = 86_400_000;
const TOP = 10;
// A downloaded file's address stays valid long enough for the browser to save it.
const DOWNLOAD_KEPT_MS = 60_000;
const FUNNEL = [
  ["carts", "Carts"],
  ["orders_created", "Orders placed"],
  ["orders_confirmed", "Orders confirmed"],
  ["orders_failed", "Orders failed"],
  ["orders_cancelled", "Orders cancelled"],
  ["orders_refunded", "Orders refunded"],
];
const BRAND = "#1b4d3e";
const ACCENT = "#0b57d0";

const isoDay = (time) => new Date(time).toISOString().slice(0, 10);
const units = (value) => value.amount / 100;

/** The analytics page for the period in ``params`` (from, to), drawn into ``view``. */
export async function analyticsPage(view, params) {
  const period = {
    from: params.get("from") || isoDay(Date.now() - (DEFAULT_DAYS - 1) * DAY_MS),
    to: params.get("to") || isoDay(Date.now()),
  };
  const form = h(
    "form",
    { class: "row", "aria-label": "Period" },
    field("From", h("input", { name: "from", type: "date", value: period.from, required: true })),
    field("To", h("input", { name: "to", type: "date", value: period.to, required: true })),
    h("div", { class: "field" }, h("span", { "aria-hidden": "true" }, "\u00a0"), h("button", { type: "submit" }, "Show")),
    problemSlot(),
  );
  const body = h("div", { class: "panels" });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const asked = { from: form.elements.namedItem("from").value, to: form.elements.namedItem("to").value };
    // The address keeps the period (a reload shows the same) without drawing twice.
    history.replaceState(null, "", `${location.pathname}${route("analytics", new URLSearchParams(asked))}`);
    draw(form, body, asked);
  });
  replace(view, h("h1", {}, "Analytics"), form, body);
  await draw(form, body, period);
}

async function draw(form, body, period) {
  // Only the latest period asked for is drawn: an earlier answer arriving late is dropped.
  const turn = (body.turn = (body.turn || 0) + 1);
  clearProblems(form);
  let reports;
  try {
    reports = await Promise.all([
      api.get("/analytics/sales", period),
      api.get("/analytics/top-products", { ...period, limit: TOP }),
      api.get("/analytics/funnel", period),
    ]);
  } catch (error) {
    if (body.turn !== turn) return;
    replace(body);
    showProblem(form, error);
    return;
  }
  if (body.turn !== turn) return;
  const [sales, top, funnel] = reports;
  replace(body, salesPanel(sales, period), topPanel(top, period), funnelPanel(funnel, period));
  for (const canvas of body.querySelectorAll("canvas")) canvas.draw();
}

function panel(title, canvas, table, csv) {
  return h("section", { class: "panel" }, h("h2", {}, title), h("div", { class: "chart" }, canvas), table, csv);
}

function table(caption, headings, rows) {
  return h(
    "table",
    { class: "lines" },
    h("caption", { class: "visually-hidden" }, caption),
    h("thead", {}, h("tr", {}, headings.map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, rows.map((cells) => h("tr", {}, cells.map((cell) => h("td", {}, cell))))),
  );
}

/** A canvas that draws itself once it is on the page (Chart.js measures its box). */
function canvas(label, draw) {
  const element = h("canvas", { role: "img", "aria-label": label });
  element.draw = () => draw(element);
  return element;
}

function salesPanel(sales, period) {
  const days = sales.map((day) => day.date);
  const chart = canvas(`Orders and net revenue per day, ${period.from} to ${period.to}`, (element) =>
    drawChart(
      element,
      "bar",
      days,
      [
        { type: "bar", label: "Orders", data: sales.map((day) => day.orders), backgroundColor: BRAND, yAxisID: "y" },
        { type: "line", label: "Net revenue", data: sales.map((day) => units(day.revenue)), borderColor: ACCENT, yAxisID: "revenue" },
      ],
      { scales: { y: { beginAtZero: true, ticks: { precision: 0 } }, revenue: { beginAtZero: true, position: "right", grid: { drawOnChartArea: false } } } },
    ),
  );
  const rows = sales.filter((day) => day.orders || day.refunded_orders).map((day) => [day.date, String(day.orders), money(day.revenue), money(day.refunds)]);
  const detail = h(
    "details",
    {},
    h("summary", {}, "Days with sales"),
    rows.length ? table("Sales per day", ["Day", "Orders", "Net revenue", "Refunds"], rows) : h("p", {}, "No sales in this period."),
  );
  return panel("Sales per day", chart, detail, csvLink("sales", "sales", period));
}

function topPanel(top, period) {
  const chart = canvas(`Top products by units sold, ${period.from} to ${period.to}`, (element) =>
    drawChart(element, "bar", top.map((p) => p.name), [{ label: "Units", data: top.map((p) => p.quantity), backgroundColor: BRAND }], {
      indexAxis: "y",
      scales: { x: { beginAtZero: true, ticks: { precision: 0 } } },
    }),
  );
  const rows = top.map((p) => [p.name, p.sku, String(p.quantity), money(p.revenue)]);
  const listing = rows.length ? table("Top products", ["Product", "SKU", "Units", "Revenue"], rows) : h("p", {}, "Nothing sold in this period.");
  return panel("Top products", chart, listing, csvLink("top-products", "top products", period));
}

function funnelPanel(funnel, period) {
  const chart = canvas(`From cart to order, ${period.from} to ${period.to}`, (element) =>
    drawChart(element, "bar", FUNNEL.map(([, label]) => label), [{ label: "Count", data: FUNNEL.map(([key]) => funnel[key]), backgroundColor: ACCENT }]),
  );
  const rows = FUNNEL.map(([key, label]) => [label, String(funnel[key])]);
  return panel("Funnel", chart, table("Funnel", ["Step", "Count"], rows), csvLink("funnel", "funnel", period));
}

/** "Download CSV": the report fetched with the access token, saved as a file. */
function csvLink(report, words, period) {
  const path = `/analytics/${report}`;
  const name = `${report}-${period.from}-${period.to}.csv`;
  const problem = h("span", { "aria-live": "polite" });
  const link = h("a", { href: `${api.API}${path}?${new URLSearchParams({ ...period, format: "csv" })}`, download: name, "aria-label": `Download ${words} as CSV` }, "Download CSV");
  link.addEventListener("click", async (event) => {
    event.preventDefault();
    replace(problem);
    try {
      const file = await api.file(path, { ...period, format: "csv" });
      const address = URL.createObjectURL(file);
      h("a", { href: address, download: name }).click();
      setTimeout(() => URL.revokeObjectURL(address), DOWNLOAD_KEPT_MS);
    } catch (error) {
      replace(problem, notice("error", describe(error)));
    }
  });
  return h("p", {}, link, " ", problem);
}
