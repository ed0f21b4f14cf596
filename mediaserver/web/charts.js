// Small SVG charts: bars (stacked by series) and lines, with axes and a legend.
const NS = "http://www.w3.org/2000/svg";
const COLOURS = ["#1f5fd1", "#e07b00", "#0a7a33", "#8a1c9a", "#c62828", "#00838f", "#5a6573"];
const W = 640, H = 220, LEFT = 64, BOTTOM = 28, TOP = 10, RIGHT = 10;

function svg(tag, attrs = {}, text = "") {
  const node = document.createElementNS(NS, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  if (text) node.textContent = text;
  return node;
}

function niceMax(value) {
  if (value <= 0) return 1;
  const step = 10 ** Math.floor(Math.log10(value));
  return Math.ceil(value / step) * step;
}

function tick(value, max) {
  return max < 10 ? String(Math.round(value * 10) / 10) : String(Math.round(value));
}

function frame(label, max, unit) {
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": label, class: "chart" });
  for (let i = 0; i <= 4; i++) {
    const y = TOP + (H - TOP - BOTTOM) * (1 - i / 4);
    root.append(svg("line", { x1: LEFT, x2: W - RIGHT, y1: y, y2: y, class: "grid" }),
      svg("text", { x: LEFT - 6, y: y + 4, "text-anchor": "end", class: "tick" }, `${tick(max * i / 4, max)}${unit}`));
  }
  return root;
}

function legend(names) {
  const list = document.createElement("ul");
  list.className = "legend";
  names.forEach((name, i) => {
    const item = document.createElement("li");
    item.style.setProperty("--colour", COLOURS[i % COLOURS.length]);
    item.textContent = name;
    list.append(item);
  });
  return list;
}

// `rows`: [{x, series, value}]; bars per x, stacked by series.
export function barChart(label, rows, unit = "") {
  const xs = [...new Set(rows.map((r) => r.x))].sort();
  const series = [...new Set(rows.map((r) => r.series))];
  const totals = xs.map((x) => rows.filter((r) => r.x === x).reduce((sum, r) => sum + r.value, 0));
  const max = niceMax(Math.max(0, ...totals));
  const root = frame(label, max, unit);
  const plot = H - TOP - BOTTOM;
  const slot = (W - LEFT - RIGHT) / Math.max(1, xs.length);
  xs.forEach((x, i) => {
    let base = H - BOTTOM;
    for (const [s, name] of series.entries()) {
      const value = rows.filter((r) => r.x === x && r.series === name).reduce((sum, r) => sum + r.value, 0);
      if (!value) continue;
      const height = plot * value / max;
      base -= height;
      const bar = svg("rect", { x: LEFT + i * slot + slot * 0.15, y: base, width: slot * 0.7, height, fill: COLOURS[s % COLOURS.length], class: "bar" });
      bar.append(svg("title", {}, `${x} · ${name}: ${Math.round(value * 10) / 10}${unit}`));
      root.append(bar);
    }
    root.append(svg("text", { x: LEFT + (i + 0.5) * slot, y: H - 8, "text-anchor": "middle", class: "tick" }, x.slice(5)));
  });
  return wrap(root, series);
}

// `series`: {name: [{x, y}]}; one line (and points) each.
export function lineChart(label, series, unit = "") {
  const names = Object.keys(series);
  const xs = [...new Set(names.flatMap((n) => series[n].map((p) => p.x)))].sort();
  const max = niceMax(Math.max(0, ...names.flatMap((n) => series[n].map((p) => p.y))));
  const root = frame(label, max, unit);
  const plot = H - TOP - BOTTOM;
  const step = (W - LEFT - RIGHT) / Math.max(1, xs.length);
  const at = (x) => LEFT + (xs.indexOf(x) + 0.5) * step;
  names.forEach((name, s) => {
    const colour = COLOURS[s % COLOURS.length];
    const points = series[name].map((p) => [at(p.x), H - BOTTOM - plot * p.y / max, p]);
    root.append(svg("polyline", { points: points.map(([x, y]) => `${x},${y}`).join(" "), fill: "none", stroke: colour, "stroke-width": 2 }));
    for (const [x, y, p] of points) {
      const dot = svg("circle", { cx: x, cy: y, r: 4, fill: colour, class: "point" });
      dot.append(svg("title", {}, `${p.x} · ${name}: ${Math.round(p.y)}${unit}`));
      root.append(dot);
    }
  });
  xs.forEach((x) => root.append(svg("text", { x: at(x), y: H - 8, "text-anchor": "middle", class: "tick" }, x.slice(5))));
  return wrap(root, names);
}

function wrap(chart, names) {
  const figure = document.createElement("div");
  figure.append(chart, legend(names));
  return figure;
}
