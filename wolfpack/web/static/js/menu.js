// The context menu: opened by right click, by the "⋯" button, or by Shift+F10 / the menu key.
// Items: {label, run, disabled, reason, heading, separator}. Escape closes and gives focus back.
import { el } from "./ui.js";

const menu = () => document.getElementById("menu");
let opener = null;

// The control that opened the menu, found again if a live update has redrawn it meanwhile.
function currentOpener() {
  if (!opener || document.contains(opener)) return opener;
  if (opener.id) return document.getElementById(opener.id);
  const key = opener.dataset && opener.dataset.focusKey;
  return key ? document.querySelector(`[data-focus-key="${CSS.escape(key)}"]`) : null;
}

export function closeMenu(restoreFocus = true) {
  const m = menu();
  if (m.hidden) return;
  m.hidden = true;
  m.replaceChildren();
  const target = currentOpener();
  if (target && target.hasAttribute("aria-haspopup")) target.setAttribute("aria-expanded", "false");
  if (restoreFocus && target) target.focus();
  opener = null;
}

export function openMenu(items, label, anchor, point = null) {
  closeMenu(false);
  const m = menu();
  m.setAttribute("aria-label", label);
  const buttons = [];
  for (const item of items) {
    if (item.separator) {
      m.append(el("div", { role: "separator", class: "menu-separator" }));
    } else if (item.heading) {
      m.append(el("div", { class: "menu-heading", role: "presentation" }, item.heading));
    } else {
      const reasonId = item.reason ? `reason-${Math.random().toString(36).slice(2)}` : null;
      const button = el(
        "button",
        {
          type: "button",
          role: "menuitem",
          class: "menu-item",
          tabindex: "-1",
          "aria-disabled": item.disabled ? "true" : null,
          "aria-describedby": reasonId,
          dataset: { action: item.id || item.label },
          onclick: () => {
            if (item.disabled) return;
            closeMenu();
            item.run();
          },
        },
        item.label,
        item.reason ? el("span", { class: "menu-reason", id: reasonId }, item.reason) : null,
      );
      buttons.push(button);
      m.append(button);
    }
  }
  if (!buttons.length) m.append(el("div", { class: "menu-heading" }, "No actions"));
  opener = anchor;
  if (anchor && anchor.hasAttribute("aria-haspopup")) anchor.setAttribute("aria-expanded", "true");
  m.hidden = false;
  const rect = anchor ? anchor.getBoundingClientRect() : { left: 0, bottom: 0 };
  let x = point ? point.x : rect.left;
  let y = point ? point.y : rect.bottom + 2;
  const width = m.offsetWidth;
  const height = m.offsetHeight;
  x = Math.max(4, Math.min(x, window.innerWidth - width - 4));
  if (y + height > window.innerHeight - 4) y = Math.max(4, window.innerHeight - height - 4);
  m.style.left = `${x + window.scrollX}px`;
  m.style.top = `${y + window.scrollY}px`;
  const first = buttons.find((b) => !b.getAttribute("aria-disabled")) || buttons[0];
  if (first) first.focus();
}

function onKey(event) {
  const m = menu();
  if (m.hidden) return;
  const items = [...m.querySelectorAll("[role=menuitem]")];
  const i = items.indexOf(document.activeElement);
  if (event.key === "Escape" || event.key === "Tab") {
    event.preventDefault();
    closeMenu();
  } else if (event.key === "ArrowDown") {
    event.preventDefault();
    items[(i + 1) % items.length]?.focus();
  } else if (event.key === "ArrowUp") {
    event.preventDefault();
    items[(i - 1 + items.length) % items.length]?.focus();
  } else if (event.key === "Home") {
    event.preventDefault();
    items[0]?.focus();
  } else if (event.key === "End") {
    event.preventDefault();
    items[items.length - 1]?.focus();
  }
}

export function installMenu() {
  document.addEventListener("keydown", onKey, true);
  document.addEventListener("mousedown", (event) => {
    if (!menu().hidden && !menu().contains(event.target)) closeMenu(false);
  });
  window.addEventListener("resize", () => closeMenu(false));
}
