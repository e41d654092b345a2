// The storefront: catalog, product, cart, checkout, sign-in, register and account pages,
// routed by the address bar's hash so a reload keeps the page (the server serves one file).

import * as api from "./api.js";
import { ApiError } from "./api.js";
import { currentRoute, field, h, money, minorUnits, replace, route, when } from "./dom.js";
import { showReviews } from "./reviews.js";
import * as session from "./session.js";
import { describe, notice, onPress, onSubmit, problemSlot, showPage, showProgressIn, signInForm, signInOrExplain } from "./ui.js";

// Where the pages go: each navigation draws into a view of its own inside it (showPage).
const main = document.getElementById("main");
const PAGE_SIZE = 12;
const FEW_LEFT = 5;
// A guest's cart until they sign in: product ids and quantities, no token, no personal data.
const GUEST_CART = "mercato.guest-cart";
const SANDBOX_CARDS = [
  ["4242424242424242", "succeeds"],
  ["4000000000000002", "declined (card_declined)"],
  ["4000000000009995", "declined (insufficient_funds)"],
  ["4000000000000259", "answers after 10 seconds"],
];
const STATUS_WORDS = {
  pending: "Pending",
  confirmed: "Confirmed",
  failed: "Failed",
  cancelled: "Cancelled",
  refunded: "Refunded",
};
const FAILURE_WORDS = {
  payment_declined: (detail) => `Your card was declined (${detail.decline_code || "no reason given"}).`,
  out_of_stock: (detail) => `Some items are no longer in stock${detail.skus ? `: ${detail.skus.join(", ")}` : ""}.`,
};

const routes = {
  "": catalogPage,
  product: productPage,
  cart: cartPage,
  checkout: checkoutPage,
  signin: signInPage,
  register: registerPage,
  account: accountPage,
  orders: orderPage,
};

// -- the frame ------------------------------------------------------------------------

function header() {
  const nav = document.getElementById("account-nav");
  const who = session.account();
  replace(
    nav,
    h("a", { href: route("cart") }, "Cart"),
    who
      ? [
          h("a", { href: route("account") }, "Account"),
          h("button", { type: "button", class: "link", onclick: signOut }, "Sign out"),
        ]
      : [h("a", { href: route("signin") }, "Sign in"), h("a", { href: route("register") }, "Register")],
  );
}

async function signOut() {
  await session.signOut();
  location.hash = route();
}

function render() {
  const { parts, params } = currentRoute();
  const page = routes[parts[0] || ""] || notFoundPage;
  if (parts[0] !== undefined && parts[0] !== "") showSearched("");
  return showPage(main, (view) => page(view, parts.slice(1), params));
}

/** Shows what the page searched for, unless the customer is typing a new search. */
function showSearched(q) {
  const search = document.getElementById("search");
  if (document.activeElement !== search) search.value = q;
}

function notFoundPage(view) {
  replace(view, h("h1", {}, "Page not found"), h("p", {}, h("a", { href: route() }, "Back to the shop")));
}

// -- catalog ----------------------------------------------------------------------------

async function catalogPage(view, _, params) {
  const q = params.get("q") || "";
  showSearched(q);
  const categories = await api.get("/categories").catch(() => ({ items: [] }));
  const list = h("ul", { class: "products", "aria-label": "Products" });
  const more = h("div", { class: "more" });
  const filters = filterForm(params, categories.items || []);
  replace(
    view,
    h("h1", {}, q ? `Results for “${q}”` : "All products"),
    h("div", { class: "catalog" }, filters, h("section", { "aria-label": "Results" }, list, more)),
  );

  const query = {
    q,
    category: params.get("category"),
    min_price: params.get("min_price"),
    max_price: params.get("max_price"),
    sort: params.get("sort"),
    limit: PAGE_SIZE,
  };
  async function load(cursor) {
    replace(more);
    try {
      const page = await api.get("/products", { ...query, cursor });
      if (!cursor && page.items.length === 0) list.append(h("li", { class: "empty" }, "No products match."));
      for (const product of page.items) list.append(productCard(product));
      if (page.next_cursor) {
        replace(more, h("button", { type: "button", onclick: () => load(page.next_cursor) }, "More products"));
      }
    } catch (error) {
      replace(more, notice("error", describe(error)));
    }
  }
  await load(null);
}

