// Builds the page from elements and text nodes only: nothing the API returns is ever
// parsed as HTML (no innerHTML), so a product named "<img onerror=...>" stays text.

/** An element with attributes (properties for on* handlers) and children (text or nodes). */
export function h(tag, attrs = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (name === "class") element.className = value;
    else if (value === true) element.setAttribute(name, "");
    else element.setAttribute(name, String(value));
  }
  append(element, children);
  return element;
}

/** Appends children: strings become text nodes, arrays are flattened, null is skipped. */
export function append(parent, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return parent;
}

/** Replaces everything inside ``parent``. */
export function replace(parent, ...children) {
  parent.replaceChildren();
  return append(parent, children);
}

/** A price in the shop's words: {amount: 3900, currency: "EUR"} → "€39.00". */
export function money(value) {
  if (!value) return "";
  const digits = new Intl.NumberFormat("en", { style: "currency", currency: value.currency })
    .resolvedOptions().maximumFractionDigits;
  return new Intl.NumberFormat("en", { style: "currency", currency: value.currency })
    .format(value.amount / 10 ** digits);
}

/** Minor units from what a person types ("12.5" EUR → 1250); NaN when it is no amount. */
export function minorUnits(text, currency = "EUR") {
  const digits = new Intl.NumberFormat("en", { style: "currency", currency })
    .resolvedOptions().maximumFractionDigits;
  if (!/^\d+(\.\d+)?$/.test(text.trim())) return NaN;
  return Math.round(Number(text) * 10 ** digits);
}

/** A rating of 1 to 5 as stars, read out as "Rated 4 out of 5". */
export function stars(rating) {
  const label = `Rated ${rating} out of 5`;
  return h("span", { class: "stars", role: "img", "aria-label": label, title: label }, "★".repeat(rating) + "☆".repeat(5 - rating));
}

/** A date and time in the reader's locale. */
export function when(iso) {
  return iso ? new Date(iso).toLocaleString() : "";
}

/** A labelled form field: <label> and <input> (or a given control) tied by id. */
export function field(label, control, hint) {
  control.id ||= `f-${control.name || Math.random().toString(36).slice(2)}`;
  const error = h("p", { class: "field-error", id: `${control.id}-error`, hidden: true });
  control.setAttribute("aria-describedby", error.id);
  return h(
    "div",
    { class: "field" },
    h("label", { for: control.id }, label),
    hint ? h("span", { class: "hint" }, hint) : null,
    control,
    error,
  );
}

/** The route part of the address bar: "#/product/42?x=1" → ["product", "42"], params. */
export function currentRoute() {
  const [path, query = ""] = location.hash.replace(/^#\/?/, "").split("?");
  return { parts: path.split("/").filter(Boolean).map(decodeURIComponent), params: new URLSearchParams(query) };
}

/** A link to a route of the page. */
export function route(...parts) {
  const [last] = parts.slice(-1);
  const params = last instanceof URLSearchParams ? parts.pop() : null;
  const path = "#/" + parts.map(encodeURIComponent).join("/");
  return params && [...params].length ? `${path}?${params}` : path;
}
