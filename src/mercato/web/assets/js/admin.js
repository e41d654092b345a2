// The admin console: products, stock, orders, users and reviews, for accounts with the admin role.
// Sections of services that do not run yet are listed in SECTIONS with ``soon`` and appear
// in the navigation as such; each becomes a page by adding its function here.

import { analyticsPage } from "./analytics.js";
import * as api from "./api.js";
import { ApiError } from "./api.js";
import { drawChart } from "./charts.js";
import { currentRoute, field, h, minorUnits, money, replace, route, stars, when } from "./dom.js";
import * as session from "./session.js";
import { describe, notice, onSubmit, problemSlot, showPage, showProgressIn, signInForm } from "./ui.js";

// Where the pages go: each navigation draws into a view of its own inside it (showPage).
const main = document.getElementById("main");

const SECTIONS = [
  { path: "orders", label: "Orders", page: ordersPage },
  { path: "products", label: "Products", page: productsPage },
  { path: "stock", label: "Stock", page: stockPage },
  { path: "users", label: "Users", page: usersPage },
  { path: "reviews", label: "Reviews", page: reviewsPage },
  { path: "analytics", label: "Analytics", page: (view, _, params) => analyticsPage(view, params) },
  { path: "logs", label: "Logs", page: logsPage },
  { path: "audit", label: "Audit", page: auditPage },
  { path: "status", label: "Status", page: statusPage },
];
const STATUS_ORDER = ["pending", "confirmed", "failed", "cancelled", "refunded"];
const STATUS_COLOURS = ["#8a6d00", "#1e6b2f", "#a4161a", "#555555", "#0b57d0"];

function isAdmin() {
  return session.account()?.roles.includes("admin");
}

// -- the frame --------------------------------------------------------------------------

function header() {
  const { parts } = currentRoute();
  replace(
    document.getElementById("admin-nav"),
    isAdmin()
      ? SECTIONS.map((section) =>
          section.soon
            ? h("span", { class: "soon", title: `Comes with the ${section.soon} service` }, `${section.label} (soon)`)
            : h("a", { href: route(section.path), "aria-current": parts[0] === section.path ? "page" : null }, section.label),
        )
      : [],
  );
  replace(
    document.getElementById("account-nav"),
    session.account() ? h("button", { type: "button", class: "link", onclick: signOut }, "Sign out") : null,
  );
}

async function signOut() {
  await session.signOut();
  location.hash = route("signin");
  render();
}

function render() {
  const { parts, params } = currentRoute();
  header();
  if (!isAdmin()) return showPage(main, signInPage);
  const section = SECTIONS.find((s) => s.path === parts[0] && s.page) || SECTIONS[0];
  return showPage(main, (view) => section.page(view, parts.slice(1), params));
}

function signInPage(view) {
  const form = signInForm(async () => {
    if (!isAdmin()) {
      // Signed in, but not staff: no session is kept for an account that cannot use this.
      await session.signOut();
      throw new ApiError(403, { detail: "This account is not an administrator; the admin console is for the shop's staff only." });
    }
    if (currentRoute().parts[0] === "signin") location.hash = route("orders");
    else await render();
  });
  replace(view, h("h1", {}, "Staff sign-in"), form, h("p", {}, h("a", { href: "/" }, "Back to the shop")));
}

// -- orders -----------------------------------------------------------------------------

async function customersById() {
  const page = await api.get("/users", { limit: 100 }).catch(() => ({ items: [] }));
  return new Map(page.items.map((user) => [user.id, user.email]));
}

async function ordersPage(view, [id], params) {
  if (id) return orderPage(view, id);
  const find = h(
    "form",
    { class: "row", role: "search" },
    field("Order ID", h("input", { name: "order", required: true, value: params.get("order") || "" })),
    h("div", { class: "field" }, h("span", { "aria-hidden": "true" }, "\u00a0"), h("button", { type: "submit" }, "Find order")),
  );
  find.addEventListener("submit", (event) => {
    event.preventDefault();
    location.hash = route("orders", find.elements.namedItem("order").value.trim());
  });
  const [page, customers] = await Promise.all([api.get("/orders", { limit: 100 }), customersById()]);
  const chart = h("canvas", { role: "img", "aria-label": "Latest orders by status" });
  replace(
    view,
    h("h1", {}, "Orders"),
    find,
    h(
      "div",
      { class: "panels" },
      h("section", { class: "panel" }, h("h2", {}, `Latest ${page.items.length} orders by status`), h("div", { class: "chart" }, chart)),
    ),
    h(
      "table",
      { class: "lines" },
      h("thead", {}, h("tr", {}, ["Order", "Customer", "Placed", "Status", "Total"].map((t) => h("th", { scope: "col" }, t)))),
      h(
        "tbody",
        {},
        page.items.map((order) =>
          h(
            "tr",
            {},
            h("td", {}, h("a", { href: route("orders", order.id) }, order.id.slice(0, 8))),
            h("td", {}, customers.get(order.user_id) || order.user_id.slice(0, 8)),
            h("td", {}, when(order.created_at)),
            h("td", { class: "status" }, order.status),
            h("td", {}, money(order.total)),
          ),
        ),
      ),
    ),
  );
  drawStatusChart(chart, page.items);
}