function filterForm(params, categories) {
  const category = h(
    "select",
    { name: "category" },
    h("option", { value: "" }, "All categories"),
    categories.map((c) => h("option", { value: c.slug, selected: params.get("category") === c.slug }, c.name)),
  );
  const sort = h(
    "select",
    { name: "sort" },
    [["", "Relevance"], ["price_asc", "Price, low to high"], ["price_desc", "Price, high to low"], ["newest", "Newest"], ["name", "Name"]].map(
      ([value, label]) => h("option", { value, selected: (params.get("sort") || "") === value }, label),
    ),
  );
  const asUnits = (name) => (params.get(name) ? String(Number(params.get(name)) / 100) : "");
  const min = h("input", { name: "min", inputmode: "decimal", value: asUnits("min_price"), size: 6 });
  const max = h("input", { name: "max", inputmode: "decimal", value: asUnits("max_price"), size: 6 });
  const form = h(
    "form",
    { class: "filters", "aria-label": "Filters" },
    field("Category", category),
    field("Minimum price", min),
    field("Maximum price", max),
    field("Sort by", sort),
    problemSlot(),
    h("button", { type: "submit" }, "Apply filters"),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const next = new URLSearchParams();
    if (params.get("q")) next.set("q", params.get("q"));
    if (category.value) next.set("category", category.value);
    for (const [input, name] of [[min, "min_price"], [max, "max_price"]]) {
      if (input.value.trim()) next.set(name, String(minorUnits(input.value) || 0));
    }
    if (sort.value) next.set("sort", sort.value);
    location.hash = route(next);
  });
  // Open beside the results on a wide screen; folded above them on a phone.
  const wide = window.matchMedia("(min-width: 701px)").matches;
  const filtered = ["category", "min_price", "max_price", "sort"].some((name) => params.get(name));
  return h("details", { class: "filters-box", open: wide || filtered }, h("summary", {}, "Filters and sorting"), form);
}

function picture(product, className) {
  const image = product.images?.[0];
  if (!image) return h("div", { class: `${className} no-picture`, "aria-hidden": "true" });
  return h("img", { class: className, src: image.url, alt: product.name, loading: "lazy" });
}

function rating(product) {
  const { average, count } = product.rating || {};
  if (!count) return h("span", { class: "rating" }, "No reviews yet");
  return h("span", { class: "rating" }, `★ ${average.toFixed(1)} (${count} review${count === 1 ? "" : "s"})`);
}

function productCard(product) {
  return h(
    "li",
    { class: "card" },
    picture(product, "thumb"),
    h("h2", {}, h("a", { href: route("product", product.id) }, product.name)),
    h("p", { class: "price" }, money(product.price)),
    rating(product),
  );
}

// -- product -----------------------------------------------------------------------------

function stockWords(available) {
  if (available <= 0) return "Out of stock";
  if (available <= FEW_LEFT) return `Only ${available} left`;
  return "In stock";
}

async function productPage(view, [id], params) {
  const product = await api.get(`/products/${encodeURIComponent(id)}`);
  const stock = await api.get(`/inventory/${encodeURIComponent(product.sku)}`).catch(() => null);
  const available = stock ? stock.available : 0;
  const quantity = h("input", { name: "quantity", type: "number", min: 1, max: Math.max(1, Math.min(99, available)), value: 1 });
  const outcome = h("div", { "aria-live": "polite" });
  const form = h(
    "form",
    { class: "buy" },
    field("Quantity", quantity),
    problemSlot(),
    h("button", { type: "submit", class: "primary", disabled: available <= 0 }, "Add to cart"),
  );
  onSubmit(form, "Adding…", async (data) => {
    await addToCart(product, Number(data.get("quantity")));
    replace(outcome, notice("success", `${product.name} is in your cart. `, h("a", { href: route("cart") }, "View cart")));
  }, { quantity: "quantity" });
  const ratingLine = h("p", { class: "rating-line", "aria-live": "polite" }, rating(product));
  replace(
    view,
    h(
      "article",
      { class: "product" },
      h("div", { class: "gallery" }, product.images.length ? product.images.map((image) => h("img", { src: image.url, alt: product.name })) : picture(product, "large")),
      h(
        "div",
        { class: "details" },
        h("h1", {}, product.name),
        h("p", { class: "price" }, money(product.price)),
        h("p", { class: `stock ${available <= 0 ? "out" : ""}` }, stockWords(available)),
        ratingLine,
        h("p", { class: "description" }, product.description),
        form,
        outcome,
      ),
    ),
  );
  await showReviews(view, product, (fresh) => replace(ratingLine, rating(fresh)), params);
}

