// The agent's status page: polls /status.json and redraws in place. No external resources; every
// text from the agent goes through textContent (never HTML), so nothing it says can become markup.
"use strict";

const SVG = "http://www.w3.org/2000/svg";

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

function fmt(value) {
  if (value === null || value === undefined) return "—";
  if (typeof value !== "number") return String(value);
  return Number.isInteger(value) ? String(value) : value.toPrecision(4).replace(/\.?0+$/, "");
}

function ago(seconds) {
  if (seconds < 90) return `${Math.round(seconds)}s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)}m`;
  return `${(seconds / 3600).toFixed(1)}h`;
}

function sparkline(values, holds) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("class", "spark");
  svg.setAttribute("viewBox", "0 0 160 28");
  const known = values.filter((v) => v !== null);
  if (known.length === 0) return svg;
  const lo = Math.min(...known), hi = Math.max(...known), span = hi - lo || 1;
  const step = values.length > 1 ? 156 / (values.length - 1) : 0;
  const points = [];
  values.forEach((v, i) => {
    if (v === null) return;
    const x = 2 + i * step, y = 25 - ((v - lo) / span) * 22;
    points.push(`${x.toFixed(1)},${y.toFixed(1)}`);
    if (i === values.length - 1 || holds[i] === "0") {
      const dot = document.createElementNS(SVG, "circle");
      dot.setAttribute("cx", x.toFixed(1));
      dot.setAttribute("cy", y.toFixed(1));
      dot.setAttribute("r", "2");
      dot.setAttribute("class", holds[i] === "1" ? "holds" : "fails");
      svg.append(dot);
    }
  });
  const line = document.createElementNS(SVG, "polyline");
  line.setAttribute("points", points.join(" "));
  svg.prepend(line);
  return svg;
}

function rulesTable(rules) {
  const body = el("tbody");
  for (const rule of rules) {
    const numeric = rule.role === "weight" || rule.role === "maxconn";
    const verdict = numeric ? (rule.holds ? "a number" : "no number") : (rule.holds ? "holds" : "does not hold");
    body.append(el("tr", { "data-role": rule.role },
      el("td", {}, rule.role),
      el("td", { class: "mono" }, rule.expr),
      el("td", { class: rule.holds ? "holds" : "fails" }, verdict),
      el("td", { class: "mono" }, fmt(rule.value)),
      el("td", {}, sparkline(rule.history, rule.history_holds)),
      el("td", { class: "meta" }, rule.summary)));
  }
  return el("table", { class: "rules" },
    el("thead", {}, el("tr", {}, ...["rule", "expression", "now", "value", "recent values", "observed"].map((h) => el("th", {}, h)))),
    body);
}

function consumers(c, name) {
  const grpc = Object.entries(c.grpc).map(([k, v]) => `${k || '""'} ${v}`).join(", ");
  const item = (label, value, bad) => el("div", {}, el("span", {}, `${label}: `), el("code", { class: bad ? "bad" : "" }, value));
  return el("div", { class: "consumers" },
    item("HAProxy agent-check", c.haproxy, c.haproxy.startsWith("down")),
    item(`/readyz/${name}`, String(c.readyz), c.readyz !== 200),
    item(`/livez/${name}`, String(c.livez), c.livez !== 200),
    item("Envoy /health", `${c.envoy}${c.envoy_degraded ? " + x-envoy-degraded" : ""}`, c.envoy !== 200),
    item("Consul ?consul", String(c.consul), c.consul >= 500),
    item("gRPC", grpc, grpc.includes("NOT_SERVING")));
}

function targetCard(t, now) {
  const checked = t.checked_at ? `checked ${ago(now - t.checked_at)} ago` : "not checked yet";
  const numbers = [`weight ${t.weight}`];
  if (t.maxconn !== null) numbers.push(`maxconn ${t.maxconn}`);
  if (t.admin !== "ready") numbers.push(`admin ${t.admin}`);
  if (t.safeguard) numbers.push(`held by ${t.safeguard}`);
  return el("section", { class: `target ${t.level}`, id: `target-${t.name}`, "data-level": t.level },
    el("h2", {}, el("span", { class: "name" }, t.name), el("span", { class: "level" }, t.level),
      el("span", { class: "meta" }, `${numbers.join(" · ")} · ${checked} · every ${fmt(t.interval)}s · ${t.url}`)),
    el("p", { class: "reason" }, t.reason || "—"),
    rulesTable(t.rules),
    consumers(t.consumers, t.name));
}

function render(doc) {
  const a = doc.agent;
  const listeners = Object.entries(a.listeners).map(([k, v]) => `${k} ${v}`).join(", ");
  document.getElementById("agent").textContent =
    `version ${a.version} · up ${ago(a.uptime_seconds)} · ${doc.targets.length} target(s) · ` +
    `scrapes ${a.scrapes.ok} ok, ${a.scrapes.failed} failed · ${listeners}` + (a.shutting_down ? " · SHUTTING DOWN (draining)" : "");
  const levels = document.getElementById("levels");
  levels.replaceChildren(...Object.entries(a.levels).filter(([, n]) => n > 0)
    .flatMap(([level, n]) => [el("span", { class: `level ${level}` }, `${n} ${level}`), " "]));
  const problems = [];
  if (!a.reload.successful) problems.push(`last reload failed (still running the previous configuration): ${a.reload.error}`);
  if (a.state_file_error) problems.push(a.state_file_error);
  document.getElementById("problems").replaceChildren(...problems.map((p) => el("div", { class: "bad" }, p)));
  document.getElementById("targets").replaceChildren(...doc.targets.map((t) => targetCard(t, doc.now)));
  document.getElementById("updated").textContent = new Date(doc.now * 1000).toLocaleTimeString();
  document.getElementById("every").textContent = doc.poll_seconds === 1 ? "second" : `${fmt(doc.poll_seconds)} seconds`;
  document.title = `healthgauge: ${Object.entries(a.levels).filter(([, n]) => n > 0).map(([l, n]) => `${n} ${l}`).join(", ")}`;
}

async function poll() {
  let wait = 1000;
  try {
    const response = await fetch("/status.json", { cache: "no-store" });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const doc = await response.json();
    render(doc);
    wait = doc.poll_seconds * 1000;
  } catch (err) {
    document.getElementById("updated").textContent = `agent unreachable (${err.message}); retrying`;
    wait = 2000;
  }
  setTimeout(poll, wait);
}

poll();
