// Wolfpack Cluster Administrator: sign in, read the cluster, keep it live through SSE.
import { get, token, setToken, BASE, ApiError } from "./api.js";
import { state, el, showError, clearError, say } from "./ui.js";
import { installMenu, closeMenu } from "./menu.js";
import { installTree, renderTree } from "./tree.js";
import { renderDetail } from "./views.js";

const $ = (id) => document.getElementById(id);
let events = null;
let pollTimer = 0;
let refreshTimer = 0;
let refreshing = null;
let again = false;

function render() {
  if (!state.doc) return;
  // Keep the keyboard where it was: the focused control is found again by its key.
  const active = document.activeElement;
  const key = active && active.dataset ? active.dataset.focusKey : null;
  const inDetail = active && $("detail").contains(active);
  renderTree();
  renderDetail();
  if (inDetail && key) document.querySelector(`[data-focus-key="${CSS.escape(key)}"]`)?.focus();
  document.title = `${(state.doc.cluster && state.doc.cluster.name) || "cluster"} — Wolfpack Cluster Administrator`;
}

async function refresh() {
  // One read at a time; a change that arrives meanwhile causes one more read afterwards.
  if (refreshing) {
    again = true;
    return refreshing;
  }
  refreshing = (async () => {
    try {
      state.doc = await get("/cluster");
      render();
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) return signOut("Your session ended: sign in again.");
      showError(err, "Reading the cluster");
    } finally {
      refreshing = null;
    }
    if (again) {
      again = false;
      await refresh();
    }
  })();
  return refreshing;
}

function soon() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(refresh, 100);
}

function live(text, ok) {
  const dot = $("live-dot");
  dot.hidden = false;
  dot.dataset.sse = ok ? "open" : "closed";
  dot.title = text;
  dot.textContent = ok ? "live" : "reconnecting";
}

function connect() {
  if (events) events.close();
  events = new EventSource(`${BASE}/events?token=${encodeURIComponent(token())}`);
  events.addEventListener("open", () => {
    live("Live: changes appear as they happen", true);
    clearInterval(pollTimer);
    pollTimer = 0;
    soon();
  });
  events.addEventListener("change", soon);
  events.addEventListener("hello", soon);
  events.addEventListener("resync", soon); // fell behind: read everything again
  events.addEventListener("error", () => {
    live("Live updates interrupted; reconnecting (reading every 5 s meanwhile)", false);
    if (!pollTimer) pollTimer = setInterval(refresh, 5000);
  });
}

function signOut(message = "") {
  setToken(null);
  if (events) events.close();
  events = null;
  clearInterval(pollTimer);
  pollTimer = 0;
  state.doc = null;
  state.who = null;
  closeMenu(false);
  showLogin(message);
}

function showLogin(message = "") {
  $("app-view").hidden = true;
  $("logout").hidden = true;
  $("tree-toggle").hidden = true;
  $("live-dot").hidden = true;
  $("who").textContent = "";
  $("login-view").hidden = false;
  $("login-error").textContent = message;
  $("token").value = "";
  $("token").focus();
}

async function start() {
  state.who = await get("/whoami");
  $("login-view").hidden = true;
  $("app-view").hidden = false;
  $("logout").hidden = false;
  $("tree-toggle").hidden = false;
  document.body.dataset.role = state.who.role;
  $("who").replaceChildren(el("span", { class: "who-name" }, state.who.name), el("span", { class: "who-sep" }, " · "), el("span", { class: `role role-${state.who.role}` }, state.who.role));
  await refresh();
  connect();
}

async function login(event) {
  event.preventDefault();
  const secret = $("token").value.trim();
  $("login-error").textContent = "";
  try {
    await get("/whoami", secret);
  } catch (err) {
    $("login-error").textContent = err.status === 401
      ? "That token was not accepted. Check it (wolfpack token list shows the names) or ask for a new one."
      : `Cannot sign in: ${err.message}`;
    return;
  }
  setToken(secret);
  clearError();
  try {
    await start();
    say(`Signed in as ${state.who.name}`);
  } catch (err) {
    showError(err, "Signing in");
  }
}

function narrowToggle() {
  const open = !document.body.classList.contains("tree-open");
  document.body.classList.toggle("tree-open", open);
  $("tree-toggle").setAttribute("aria-expanded", String(open));
  $("tree-toggle").setAttribute("aria-label", open ? "Hide the cluster tree" : "Show the cluster tree");
  if (open) document.querySelector("#tree [tabindex='0']")?.focus();
}

function init() {
  state.render = render;
  state.refresh = refresh;
  installMenu();
  installTree();
  $("login-form").addEventListener("submit", login);
  $("logout").addEventListener("click", () => signOut());
  $("banner-close").addEventListener("click", clearError);
  $("tree-toggle").addEventListener("click", narrowToggle);
  document.addEventListener("wolfpack:selected", () => {
    if (document.body.classList.contains("tree-open")) narrowToggle();
  });
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && !$("banner").hidden && $("menu").hidden && !$("dialog").open) clearError();
  });
  if (token()) {
    start().catch((err) => {
      if (err.status === 401) signOut("Your token is no longer accepted: sign in again.");
      else showError(err, "Connecting");
    });
  } else showLogin();
}

init();