// -- cart ----------------------------------------------------------------------------------

function guestCart() {
  try {
    return JSON.parse(sessionStorage.getItem(GUEST_CART) || "{}");
  } catch {
    return {};
  }
}

function saveGuestCart(lines) {
  sessionStorage.setItem(GUEST_CART, JSON.stringify(lines));
}

async function addToCart(product, quantity) {
  if (!session.account()) {
    const lines = guestCart();
    lines[product.id] = Math.min(99, (lines[product.id] || 0) + quantity);
    saveGuestCart(lines);
    return;
  }
  const cart = await api.get("/cart");
  const line = cart.items.find((item) => item.product_id === product.id);
  await api.put(`/cart/items/${product.id}`, { quantity: Math.min(99, (line ? line.quantity : 0) + quantity) });
}

/** Moves the guest's lines into the customer's cart once they have signed in. */
async function adoptGuestCart() {
  const lines = guestCart();
  for (const [productId, quantity] of Object.entries(lines)) {
    await api.put(`/cart/items/${productId}`, { quantity });
  }
  sessionStorage.removeItem(GUEST_CART);
}

async function cartPage(view) {
  if (!session.account()) return guestCartPage(view);
  const cart = await api.get("/cart");
  const body = h("div");
  replace(view, h("h1", {}, "Your cart"), body);
  if (cart.items.length === 0) {
    replace(body, h("p", {}, "Your cart is empty. ", h("a", { href: route() }, "Keep shopping")));
    return;
  }
  const rows = cart.items.map((line) => cartRow(view, line));
  replace(
    body,
    h("table", { class: "lines" }, h("thead", {}, h("tr", {}, ["Product", "Price", "Quantity", "Total", ""].map((t) => h("th", { scope: "col" }, t)))), h("tbody", {}, rows)),
    h("p", { class: "total" }, "Total: ", h("strong", {}, money(cart.total))),
    h("p", {}, h("a", { class: "button", href: route("checkout") }, "Check out")),
  );
}

function cartRow(view, line) {
  const problem = h("div", { "aria-live": "polite" });
  const quantity = h("input", { type: "number", min: 1, max: 99, value: line.quantity, "aria-label": `Quantity of ${line.name}` });
  quantity.addEventListener("change", async () => {
    try {
      await api.put(`/cart/items/${line.product_id}`, { quantity: Number(quantity.value) });
      await cartPage(view);
    } catch (error) {
      replace(problem, notice("error", describe(error)));
    }
  });
  const remove = h("button", { type: "button", class: "link", "aria-label": `Remove ${line.name}` }, "Remove");
  remove.addEventListener("click", async () => {
    try {
      await api.del(`/cart/items/${line.product_id}`);
      await cartPage(view);
    } catch (error) {
      replace(problem, notice("error", describe(error)));
    }
  });
  return h(
    "tr",
    {},
    h("td", {}, h("a", { href: route("product", line.product_id) }, line.name || "A product no longer sold"), line.available ? null : h("span", { class: "hint" }, " (no longer available)")),
    h("td", {}, money(line.unit_price)),
    h("td", {}, quantity),
    h("td", {}, money(line.line_total)),
    h("td", {}, remove, problem),
  );
}

async function guestCartPage(view) {
  const lines = Object.entries(guestCart());
  const body = h("div");
  replace(view, h("h1", {}, "Your cart"), body);
  if (lines.length === 0) {
    replace(body, h("p", {}, "Your cart is empty. ", h("a", { href: route() }, "Keep shopping")));
    return;
  }
  const products = await Promise.all(lines.map(([id]) => api.get(`/products/${id}`).catch(() => null)));
  replace(
    body,
    h(
      "ul",
      { class: "guest-lines" },
      lines.map(([id, quantity], i) => h("li", {}, `${quantity} × `, products[i] ? products[i].name : "A product no longer sold", products[i] ? ` at ${money(products[i].price)}` : "")),
    ),
    notice("info", "Sign in or register to see your total and check out; your cart comes with you."),
    h("p", {}, h("a", { class: "button", href: route("signin", new URLSearchParams({ next: "cart" })) }, "Sign in"), " ", h("a", { href: route("register", new URLSearchParams({ next: "cart" })) }, "Register")),
  );
}

