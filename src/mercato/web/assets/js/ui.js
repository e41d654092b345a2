// What both apps share on screen: the progress indicator for slow answers, forms that show
// a problem+json answer next to the fields it names, and notices in words.

import { ApiError, onBusy } from "./api.js";
import { field, h, replace } from "./dom.js";
import * as session from "./session.js";

// Answers faster than this show no indicator at all (no flicker on quick calls).
const PROGRESS_AFTER_MS = 300;

/** Shows ``element`` (a role=status node) while calls are in flight longer than a moment. */
export function showProgressIn(element) {
  let pending = null;
  onBusy((count) => {
    clearTimeout(pending);
    if (count > 0) {
      pending = setTimeout(() => {
        element.hidden = false;
        replace(element, h("span", { class: "spinner", "aria-hidden": "true" }), "Loading…");
      }, PROGRESS_AFTER_MS);
    } else {
      element.hidden = true;
      replace(element);
    }
  });
}

/** A notice in words: kind is "error", "success" or "info". */
export function notice(kind, ...text) {
  return h("p", { class: `notice ${kind}`, role: kind === "error" ? "alert" : "status" }, ...text);
}

/** The sentence a person reads for an API error. */
export function describe(error) {
  if (!(error instanceof ApiError)) return `Something went wrong: ${error.message}`;
  if (error.status === 429) return "Too many attempts; wait a moment and try again.";
  if (error.status === 0 || error.status >= 500) return `${error.message} Nothing was lost; please try again.`;
  return error.message;
}

/** Clears what a previous submission of ``form`` showed. */
export function clearProblems(form) {
  for (const message of form.querySelectorAll(".field-error")) {
    message.hidden = true;
    message.textContent = "";
  }
  for (const control of form.querySelectorAll("[aria-invalid]")) control.removeAttribute("aria-invalid");
  form.querySelector(".form-problem")?.replaceChildren();
}

/** Shows ``error`` on ``form``: field messages next to their fields, the rest on top. */
export function showProblem(form, error, fieldNames = {}) {
  const fields = error instanceof ApiError ? error.fieldErrors : {};
  let placed = 0;
  for (const [loc, message] of Object.entries(fields)) {
    const name = fieldNames[loc] || loc.split(".").pop();
    const control = form.elements.namedItem(name);
    const slot = control && form.querySelector(`#${CSS.escape(control.id)}-error`);
    if (!slot) continue;
    control.setAttribute("aria-invalid", "true");
    slot.textContent = message;
    slot.hidden = false;
    placed += 1;
  }
  const top = form.querySelector(".form-problem");
  replace(top, notice("error", describe(error)));
  (form.querySelector("[aria-invalid]") || top).focus?.();
  return placed;
}

/**
 * Runs ``action`` on submit: the button is disabled at once (a double click sends nothing
 * twice) and says what is happening; problems land next to what caused them.
 */
export function onSubmit(form, busyLabel, action, fieldNames = {}) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = form.querySelector("button[type=submit]");
    if (button.disabled) return;
    const label = button.textContent;
    button.disabled = true;
    button.textContent = busyLabel;
    form.setAttribute("aria-busy", "true");
    clearProblems(form);
    try {
      await action(new FormData(form));
    } catch (error) {
      showProblem(form, error, fieldNames);
    } finally {
      if (button.isConnected) {
        button.disabled = false;
        button.textContent = label;
      }
      form.removeAttribute("aria-busy");
    }
  });
  return form;
}

/** Runs ``action`` on a click of ``button`` (disabled meanwhile); a failure shows in ``problem``. */
export function onPress(button, problem, action) {
  button?.addEventListener("click", async () => {
    button.disabled = true;
    try {
      await action();
    } catch (error) {
      replace(problem, notice("error", describe(error)));
    } finally {
      if (button.isConnected) button.disabled = false;
    }
  });
  return button;
}

/** The slot on top of a form where its problems appear. */
export function problemSlot() {
  return h("div", { class: "form-problem", tabindex: "-1" });
}

/** Moves focus to the new page's heading after a route change (screen readers follow). */
function focusHeading(view) {
  const heading = view.querySelector("h1");
  if (heading) {
    heading.setAttribute("tabindex", "-1");
    heading.focus({ preventScroll: true });
  }
}

/**
 * Shows one navigation: ``page(view)`` draws into a view of its own, put in ``main`` in place
 * of the last one; a failure is told in words; then the heading gets the focus.
 */
export async function showPage(main, page) {
  // A page still loading when the person moves on draws into its detached view, where
  // nobody sees it, instead of over the newer page.
  const view = h("div", { class: "view" });
  replace(main, view);
  try {
    await page(view);
  } catch (error) {
    replace(view, h("h1", {}, "Something went wrong"), notice("error", describe(error)));
  }
  if (view.isConnected) focusHeading(view);
}

/** Signs in through the gateway's session; a refusal shows in words; ``then`` follows. */
export function signInForm(then) {
  const form = h(
    "form",
    { class: "narrow" },
    field("Email", h("input", { name: "email", type: "email", autocomplete: "username", required: true })),
    field("Password", h("input", { name: "password", type: "password", autocomplete: "current-password", required: true })),
    problemSlot(),
    h("button", { type: "submit", class: "primary" }, "Sign in"),
  );
  return onSubmit(form, "Signing in…", async (data) => {
    await signInOrExplain(data.get("email"), data.get("password"));
    await then();
  });
}

/** Signs in; rejects with the gateway's problem as an ApiError. */
export async function signInOrExplain(email, password) {
  const reply = await session.signIn(email, password);
  if (!reply.ok) throw new ApiError(reply.status, await reply.json().catch(() => ({})));
}
