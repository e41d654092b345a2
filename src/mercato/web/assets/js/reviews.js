// The product page's reviews: the visible ones, newest first and paged; a customer who
// bought the product writes one, changes or deletes their own. Review text is untrusted and
// only ever becomes text nodes (dom.js builds no HTML from strings).

import * as api from "./api.js";
import { ApiError } from "./api.js";
import { field, h, replace, route, stars, when } from "./dom.js";
import * as session from "./session.js";
import { describe, notice, onPress, onSubmit, problemSlot } from "./ui.js";

const PAGE_SIZE = 5;
// Finding one's own review for "Edit": a product has few reviews, a customer one of them.
const SEARCH_PAGES = 5;
// product learns of a review by an event, a moment later: follow its rating for a while.
const RATING_TRIES = 20;
const RATING_EVERY_MS = 1000;
const RATINGS = [
  [5, "5 — excellent"],
  [4, "4 — good"],
  [3, "3 — fair"],
  [2, "2 — poor"],
  [1, "1 — bad"],
];

/**
 * Appends the reviews section of ``product`` to ``parent``; ``showRating(product)`` redraws the page's rating once
 * it has moved; ``params`` may ask to open the form (``write``) or one's review (``edit``).
 */
export async function showReviews(parent, product, showRating, params) {
  const list = h("ul", { class: "reviews", "aria-label": "Reviews" });
  const more = h("div", { class: "more" });
  const writer = h("div", { class: "review-writer" });
  const section = h("section", { class: "reviews-box", "aria-labelledby": "reviews-heading" }, h("h2", { id: "reviews-heading" }, "Reviews"), list, more, writer);
  const shown = new Map();
  parent.append(section);

  async function load(cursor) {
    replace(more);
    try {
      const page = await api.get("/reviews", { product_id: product.id, limit: PAGE_SIZE, cursor });
      if (!cursor) {
        replace(list);
        shown.clear();
      }
      if (!cursor && page.items.length === 0) list.append(h("li", { class: "empty" }, "No reviews yet."));
      for (const review of page.items) {
        shown.set(review.id, review);
        list.append(reviewItem(review, () => openEditor(review)));
      }
      if (page.next_cursor) replace(more, h("button", { type: "button", onclick: () => load(page.next_cursor) }, "More reviews"));
    } catch (error) {
      replace(more, notice("error", describe(error)));
    }
  }

  /** After a change: the list from its start, and the rating once product has it. */
  async function changed(words) {
    await load(null);
    openWriter(notice("success", words));
    await followRating(product, showRating, section);
  }

  function openWriter(...before) {
    if (!session.account()) {
      replace(writer, ...before, h("p", {}, h("a", { href: route("signin") }, "Sign in"), " to review a product you bought."));
      return null;
    }
    const mine = [...shown.values()].some((review) => review.author_id === session.account().id);
    if (mine) {
      replace(writer, ...before);
      return null;
    }
    const form = reviewForm(null, "Post review");
    onSubmit(form, "Posting…", async (data) => {
      try {
        await api.post("/reviews", { product_id: product.id, ...reviewFields(data) });
      } catch (error) {
        if (error instanceof ApiError && error.status === 409) return showExisting(form, product, error);
        throw inWords(error);
      }
      await changed("Thank you: your review is posted.");
    });
    replace(writer, ...before, h("h3", {}, "Write a review"), form);
    return form;
  }

  function openEditor(review) {
    const form = reviewForm(review, "Save review");
    onSubmit(form, "Saving…", async (data) => {
      await api.patch(`/reviews/${review.id}`, reviewFields(data));
      await changed("Your review is saved.");
    });
    const remove = h("button", { type: "button", class: "danger" }, "Delete review");
    const problem = h("div", { "aria-live": "polite" });
    onPress(remove, problem, async () => {
      await api.del(`/reviews/${review.id}`);
      await changed("Your review is deleted.");
    });
    replace(writer, h("h3", {}, "Edit your review"), form, h("p", {}, remove), problem);
    form.elements.namedItem("rating").focus();
  }

  await load(null);
  const editing = params.get("edit") && (shown.get(params.get("edit")) || (await ownReview(product, params.get("edit"))));
  if (editing) openEditor(editing);
  else {
    const form = openWriter(params.get("edit") ? notice("info", "That review is not shown any more.") : null);
    if (form && params.get("write")) form.scrollIntoView();
  }
}

function reviewItem(review, edit) {
  const mine = session.account()?.id === review.author_id;
  return h(
    "li",
    { class: "review" },
    h("p", { class: "review-head" }, stars(review.rating), " ", h("strong", { class: "review-title" }, review.title)),
    review.body ? h("p", { class: "review-body" }, review.body) : null,
    h("p", { class: "hint" }, mine ? "Your review" : "Verified buyer", ", ", when(review.created_at)),
    mine ? h("button", { type: "button", class: "link", onclick: edit }, "Edit your review") : null,
  );
}

function reviewForm(review, submitLabel) {
  return h(
    "form",
    { class: "narrow review-form" },
    field("Rating", h("select", { name: "rating", required: true }, RATINGS.map(([value, words]) => h("option", { value, selected: review?.rating === value }, words)))),
    field("Title", h("input", { name: "title", required: true, maxlength: 200, value: review?.title })),
    field("Your review", h("textarea", { name: "body", rows: 4, maxlength: 5000 }, review?.body || "")),
    problemSlot(),
    h("button", { type: "submit", class: "primary" }, submitLabel),
  );
}

function reviewFields(data) {
  return { rating: Number(data.get("rating")), title: data.get("title"), body: data.get("body") };
}

/** review's 403 in the customer's words. */
function inWords(error) {
  if (error instanceof ApiError && error.status === 403) {
    return new ApiError(403, { detail: "Only customers who bought this product can review it." });
  }
  return error;
}

/** A second review of the product: said on the form, with the link to change the first. */
function showExisting(form, product, error) {
  const edit = route("product", product.id, new URLSearchParams({ edit: error.problem.review_id || "" }));
  const slot = form.querySelector(".form-problem");
  replace(slot, notice("error", "You already reviewed it. ", h("a", { href: edit }, "Edit your review")));
  slot.focus();
}

/** One's own review by id, looked for among the product's visible reviews. */
async function ownReview(product, id) {
  let cursor = null;
  for (let pages = 0; pages < SEARCH_PAGES; pages++) {
    const page = await api.get("/reviews", { product_id: product.id, limit: 100, cursor }).catch(() => null);
    const found = page?.items.find((review) => review.id === id && review.author_id === session.account()?.id);
    if (found || !page?.next_cursor) return found || null;
    cursor = page.next_cursor;
  }
  return null;
}

async function followRating(product, showRating, section) {
  const before = JSON.stringify(product.rating);
  for (let tries = 0; tries < RATING_TRIES && section.isConnected; tries++) {
    const fresh = await api.get(`/products/${encodeURIComponent(product.id)}`).catch(() => null);
    if (fresh && JSON.stringify(fresh.rating) !== before) {
      product.rating = fresh.rating;
      showRating(fresh);
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, RATING_EVERY_MS));
  }
}