// -- checkout ----------------------------------------------------------------------------

// One checkout attempt: its Idempotency-Key and card are kept while the same form is sent
// again (a retry after a lost answer), so the order is placed at most once.
let attempt = null;

async function checkoutPage(view) {
  if (!session.account()) {
    location.hash = route("signin", new URLSearchParams({ next: "checkout" }));
    return;
  }
  const cart = await api.get("/cart");
  if (cart.items.length === 0) {
    replace(view, h("h1", {}, "Checkout"), h("p", {}, "Your cart is empty. ", h("a", { href: route() }, "Keep shopping")));
    return;
  }
  const profile = await api.get("/users/me").catch(() => null);
  const saved = profile?.addresses?.[0];
  const input = (name, attrs = {}) => h("input", { name, required: true, ...attrs });
  const outcome = h("div", { class: "outcome", "aria-live": "polite" });
  const form = h(
    "form",
    { class: "checkout", novalidate: true },
    h(
      "fieldset",
      {},
      h("legend", {}, "Shipping address"),
      field("Name", input("name", { autocomplete: "name", value: profile?.name })),
      field("Address line 1", input("line1", { autocomplete: "address-line1", value: saved?.line1 })),
      field("Address line 2", h("input", { name: "line2", autocomplete: "address-line2", value: saved?.line2 })),
      field("City", input("city", { autocomplete: "address-level2", value: saved?.city })),
      field("Postal code", input("postal_code", { autocomplete: "postal-code", value: saved?.postal_code })),
      field("Country", input("country", { autocomplete: "country", maxlength: 2, size: 3, value: saved?.country }), "Two letters, e.g. GB, DE, FR"),
    ),
    h(
      "fieldset",
      {},
      h("legend", {}, "Card"),
      field("Card number", input("card_number", { inputmode: "numeric", autocomplete: "cc-number" })),
      h(
        "div",
        { class: "row" },
        field("Expiry month", input("exp_month", { inputmode: "numeric", autocomplete: "cc-exp-month", size: 3 })),
        field("Expiry year", input("exp_year", { inputmode: "numeric", autocomplete: "cc-exp-year", size: 5 })),
        field("CVC", input("cvc", { inputmode: "numeric", autocomplete: "cc-csc", size: 4 })),
      ),
      h("details", {}, h("summary", {}, "Sandbox cards"), h("ul", {}, SANDBOX_CARDS.map(([number, what]) => h("li", {}, h("code", {}, number), ` ${what}`)))),
    ),
    h("p", { class: "total" }, "Total: ", h("strong", {}, money(cart.total))),
    problemSlot(),
    h("button", { type: "submit", class: "primary" }, "Place order"),
  );
  onSubmit(form, "Placing order…", (data) => placeOrder(data, outcome), {
    "shipping_address.name": "name",
    "shipping_address.line1": "line1",
    "shipping_address.line2": "line2",
    "shipping_address.city": "city",
    "shipping_address.postal_code": "postal_code",
    "shipping_address.country": "country",
  });
  replace(view, h("h1", {}, "Checkout"), form, outcome);
}

