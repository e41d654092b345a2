// The signed-in state, after the IETF "OAuth 2.0 for Browser-Based Applications" BCP
// (docs/adr/0027): the access token lives in this module's memory only, never in
// localStorage or sessionStorage; the refresh token stays in the gateway's HttpOnly
// cookie, which scripts cannot read. A reload or an expired access token gets a new
// one from the cookie through /session/refresh.

const HEADERS = { "Content-Type": "application/json", "X-Mercato-Session": "1" };
// Refresh this long before the access token expires, so calls rarely meet a 401.
const EARLY_SECONDS = 30;

let accessToken = null;
let claims = null;
let renewal = null;
let timer = null;
const listeners = new Set();

/** Calls ``listener`` whenever someone signs in or out. */
export function onChange(listener) {
  listeners.add(listener);
}

/** The access token, or null when nobody is signed in. */
export function token() {
  return accessToken;
}

/** The signed-in account: {id, roles}, or null. */
export function account() {
  return claims && { id: claims.sub, roles: claims.roles || [] };
}

function accept(pair) {
  accessToken = pair.access_token;
  const payload = accessToken.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
  claims = JSON.parse(atob(payload));
  clearTimeout(timer);
  const seconds = Math.max(5, (pair.expires_in || 60) - EARLY_SECONDS);
  timer = setTimeout(() => refresh().catch(() => {}), seconds * 1000);
  listeners.forEach((listener) => listener(account()));
}

function forget() {
  const was = accessToken !== null;
  accessToken = null;
  claims = null;
  clearTimeout(timer);
  if (was) listeners.forEach((listener) => listener(null));
}

async function post(path, method = "POST", body = undefined) {
  return fetch(path, {
    method,
    headers: HEADERS,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
  });
}

/** Signs in; resolves to the reply (the caller shows a refusal in words). */
export async function signIn(email, password) {
  const reply = await post("/session", "POST", { email, password });
  if (reply.ok) accept(await reply.json());
  return reply;
}

/** A new access token from the cookie; false when there is no session to renew. */
export function refresh() {
  // Concurrent 401s share one renewal: a refresh token is good for one use only.
  renewal ||= (async () => {
    try {
      const reply = await post("/session/refresh");
      if (!reply.ok) {
        forget();
        return false;
      }
      accept(await reply.json());
      return true;
    } catch (error) {
      return false;
    } finally {
      renewal = null;
    }
  })();
  return renewal;
}

/** Revokes the session at the gateway and forgets the access token; false if not revoked. */
export async function signOut() {
  try {
    return (await post("/session", "DELETE")).ok;
  } catch {
    return false;
  } finally {
    forget();
  }
}
