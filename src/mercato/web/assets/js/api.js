// The public API client (API.md): JSON in and out, problem+json errors as ApiError, the
// access token from session.js, one silent renewal and retry on a 401, and a count of
// calls in flight for the progress indicator. Every page of both apps goes through it.

import * as session from "./session.js";

export const API = "/api/v1";

/** A problem+json answer (or a network failure, status 0) in words. */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `The shop answered ${status}.`);
    this.status = status;
    this.problem = problem;
  }

  /** Field name → message, from the problem's ``errors: [{loc, msg}]``. */
  get fieldErrors() {
    const found = {};
    for (const error of this.problem.errors || []) {
      const loc = (error.loc || []).filter((part) => part !== "body");
      found[loc.join(".")] = error.msg;
    }
    return found;
  }
}

let inFlight = 0;
const busyListeners = new Set();

/** Calls ``listener(count)`` whenever the number of calls in flight changes. */
export function onBusy(listener) {
  busyListeners.add(listener);
}

function busy(delta) {
  inFlight += delta;
  busyListeners.forEach((listener) => listener(inFlight));
}

async function send(method, path, { body, query, headers = {} }) {
  const url = new URL(API + path, location.origin);
  for (const [name, value] of Object.entries(query || {})) {
    if (value !== null && value !== undefined && value !== "") url.searchParams.set(name, value);
  }
  const sent = { ...headers };
  if (body !== undefined) sent["Content-Type"] = "application/json";
  if (session.token()) sent.Authorization = `Bearer ${session.token()}`;
  return fetch(url, {
    method,
    headers: sent,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "omit",
  });
}

/**
 * One API call; resolves to the parsed body (null for 204; a Blob with ``raw``), rejects
 * with ApiError.
 */
export async function call(method, path, options = {}) {
  busy(+1);
  try {
    let reply;
    try {
      reply = await send(method, path, options);
      if (reply.status === 401 && (await session.refresh())) reply = await send(method, path, options);
    } catch (error) {
      throw new ApiError(0, { title: "No connection", detail: "The shop cannot be reached; check the connection and try again." });
    }
    if (reply.status === 204) return null;
    const type = reply.headers.get("Content-Type") || "";
    if (reply.ok && options.raw) return reply.blob();
    const parsed = type.includes("json") ? await reply.json() : { detail: await reply.text() };
    if (!reply.ok) throw new ApiError(reply.status, parsed);
    // A report that is a list (analytics) stays a list.
    return Array.isArray(parsed) ? parsed : { ...parsed, _status: reply.status };
  } finally {
    busy(-1);
  }
}

export const get = (path, query) => call("GET", path, { query });
export const post = (path, body, headers) => call("POST", path, { body, headers });
export const put = (path, body) => call("PUT", path, { body });
export const patch = (path, body) => call("PATCH", path, { body });
export const del = (path) => call("DELETE", path);
/** A file the API answers (a CSV report, say) as a Blob, fetched with the access token. */
export const file = (path, query) => call("GET", path, { query, raw: true });

/** A random Idempotency-Key (one per checkout attempt, kept for its retries). */
export function newIdempotencyKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Sends ``file`` to object storage with a presigned grant from the API ({upload_url,
 * method, headers}); the browser sets Content-Length itself from the file.
 */
export async function upload(grant, file) {
  const headers = Object.fromEntries(Object.entries(grant.headers || {}).filter(([name]) => name.toLowerCase() !== "content-length"));
  busy(+1);
  try {
    const reply = await fetch(grant.upload_url, { method: grant.method || "PUT", headers, body: file, credentials: "omit" });
    if (!reply.ok) throw new ApiError(reply.status, { detail: `The picture could not be stored (object storage answered ${reply.status}).` });
  } catch (error) {
    if (error instanceof ApiError) throw error;
    throw new ApiError(0, { detail: "The picture could not be sent; check the connection and try again." });
  } finally {
    busy(-1);
  }
}