async function placeOrder(data, outcome) {
  const fields = Object.fromEntries(data);
  const fingerprint = JSON.stringify(fields);
  if (!attempt || attempt.fingerprint !== fingerprint) {
    attempt = { fingerprint, key: api.newIdempotencyKey(), card: null };
  }
  replace(outcome, notice("info", "Placing your order…"));
  if (!attempt.card) {
    const card = await api.post("/payments/methods", {
      card_number: fields.card_number.replace(/\s+/g, ""),
      exp_month: Number(fields.exp_month) || fields.exp_month,
      exp_year: Number(fields.exp_year) || fields.exp_year,
      cvc: fields.cvc,
    }).catch((error) => {
      replace(outcome);
      throw error;
    });
    attempt.card = card.id;
  }
  const address = { name: fields.name, line1: fields.line1, city: fields.city, postal_code: fields.postal_code, country: fields.country };
  if (fields.line2) address.line2 = fields.line2;
  let order;
  try {
    order = await api.post("/orders", { shipping_address: address, payment_method_id: attempt.card }, { "Idempotency-Key": attempt.key });
  } catch (error) {
    replace(outcome);
    // A definite refusal ends the attempt; a lost or busy answer keeps its key for the retry.
    if (error instanceof ApiError && error.status >= 400 && error.status < 500 && error.status !== 409) attempt = null;
    throw error;
  }
  attempt = null;
  location.hash = route("orders", order.id);
}

function orderOutcome(order) {
  if (order.status === "confirmed") return notice("success", "Order confirmed. Thank you!");
  if (order.status === "pending") return notice("info", "Your order is being processed; this page updates by itself.");
  if (order.status === "failed") {
    const words = FAILURE_WORDS[order.failure?.reason];
    return notice("error", "Order failed: ", words ? words(order.failure.detail || {}) : order.failure?.reason || "", " Nothing was charged.");
  }
  return notice("info", `Order ${STATUS_WORDS[order.status] || order.status}.`);
}

/** From a confirmed order to the product's review form. */
function reviewLink(item) {
  return [" ", h("a", { href: route("product", item.product_id, new URLSearchParams({ write: "1" })), "aria-label": `Review ${item.name}` }, "Write a review")];
}

async function orderPage(view, [id]) {
  let order = await api.get(`/orders/${encodeURIComponent(id)}`);
  const body = h("div");
  const draw = () =>
    replace(
      body,
      orderOutcome(order),
      h("p", {}, "Status: ", h("strong", { class: "status" }, STATUS_WORDS[order.status] || order.status)),
      h("ul", {}, order.items.map((item) => h("li", {}, `${item.quantity} × ${item.name} — ${money(item.line_total)}`, order.status === "confirmed" ? reviewLink(item) : null))),
      h("p", { class: "total" }, "Total: ", h("strong", {}, money(order.total))),
      order.status === "failed" ? h("p", {}, h("a", { href: route("checkout") }, "Try another card")) : null,
      h("p", {}, h("a", { href: route("account") }, "Your orders")),
    );
  replace(view, h("h1", {}, `Order ${order.id.slice(0, 8)}`), body);
  draw();
  // A saga that outlives the request finishes in the background: follow it for a while.
  for (let tries = 0; order.status === "pending" && tries < 30 && body.isConnected; tries++) {
    await new Promise((resolve) => setTimeout(resolve, 2000));
    order = await api.get(`/orders/${encodeURIComponent(id)}`);
    draw();
  }
}

// -- sign-in and registration ---------------------------------------------------------

function afterSignIn(params) {
  return adoptGuestCart().then(() => {
    location.hash = route(params.get("next") || "account");
  });
}

function signInPage(view, _, params) {
  const form = signInForm(() => afterSignIn(params));
  replace(view, h("h1", {}, "Sign in"), form, h("p", {}, "New here? ", h("a", { href: route("register", params) }, "Register")));
}

function registerPage(view, _, params) {
  const form = h(
    "form",
    { class: "narrow" },
    field("Name", h("input", { name: "name", autocomplete: "name", required: true })),
    field("Email", h("input", { name: "email", type: "email", autocomplete: "email", required: true })),
    field("Password", h("input", { name: "password", type: "password", autocomplete: "new-password", required: true }), "At least 12 characters"),
    problemSlot(),
    h("button", { type: "submit", class: "primary" }, "Register"),
  );
  onSubmit(form, "Registering…", async (data) => {
    const fields = Object.fromEntries(data);
    await api.post("/auth/register", fields);
    await signInOrExplain(fields.email, fields.password);
    await afterSignIn(params);
  });
  replace(view, h("h1", {}, "Register"), form, h("p", {}, "Already have an account? ", h("a", { href: route("signin", params) }, "Sign in")));
}

// -- account ---------------------------------------------------------------------------

