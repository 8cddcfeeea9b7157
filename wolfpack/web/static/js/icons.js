// Small line icons drawn in SVG (the page must not depend on an emoji font being installed).
const PATHS = {
  cluster: "M3 4h6v5H3zM11 4h6v5h-6zM7 12h6v5H7zM6 9v3h2M14 9v3h-2",
  folder: "M2 5h6l2 2h8v9H2z",
  node: "M4 3h12v9H4zM8 15h4M10 12v3M6 17h8",
  group: "M3 6h14v10H3zM6 3h8v3",
  resource: "M4 4h12v12H4zM8 8h4v4H8z",
  type: "M4 4h5v5H4zM11 4h5v5h-5zM4 11h5v5H4zM11 11h5v5h-5z",
  network: "M2 10h16M5 10V6M10 10V6M15 10V6M5 14v-4M15 14v-4",
  interface: "M4 8h12v6H4zM7 14v3M13 14v3M7 11h1M12 11h1",
  topology: "M3 3h5v4H3zM12 3h5v4h-5zM5 7v4h10V7M10 11v3M7 14h6v3H7z",
};

export function icon(name) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 20 20");
  svg.setAttribute("width", "16");
  svg.setAttribute("height", "16");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("class", `icon icon-${name}`);
  const path = document.createElementNS(ns, "path");
  path.setAttribute("d", PATHS[name] || PATHS.resource);
  svg.append(path);
  return svg;
}