function drawStatusChart(canvas, orders) {
  const counts = STATUS_ORDER.map((status) => orders.filter((order) => order.status === status).length);
  drawChart(canvas, "bar", STATUS_ORDER, [{ label: "Orders", data: counts, backgroundColor: STATUS_COLOURS }]);
}

async function orderPage(view, id) {
  let order;
  try {
    order = await api.get(`/orders/${encodeURIComponent(id)}`);
  } catch (error) {
    replace(view, h("h1", {}, "Order"), notice("error", error.status === 404 || error.status === 422 ? `No order ${id}.` : describe(error)), h("p", {}, h("a", { href: route("orders") }, "All orders")));
    return;
  }
  const outcome = h("div", { "aria-live": "polite" });
  const actions = h("div", { class: "row" });
  if (order.status === "confirmed") {
    const refund = h("button", { type: "button", class: "danger" }, "Refund");
    const cancel = h("button", { type: "button" }, "Cancel order");
    refund.addEventListener("click", () => act(view, refund, outcome, async () => {
      await api.post(`/payments/charges/${order.charge_id}/refunds`, {});
      return "Refund issued; the order shows refunded once payment reports it.";
    }, id));
    cancel.addEventListener("click", () => act(view, cancel, outcome, async () => {
      await api.post(`/orders/${order.id}/cancel`);
      return "Order cancelled: stock returned and payment refunded.";
    }, id));
    actions.append(refund, cancel);
  }
  const customer = await api.get(`/users/${order.user_id}`).catch(() => null);
  replace(
    view,
    h("h1", {}, `Order ${order.id}`),
    h("p", {}, "Status: ", h("strong", { class: "status" }, order.status)),
    order.failure ? h("p", {}, `Failure: ${order.failure.reason}`, order.failure.detail?.decline_code ? ` (${order.failure.detail.decline_code})` : "") : null,
    h("p", {}, "Customer: ", customer ? `${customer.name} <${customer.email}>` : order.user_id),
    h("p", {}, "Placed: ", when(order.created_at)),
    h("ul", {}, order.items.map((item) => h("li", {}, `${item.quantity} × ${item.name} (${item.sku}) — ${money(item.line_total)}`))),
    h("p", { class: "total" }, "Total: ", h("strong", {}, money(order.total))),
    actions,
    outcome,
    h("p", {}, h("a", { href: route("orders") }, "All orders")),
  );
}

async function act(view, button, outcome, action, orderId) {
  button.disabled = true;
  try {
    const words = await action();
    replace(outcome, notice("success", words));
    await followOrder(view, orderId, words);
  } catch (error) {
    button.disabled = false;
    replace(outcome, notice("error", describe(error)));
  }
}