async function accountPage(view) {
  if (!session.account()) {
    location.hash = route("signin", new URLSearchParams({ next: "account" }));
    return;
  }
  const orders = h("section", { "aria-labelledby": "orders-heading" }, h("h2", { id: "orders-heading" }, "Your orders"));
  const profile = h("section", { "aria-labelledby": "profile-heading" }, h("h2", { id: "profile-heading" }, "Profile"));
  const notifications = h("section", { "aria-labelledby": "notifications-heading" }, h("h2", { id: "notifications-heading" }, "Notifications"));
  replace(view, h("h1", {}, "Your account"), h("div", { class: "account" }, h("div", {}, orders, notifications), profile));
  await Promise.all([drawOrders(orders), drawNotifications(notifications), drawProfile(profile)]);
}

async function drawOrders(section) {
  const page = await api.get("/orders", { limit: 50 });
  const list = page.items.length
    ? h(
        "table",
        { class: "lines" },
        h("thead", {}, h("tr", {}, ["Order", "Placed", "Status", "Total", ""].map((t) => h("th", { scope: "col" }, t)))),
        h("tbody", {}, page.items.map((order) => orderRow(order, section))),
      )
    : h("p", {}, "No orders yet.");
  replace(section, h("h2", { id: "orders-heading" }, "Your orders"), list);
}

function orderRow(order, section) {
  const problem = h("div", { "aria-live": "polite" });
  const cancel =
    order.status === "confirmed"
      ? h("button", { type: "button", "aria-label": `Cancel order ${order.id.slice(0, 8)}` }, "Cancel order")
      : null;
  onPress(cancel, problem, async () => {
    await api.post(`/orders/${order.id}/cancel`);
    await drawOrders(section);
  });
  return h(
    "tr",
    {},
    h("td", {}, h("a", { href: route("orders", order.id) }, order.id.slice(0, 8))),
    h("td", {}, when(order.created_at)),
    h("td", { class: "status" }, STATUS_WORDS[order.status] || order.status),
    h("td", {}, money(order.total)),
    h("td", {}, cancel, problem),
  );
}

async function drawNotifications(section) {
  const heading = h("h2", { id: "notifications-heading" }, "Notifications");
  let page, preferences;
  try {
    [page, preferences] = await Promise.all([api.get("/notifications", { limit: 20 }), api.get("/notifications/preferences")]);
  } catch (error) {
    replace(section, heading, notice("error", describe(error)));
    return;
  }
  const list = page.items.length
    ? h("ul", { class: "notifications", "aria-label": "Notifications" }, page.items.map((item) => notificationItem(item, section)))
    : h("p", {}, "No notifications yet.");
  replace(section, heading, list, preferencesForm(preferences));
}

function notificationItem(item, section) {
  const problem = h("span", { "aria-live": "polite" });
  const read = item.read_at ? null : h("button", { type: "button", class: "link", "aria-label": `Mark “${item.title}” read` }, "Mark read");
  onPress(read, problem, async () => {
    await api.post(`/notifications/${item.id}/read`);
    await drawNotifications(section);
  });
  return h(
    "li",
    { class: `notification ${item.read_at ? "read" : "unread"}` },
    h("p", {}, h("strong", {}, item.title), item.read_at ? "" : " (new)"),
    h("p", {}, item.body),
    h("p", { class: "hint" }, when(item.created_at), " ", read, problem),
  );
}

// notification's categories, in the customer's words.
const PREFERENCES = [
  ["orders", "Order updates"],
  ["account", "Account notices"],
  ["marketing", "Offers and news"],
];

function preferencesForm(preferences) {
  const saved = h("div", { "aria-live": "polite" });
  const form = h(
    "form",
    { class: "narrow" },
    h("h3", {}, "Email me about"),
    h("p", { class: "hint" }, "Notifications on this page are kept either way."),
    PREFERENCES.map(([name, label]) => h("div", { class: "check" }, h("input", { type: "checkbox", id: `pref-${name}`, name, checked: preferences[name] }), h("label", { for: `pref-${name}` }, label))),
    problemSlot(),
    h("button", { type: "submit" }, "Save preferences"),
    saved,
  );
  onSubmit(form, "Saving…", async (data) => {
    await api.put("/notifications/preferences", Object.fromEntries(PREFERENCES.map(([name]) => [name, data.has(name)])));
    replace(saved, notice("success", "Preferences saved."));
  });
  return form;
}

