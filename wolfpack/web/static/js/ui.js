// Shared state of the page and small DOM helpers.
import { hint, get, enc, ApiError } from "./api.js";

export const state = {
  doc: null, // the last GET /api/v1/cluster
  who: null, // GET /api/v1/whoami
  selected: "cluster",
  expanded: new Set(["cluster", "groups", "resources", "config"]),
  render: () => {}, // set by app.js: redraw tree and detail from state.doc
  refresh: async () => {}, // set by app.js: re-read the cluster, then render
};

export function canWrite() {
  return Boolean(state.who && state.who.role === "admin");
}

// el("button", {class: "x", onclick: f, "aria-label": "..."}, "text", child, ...)
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
    else if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (value === true) node.setAttribute(key, "");
    else node.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

let liveTimer = 0;
export function say(text) {
  const live = document.getElementById("live");
  live.textContent = text;
  clearTimeout(liveTimer);
  liveTimer = setTimeout(() => {
    if (live.textContent === text) live.textContent = "";
  }, 6000);
}

export function showError(err, what = "") {
  const banner = document.getElementById("banner");
  document.getElementById("banner-title").textContent =
    (what ? `${what} failed` : "Request failed") +
    (err.status ? ` (${[err.status, err.type, err.code].filter(Boolean).join(" ")})` : "") + ":";
  // A validation error's message is its field messages joined: list them once.
  document.getElementById("banner-message").textContent = (err.fields || []).length ? "" : err.message || String(err);
  const list = document.getElementById("banner-fields");
  list.replaceChildren(...(err.fields || []).map((f) => el("li", {}, el("code", {}, f.field), ": ", f.message)));
  document.getElementById("banner-hint").textContent = err.status !== undefined ? hint(err) : "";
  banner.hidden = false;
}

export function clearError() {
  document.getElementById("banner").hidden = true;
}

// Run an API call for an action; success goes to the status line, failure to the banner.
// A request (202 + intent) is then followed until the coordinator answers, so a refusal
// (with its reason code) is shown too, not only errors of the call itself.
export async function act(what, call) {
  try {
    const result = await call();
    clearError();
    say(`${what}: requested`);
    await state.refresh();
    if (result && result.id && result.kind) follow(what, result.id);
    return result;
  } catch (err) {
    showError(err, what);
    return undefined;
  }
}

async function follow(what, id) {
  for (let i = 0; i < 40; i += 1) {
    await new Promise((r) => setTimeout(r, 500));
    let intent;
    try {
      intent = await get(`/intents/${enc(id)}`);
    } catch {
      return;
    }
    const status = intent && intent.status;
    if (!status || status === "pending") continue;
    if (status === "accepted" || status === "done" || status === "succeeded") {
      say(`${what}: accepted by the coordinator`);
    } else {
      const out = intent.outcome || {};
      showError(new ApiError(409, status, out.message || `the coordinator answered ${status}`, [], out.code), what);
    }
    return;
  }
}