/** Redraws the order in ``view`` once its status has moved on (a refund arrives as an event). */
async function followOrder(view, orderId, words) {
  for (let tries = 0; tries < 20; tries++) {
    const order = await api.get(`/orders/${encodeURIComponent(orderId)}`);
    if (order.status !== "confirmed") {
      await orderPage(view, orderId);
      view.querySelector("[aria-live]")?.append(notice("success", words));
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

// -- products ---------------------------------------------------------------------------

/** A search box for products that leads to ``path`` with the query in the address bar. */
function productSearch(path, label, buttonLabel, q) {
  const search = h("form", { role: "search", class: "row" }, field(label, h("input", { name: "q", type: "search", value: q })), h("div", { class: "field" }, h("span", { "aria-hidden": "true" }, "\u00a0"), h("button", { type: "submit" }, buttonLabel)));
  search.addEventListener("submit", (event) => {
    event.preventDefault();
    const value = search.elements.namedItem("q").value.trim();
    location.hash = route(path, new URLSearchParams(value ? { q: value } : {}));
  });
  return search;
}

/** Products matching ``q``, or the newest when there is no query. */
function findProducts(q) {
  return api.get("/products", { q, limit: 100, sort: q ? null : "newest" });
}

async function productsPage(view, [id], params) {
  if (id === "new") return productForm(view, null);
  if (id) return productForm(view, await api.get(`/products/${encodeURIComponent(id)}`));
  const q = params.get("q") || "";
  const search = productSearch("products", "Search", "Search products", q);
  const page = await findProducts(q);
  replace(
    view,
    h("h1", {}, "Products"),
    h("p", {}, h("a", { class: "button", href: route("products", "new") }, "New product")),
    search,
    h(
      "table",
      { class: "lines" },
      h("thead", {}, h("tr", {}, ["SKU", "Name", "Price", "Category"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, page.items.map((p) => h("tr", {}, h("td", {}, p.sku), h("td", {}, h("a", { href: route("products", p.id) }, p.name)), h("td", {}, money(p.price)), h("td", {}, p.category?.name || "")))),
    ),
  );
}

async function productForm(view, product) {
  const categories = await api.get("/categories").catch(() => ({ items: [] }));
  const currency = product?.price.currency || "EUR";
  const units = product ? String(product.price.amount / 100) : "";
  const form = h(
    "form",
    { class: "narrow" },
    product ? h("p", {}, "SKU: ", h("strong", {}, product.sku)) : field("SKU", h("input", { name: "sku", required: true })),
    field("Name", h("input", { name: "name", required: true, value: product?.name })),
    field("Description", h("textarea", { name: "description", rows: 5 }, product?.description || "")),
    field("Price", h("input", { name: "price", inputmode: "decimal", required: true, value: units }), `In ${currency}, e.g. 12.50`),
    field(
      "Category",
      h("select", { name: "category_id" }, h("option", { value: "" }, "None"), (categories.items || []).map((c) => h("option", { value: c.id, selected: product?.category?.id === c.id }, c.name))),
    ),
    problemSlot(),
    h("button", { type: "submit", class: "primary" }, product ? "Save product" : "Create product"),
  );
  const outcome = h("div", { "aria-live": "polite" });
  onSubmit(form, "Saving…", async (data) => {
    const body = {
      name: data.get("name"),
      description: data.get("description"),
      price: { amount: minorUnits(data.get("price"), currency), currency },
      category_id: data.get("category_id") || null,
    };
    if (Number.isNaN(body.price.amount)) throw new ApiError(422, { detail: "Check the price.", errors: [{ loc: ["body", "price"], msg: "Write an amount such as 12.50." }] });
    if (product) {
      await api.patch(`/products/${product.id}`, body);
      replace(outcome, notice("success", "Product saved."));
    } else {
      const made = await api.post("/products", { sku: data.get("sku"), ...body });
      location.hash = route("stock", new URLSearchParams({ sku: made.sku, created: "1" }));
    }
  }, { "price.amount": "price", "price.currency": "price" });
  const deactivate = product ? h("button", { type: "button", class: "danger" }, "Deactivate product") : null;
  deactivate?.addEventListener("click", async () => {
    deactivate.disabled = true;
    try {
      await api.del(`/products/${product.id}`);
      replace(outcome, notice("success", "Product deactivated: it no longer sells."));
    } catch (error) {
      deactivate.disabled = false;
      replace(outcome, notice("error", describe(error)));
    }
  });
  replace(
    view,
    h("h1", {}, product ? `Edit ${product.name}` : "New product"),
    form,
    outcome,
    product ? [picturesForm(view, product), h("p", {}, h("a", { href: route("stock", new URLSearchParams({ sku: product.sku })) }, "Stock of this product")), deactivate] : null,
  );
}

function picturesForm(view, product) {
  const file = h("input", { name: "picture", type: "file", accept: "image/png,image/jpeg,image/webp", required: true });
  const form = h(
    "form",
    { class: "narrow" },
    h("h2", {}, "Pictures"),
    h("div", { class: "pictures" }, product.images.length ? product.images.map((image, i) => h("img", { src: image.url, alt: `${product.name}, picture ${i + 1}` })) : h("p", {}, "No pictures yet.")),
    field("Picture", file),
    problemSlot(),
    h("button", { type: "submit" }, "Upload picture"),
  );
  onSubmit(form, "Uploading…", async () => {
    const picture = file.files[0];
    const grant = await api.post(`/products/${product.id}/images`, { content_type: picture.type || "application/octet-stream", size: picture.size });
    await api.upload(grant, picture);
    await productForm(view, await api.get(`/products/${product.id}`));
  }, { content_type: "picture", size: "picture" });
  return form;
}

// -- stock --------------------------------------------------------------------------------

async function stockPage(view, _, params) {
  const sku = params.get("sku") || "";
  const look = h("form", { role: "search", class: "row" }, field("SKU", h("input", { name: "sku", required: true, value: sku })), h("div", { class: "field" }, h("span", { "aria-hidden": "true" }, "\u00a0"), h("button", { type: "submit" }, "Look up stock")));
  look.addEventListener("submit", (event) => {
    event.preventDefault();
    location.hash = route("stock", new URLSearchParams({ sku: look.elements.namedItem("sku").value.trim() }));
  });
  const body = h("div");
  replace(view, h("h1", {}, "Stock"), params.get("created") ? notice("success", `Product ${sku} created; set its stock.`) : null, look, body);
  if (sku) await drawStock(body, sku);
}

async function drawStock(body, sku) {
  let stock;
  try {
    stock = await api.get(`/inventory/${encodeURIComponent(sku)}`);
  } catch (error) {
    stock = error.status === 404 ? { sku, available: 0 } : null;
    if (!stock) return replace(body, notice("error", describe(error)));
  }
  const set = h("form", { class: "panel" }, h("h2", {}, "Set stock"), field("On hand", h("input", { name: "on_hand", type: "number", min: 0, required: true })), problemSlot(), h("button", { type: "submit" }, "Set stock"));
  const adjust = h(
    "form",
    { class: "panel" },
    h("h2", {}, "Adjust stock"),
    field("Change", h("input", { name: "delta", type: "number", required: true }), "Negative to take stock out"),
    field("Reason", h("input", { name: "reason", required: true }), "e.g. damaged, recount, delivery"),
    problemSlot(),
    h("button", { type: "submit" }, "Adjust stock"),
  );
  onSubmit(set, "Saving…", async (data) => {
    await api.put(`/inventory/${encodeURIComponent(sku)}`, { on_hand: Number(data.get("on_hand")) });
    await drawStock(body, sku);
  });
  onSubmit(adjust, "Saving…", async (data) => {
    await api.post(`/inventory/${encodeURIComponent(sku)}/adjust`, { delta: Number(data.get("delta")), reason: data.get("reason") });
    await drawStock(body, sku);
  });
  replace(body, h("p", { class: "total" }, `${stock.sku}: `, h("strong", { class: "available" }, `${stock.available} available`)), h("div", { class: "panels" }, set, adjust));
}

// -- users ----------------------------------------------------------------------------------

async function usersPage(view) {
  const page = await api.get("/users", { limit: 100 });
  replace(
    view,
    h("h1", {}, "Users"),
    h(
      "table",
      { class: "lines" },
      h("thead", {}, h("tr", {}, ["Email", "Name", "Joined", "Roles"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, page.items.map((user) => h("tr", {}, h("td", {}, user.email), h("td", {}, user.name), h("td", {}, when(user.created_at)), h("td", {}, rolesForm(user))))),
    ),
  );
}

function rolesForm(user) {
  // The user service does not tell roles (auth keeps them): the console sets them whole.
  const outcome = h("span", { "aria-live": "polite" });
  const grant = (roles, words) => async (event) => {
    event.target.disabled = true;
    try {
      await api.put(`/auth/users/${user.id}/roles`, { roles });
      replace(outcome, notice("success", words));
    } catch (error) {
      replace(outcome, notice("error", describe(error)));
    } finally {
      event.target.disabled = false;
    }
  };
  return h(
    "div",
    { class: "row" },
    h("button", { type: "button", "aria-label": `Make ${user.email} an admin`, onclick: grant(["customer", "admin"], "Now an admin.") }, "Make admin"),
    h("button", { type: "button", "aria-label": `Make ${user.email} a customer only`, onclick: grant(["customer"], "Now a customer only.") }, "Customer only"),
    outcome,
  );
}

// -- reviews --------------------------------------------------------------------------------

async function reviewsPage(view, [productId], params) {
  if (productId) return productReviewsPage(view, productId);
  const q = params.get("q") || "";
  const search = productSearch("reviews", "Product", "Find product", q);
  const page = await findProducts(q);
  replace(
    view,
    h("h1", {}, "Reviews"),
    h("p", {}, "Reviews are moderated by product: find it, then hide what breaks the shop's rules."),
    search,
    h(
      "table",
      { class: "lines" },
      h("thead", {}, h("tr", {}, ["Product", "SKU", "Rating"].map((t) => h("th", { scope: "col" }, t)))),
      h(
        "tbody",
        {},
        page.items.map((p) =>
          h(
            "tr",
            {},
            h("td", {}, h("a", { href: route("reviews", p.id), "aria-label": `Reviews of ${p.name}` }, p.name)),
            h("td", {}, p.sku),
            h("td", {}, p.rating?.count ? `${p.rating.average.toFixed(1)} (${p.rating.count})` : "none"),
          ),
        ),
      ),
    ),
  );
}

async function productReviewsPage(view, productId) {
  const product = await api.get(`/products/${encodeURIComponent(productId)}`);
  const rows = h("tbody");
  const more = h("div", { class: "more" });
  const outcome = h("div", { "aria-live": "polite" });
  replace(
    view,
    h("h1", {}, `Reviews of ${product.name}`),
    outcome,
    h("table", { class: "lines" }, h("thead", {}, h("tr", {}, ["Rating", "Title", "Review", "Written", ""].map((t) => h("th", { scope: "col" }, t)))), rows),
    more,
    h("p", {}, h("a", { href: route("reviews") }, "All products")),
  );
  async function load(cursor) {
    replace(more);
    const page = await api.get("/reviews", { product_id: product.id, limit: 50, cursor });
    if (!cursor && page.items.length === 0) rows.append(h("tr", {}, h("td", { colspan: 5 }, "No visible reviews.")));
    for (const review of page.items) rows.append(reviewRow(review, outcome));
    if (page.next_cursor) replace(more, h("button", { type: "button", onclick: () => load(page.next_cursor) }, "More reviews"));
  }
  await load(null);
}

function reviewRow(review, outcome) {
  const hide = h("button", { type: "button", class: "danger", "aria-label": `Hide review “${review.title}”` }, "Hide");
  const row = h(
    "tr",
    {},
    h("td", {}, stars(review.rating)),
    h("td", {}, review.title),
    h("td", { class: "review-body" }, review.body),
    h("td", {}, when(review.created_at)),
    h("td", {}, hide),
  );
  hide.addEventListener("click", async () => {
    hide.disabled = true;
    try {
      await api.post(`/reviews/${review.id}/hide`);
      row.remove();
      replace(outcome, notice("success", `Review “${review.title}” hidden: it no longer shows nor counts in the rating.`));
    } catch (error) {
      hide.disabled = false;
      replace(outcome, notice("error", describe(error)));
    }
  });
  return row;
}

// -- logs and audit -------------------------------------------------------------------------

const LEVELS = ["debug", "info", "warning", "error", "critical"];

/** A filter form whose values land in the address bar of ``path`` (a reload keeps them). */
function filterForm(path, params, fields, buttonLabel) {
  const form = h(
    "form",
    { class: "row", role: "search" },
    fields.map(([label, control]) => {
      control.value = params.get(control.name) || control.value || "";
      return field(label, control);
    }),
    h("div", { class: "field" }, h("span", { "aria-hidden": "true" }, "\u00a0"), h("button", { type: "submit" }, buttonLabel)),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const asked = new URLSearchParams([...new FormData(form)].filter(([, value]) => String(value).trim()));
    location.hash = route(path, asked);
  });
  return form;
}

/** A table filled page by page from ``load(cursor)``, with "More" while there is more. */
async function pagedTable(body, headings, load, row) {
  const rows = h("tbody");
  const more = h("div", { class: "more" });
  replace(body, h("table", { class: "lines" }, h("thead", {}, h("tr", {}, headings.map((t) => h("th", { scope: "col" }, t)))), rows), more);
  async function next(cursor) {
    replace(more);
    try {
      const page = await load(cursor);
      if (!cursor && page.items.length === 0) rows.append(h("tr", {}, h("td", { colspan: headings.length }, "Nothing matches.")));
      for (const item of page.items) rows.append(row(item));
      if (page.next_cursor) replace(more, h("button", { type: "button", onclick: () => next(page.next_cursor) }, "More"));
    } catch (error) {
      replace(more, notice("error", describe(error)));
    }
  }
  await next(null);
}

async function logsPage(view, _, params) {
  const level = h("select", { name: "level" }, h("option", { value: "" }, "Any"), LEVELS.map((name) => h("option", { value: name, selected: params.get("level") === name }, name)));
  const form = filterForm("logs", params, [
    ["Text", h("input", { name: "q", type: "search" })],
    ["Service", h("input", { name: "service", size: 10 })],
    ["Level and worse", level],
    ["Request ID", h("input", { name: "request_id" })],
  ], "Search logs");
  const body = h("div");
  replace(view, h("h1", {}, "Logs"), form, body);
  const query = Object.fromEntries(["q", "service", "level", "request_id"].map((name) => [name, params.get(name)]));
  await pagedTable(body, ["At", "Service", "Level", "Message", "Request"], (cursor) => api.get("/logs", { ...query, limit: 50, cursor }), (entry) =>
    h("tr", {}, h("td", {}, when(entry.at)), h("td", {}, entry.service), h("td", { class: `level ${entry.level}` }, entry.level), h("td", { class: "message" }, entry.message), h("td", {}, entry.request_id || "")),
  );
}

async function auditPage(view, _, params) {
  const form = filterForm("audit", params, [
    ["Action", h("input", { name: "action" })],
    ["Actor", h("input", { name: "actor" })],
  ], "Search audit");
  const verdict = h("div", { "aria-live": "polite" });
  const verify = h("button", { type: "button" }, "Verify");
  verify.addEventListener("click", async () => {
    verify.disabled = true;
    try {
      const checked = await api.get("/audit/verify");
      const broken = checked.first_broken;
      replace(
        verdict,
        checked.valid
          ? notice("success", `Valid: the chain of ${checked.checked} records is unbroken.`)
          : notice("error", `Not valid: ${checked.checked} records checked; record ${broken?.seq} is broken (${broken?.reason}).`),
      );
    } catch (error) {
      replace(verdict, notice("error", describe(error)));
    } finally {
      verify.disabled = false;
    }
  });
  const body = h("div");
  replace(view, h("h1", {}, "Audit trail"), h("p", {}, verify), verdict, form, body);
  const query = { action: params.get("action"), actor: params.get("actor") };
  await pagedTable(body, ["#", "At", "Action", "Actor", "Subject"], (cursor) => api.get("/audit", { ...query, limit: 50, cursor }), (record) =>
    h("tr", {}, h("td", {}, String(record.seq)), h("td", {}, when(record.at)), h("td", {}, record.action), h("td", {}, record.actor || ""), h("td", {}, record.subject)),
  );
}

// -- status ---------------------------------------------------------------------------------

// health probes every few seconds; the page follows it while it is open.
const STATUS_EVERY_MS = 5000;
const STATE_WORDS = { ok: "OK", degraded: "Degraded", down: "Down" };

async function statusPage(view) {
  const body = h("div", { "aria-live": "polite" });
  replace(view, h("h1", {}, "Status"), body);
  while (body.isConnected) {
    try {
      drawStatus(body, await api.get("/status"));
    } catch (error) {
      replace(body, notice("error", describe(error)));
    }
    await new Promise((resolve) => setTimeout(resolve, STATUS_EVERY_MS));
  }
}

function drawStatus(body, status) {
  const targets = (caption, items) =>
    h(
      "table",
      { class: "lines" },
      h("caption", {}, caption),
      h("thead", {}, h("tr", {}, ["Name", "State", "Latency", "Checked", "Since"].map((t) => h("th", { scope: "col" }, t)))),
      h(
        "tbody",
        {},
        items.map((target) =>
          h(
            "tr",
            {},
            h("th", { scope: "row" }, target.name),
            h("td", { class: `state ${target.status}` }, STATE_WORDS[target.status] || target.status),
            h("td", {}, target.latency_ms === null || target.latency_ms === undefined ? "—" : `${Math.round(target.latency_ms)} ms`),
            h("td", {}, when(target.checked_at)),
            h("td", {}, when(target.since)),
          ),
        ),
      ),
    );
  replace(
    body,
    h("p", { class: `total state ${status.status}` }, "Overall: ", h("strong", {}, STATE_WORDS[status.status] || status.status)),
    targets("Services", status.services || []),
    targets("Engines", status.engines || []),
  );
}

// -- start ----------------------------------------------------------------------------------

showProgressIn(document.getElementById("progress"));
session.onChange(header);
window.addEventListener("hashchange", render);
session.refresh().finally(render);