async function drawProfile(section) {
  const heading = h("h2", { id: "profile-heading" }, "Profile");
  let profile;
  try {
    profile = await api.get("/users/me");
  } catch (error) {
    // The profile is made from the registration event, a moment after registering.
    const words = error instanceof ApiError && error.status === 404 ? "Your profile is being set up; reload in a moment." : describe(error);
    replace(section, heading, notice("info", words));
    return;
  }
  const details = h(
    "form",
    { class: "narrow" },
    h("p", {}, "Email: ", profile.email),
    field("Name", h("input", { name: "name", value: profile.name, required: true })),
    field("Phone", h("input", { name: "phone", type: "tel", value: profile.phone || "" }), "International format, e.g. +442071234567"),
    problemSlot(),
    h("button", { type: "submit" }, "Save profile"),
  );
  const saved = h("div", { "aria-live": "polite" });
  onSubmit(details, "Saving…", async (data) => {
    const change = { name: data.get("name") };
    if (data.get("phone")) change.phone = data.get("phone");
    await api.patch("/users/me", change);
    replace(saved, notice("success", "Profile saved."));
  });
  const addresses = h(
    "ul",
    { class: "addresses" },
    profile.addresses.map((address) => {
      const remove = h("button", { type: "button", class: "link", "aria-label": `Delete address ${address.line1}` }, "Delete");
      remove.addEventListener("click", async () => {
        await api.del(`/users/me/addresses/${address.id}`).catch((error) => alertIn(section, error));
        await drawProfile(section);
      });
      return h("li", {}, [address.label, address.line1, address.line2, address.city, address.postal_code, address.country].filter(Boolean).join(", "), " ", remove);
    }),
  );
  const input = (name, attrs = {}) => h("input", { name, ...attrs });
  const add = h(
    "form",
    { class: "narrow" },
    field("Label", input("label"), "e.g. Home"),
    field("Address line 1", input("line1", { required: true })),
    field("Address line 2", input("line2")),
    field("City", input("city", { required: true })),
    field("Postal code", input("postal_code", { required: true })),
    field("Country", input("country", { required: true, maxlength: 2, size: 3 }), "Two letters"),
    problemSlot(),
    h("button", { type: "submit" }, "Add address"),
  );
  onSubmit(add, "Adding…", async (data) => {
    const address = Object.fromEntries([...data].filter(([, value]) => value));
    await api.post("/users/me/addresses", address);
    await drawProfile(section);
  });
  replace(section, heading, avatarForm(profile, section), details, saved, h("h3", {}, "Addresses"), addresses, add);
}

function avatarForm(profile, section) {
  const file = h("input", { name: "avatar", type: "file", accept: "image/png,image/jpeg,image/webp", required: true });
  const form = h(
    "form",
    { class: "narrow avatar" },
    profile.avatar_url ? h("img", { class: "avatar", src: profile.avatar_url, alt: "Your avatar" }) : null,
    field("Avatar", file, "PNG, JPEG or WebP, up to 2 MB"),
    problemSlot(),
    h("button", { type: "submit" }, "Upload avatar"),
  );
  onSubmit(form, "Uploading…", async () => {
    const picture = file.files[0];
    const grant = await api.post("/users/me/avatar", { content_type: picture.type || "application/octet-stream", size: picture.size });
    await api.upload(grant, picture);
    await drawProfile(section);
  }, { content_type: "avatar", size: "avatar" });
  return form;
}

function alertIn(section, error) {
  section.prepend(notice("error", describe(error)));
}

// -- start ---------------------------------------------------------------------------

function start() {
  showProgressIn(document.getElementById("progress"));
  const search = document.getElementById("search-form");
  search.addEventListener("submit", (event) => {
    event.preventDefault();
    const q = document.getElementById("search").value.trim();
    location.hash = route(new URLSearchParams(q ? { q } : {}));
  });
  session.onChange(header);
  window.addEventListener("hashchange", render);
  header();
  // A reload: the cookie, if any, brings the session back before the first page draws.
  session.refresh().finally(() => {
    header();
    render();
  });
}

start();
