// The REST API client: one place that adds the token and turns error bodies into ApiError.
const TOKEN_KEY = "wolfpack.token";
export const BASE = "/api/v1";

export class ApiError extends Error {
  constructor(status, type, message, fields = [], code = null) {
    super(message);
    this.status = status;
    this.type = type;
    this.fields = fields;
    this.code = code; // a refusal's reason code, e.g. TARGET_NOT_ELIGIBLE
  }
}

export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
}

export async function request(method, path, body, secret = token()) {
  const headers = { Accept: "application/json" };
  if (secret) headers.Authorization = `Bearer ${secret}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(BASE + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (exc) {
    throw new ApiError(0, "NetworkError", `cannot reach the API (${exc.message})`);
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    const err = (data && data.error) || {};
    const detail = data && typeof data.detail === "string" ? data.detail : null;
    throw new ApiError(
      response.status,
      err.type || `HTTP ${response.status}`,
      err.message || detail || text.slice(0, 200) || response.statusText,
      err.fields || [],
      err.code || null,
    );
  }
  return data;
}

export const get = (path, secret) => request("GET", path, undefined, secret);
export const post = (path, body = {}) => request("POST", path, body);
export const patch = (path, body) => request("PATCH", path, body);
export const del = (path) => request("DELETE", path);

export const enc = encodeURIComponent;

// What the administrator can do about an error, by HTTP status.
export function hint(err) {
  switch (err.status) {
    case 0:
      return "Check that wolfpackd is running on this node, or open the address of another node.";
    case 401:
      return "Your token was not accepted: sign in again with a valid token.";
    case 403:
      return "Your token has the read-only role: ask an administrator for an admin token.";
    case 404:
      return "Someone may have deleted it meanwhile; the view now shows the current cluster.";
    case 409:
      return "The cluster refused the request in its current state; read the reason, change the state, then try again.";
    case 413:
      return "The request is too large; shorten the values.";
    case 422:
      return "Nothing was changed: correct what the message names, then try again.";
    default:
      return err.status >= 500
        ? "The node could not complete it (is etcd reachable?). Try again, or use another node."
        : "";
  }
}
