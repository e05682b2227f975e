// The anneal runs page: the runs table, a run's page and the comparison of runs, drawn from
// the JSON API of `anneal ui`; charts by uPlot. Hash routes: #/, #/run/ID, #/compare/A,B
"use strict";

const view = document.getElementById("view");
const cancelToken = document.querySelector('meta[name="anneal-cancel-token"]').content;
let refreshTimer = null;
const charts = [];

function esc(s) {
  return String(s ?? "").replace(/[&<>"']/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
}
async function api(path, options) {
  const r = await fetch(path, Object.assign({credentials: "same-origin"}, options || {}));
  const body = await r.json();
  if (!r.ok) throw new Error(body.error || r.statusText);
  return body;
}
function fmt(v) {
  if (v === null || v === undefined) return "–";
  if (typeof v !== "number") return esc(v);
  return Math.abs(v) >= 1e5 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(3) : +v.toPrecision(6) + "";
}
function when(t) { return t ? new Date(t * 1000).toLocaleString() : "–"; }
function duration(r) {
  if (!r.started) return "–";
  const s = (r.ended || Date.now() / 1000) - r.started;
  return s < 60 ? s.toFixed(0) + "s" : s < 3600 ? Math.floor(s / 60) + "m" + String(Math.floor(s % 60)).padStart(2, "0") + "s"
       : Math.floor(s / 3600) + "h" + String(Math.floor(s % 3600 / 60)).padStart(2, "0") + "m";
}
function status(s) { return `<span class="status ${esc(s)}">${esc(s)}</span>`; }
function clearCharts() { while (charts.length) charts.pop().destroy(); }
function live(on) { document.getElementById("live").hidden = !on; }

const palette = ["#2f6fdb", "#e4572e", "#29a36a", "#8e44ad", "#f0a202", "#17becf", "#7f7f7f", "#bcbd22"];

// One chart: series = [{label, steps, values}] (each its own x values, merged by step).
function chart(el, title, series) {
  const steps = [...new Set(series.flatMap(s => s.steps))].sort((a, b) => a - b);
  const index = new Map(steps.map((s, i) => [s, i]));
  const data = [steps];
  for (const s of series) {
    const col = new Array(steps.length).fill(null);
    s.steps.forEach((st, i) => { col[index.get(st)] = s.values[i]; });
    data.push(col);
  }
  const width = Math.max(320, el.clientWidth - 8);
  const opts = {
    title, width, height: 220, spanGaps: true,
    scales: {x: {time: false}},
    axes: [{label: "step"}, {}],
    series: [{label: "step"}].concat(series.map((s, i) => ({label: s.label, stroke: palette[i % palette.length], width: 1.5,
                                                          points: {show: s.steps.length < 30}}))),
  };
  charts.push(new uPlot(opts, data, el));
}

async function runsPage(params) {
  clearCharts();
  live(false);
  const q = new URLSearchParams(params);
  const [experiments, runs] = await Promise.all([api("/api/experiments"), api("/api/runs?" + q.toString())]);
  const keys = new Map();
  runs.forEach(r => Object.keys(r.metrics).forEach(k => { if (!k.startsWith("system/")) keys.set(k, (keys.get(k) || 0) + 1); }));
  const metricCols = [...keys.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).slice(0, 6).map(e => e[0]);
  const sortOptions = ["", ...metricCols.flatMap(k => ["-metric." + k, "metric." + k])];
  view.innerHTML = `
    <h1>Runs</h1>
    <form class="filters" id="filters">
      <select name="experiment"><option value="">all experiments</option>
        ${experiments.map(e => `<option ${q.get("experiment") === e ? "selected" : ""}>${esc(e)}</option>`).join("")}</select>
      <select name="status"><option value="">any status</option>
        ${["queued", "running", "completed", "failed", "canceled"].map(s => `<option ${q.get("status") === s ? "selected" : ""}>${s}</option>`).join("")}</select>
      <input name="where" placeholder="metric.val_loss < 0.3 and param.optimizer.name = adam" value="${esc(q.get("where") || "")}">
      <select name="sort">${sortOptions.map(s => `<option value="${esc(s)}" ${q.get("sort") === s ? "selected" : ""}>${s ? "sort " + esc(s) : "newest first"}</option>`).join("")}</select>
      <button class="primary">Apply</button>
      <button type="button" id="compare" disabled>Compare selected</button>
    </form>
    <p class="muted" id="count">${runs.length} run${runs.length === 1 ? "" : "s"}</p>
    <table id="runs"><thead><tr><th></th><th>run</th><th>name</th><th>experiment</th><th>status</th><th>started</th><th>duration</th>
      ${metricCols.map(k => `<th data-sort="metric.${esc(k)}">${esc(k)}</th>`).join("")}</tr></thead>
    <tbody>${runs.map(r => `<tr data-id="${esc(r.id)}">
      <td><input type="checkbox" class="pick" value="${esc(r.id)}"></td>
      <td><a href="#/run/${encodeURIComponent(r.id)}">${esc(r.id)}</a></td><td>${r.name === r.id ? "" : esc(r.name)}</td>
      <td>${esc(r.experiment)}</td><td>${status(r.status)}</td><td>${when(r.started)}</td><td>${duration(r)}</td>
      ${metricCols.map(k => `<td class="num">${r.metrics[k] ? fmt(r.metrics[k].last) : "–"}</td>`).join("")}</tr>`).join("")}</tbody></table>`;
  const form = document.getElementById("filters");
  form.addEventListener("submit", e => {
    e.preventDefault();
    const p = new URLSearchParams();
    for (const [k, v] of new FormData(form)) if (v) p.set(k, v);
    location.hash = "#/?" + p.toString();
  });
  document.querySelectorAll("th[data-sort]").forEach(th => th.addEventListener("click", () => {
    const p = new URLSearchParams(q);
    p.set("sort", (q.get("sort") === "-" + th.dataset.sort ? "" : "-") + th.dataset.sort);
    location.hash = "#/?" + p.toString();
  }));
  const button = document.getElementById("compare");
  const picked = () => [...document.querySelectorAll(".pick:checked")].map(c => c.value);
  document.querySelectorAll(".pick").forEach(c => c.addEventListener("change", () => { button.disabled = picked().length < 2; }));
  button.addEventListener("click", () => { location.hash = "#/compare/" + picked().map(encodeURIComponent).join(","); });
  if (runs.some(r => r.status === "running" || r.status === "queued")) {
    live(true);
    refreshTimer = setTimeout(() => route(), 3000);
  }
}

function metricGroups(keys) {
  const user = keys.filter(k => !k.startsWith("system/")).sort();
  const system = keys.filter(k => k.startsWith("system/")).sort();
  return {user, system};
}

async function runPage(id) {
  const r = await api("/api/runs/" + encodeURIComponent(id));
  const [metrics, out, err] = await Promise.all([
    api(`/api/runs/${encodeURIComponent(id)}/metrics`),
    api(`/api/runs/${encodeURIComponent(id)}/logs?stream=stdout&tail=20000`),
    api(`/api/runs/${encodeURIComponent(id)}/logs?stream=stderr&tail=8000`)]);
  clearCharts();
  const {user, system} = metricGroups(Object.keys(metrics));
  const active = r.status === "running" || r.status === "queued";
  view.innerHTML = `
    <h1>${esc(r.name)} ${status(r.status)}</h1>
    <div class="card"><dl>
      <dt>run</dt><dd>${esc(r.id)}</dd><dt>experiment</dt><dd>${esc(r.experiment)}</dd>
      <dt>kind</dt><dd>${esc(r.kind)}</dd><dt>command</dt><dd><code>${esc(r.command)}</code></dd>
      <dt>started</dt><dd>${when(r.started)} (${duration(r)})</dd><dt>host</dt><dd>${esc(r.host)}</dd>
      ${r.exit_code !== null ? `<dt>exit code</dt><dd>${r.exit_code}</dd>` : ""}
      ${r.error ? `<dt>error</dt><dd class="error">${esc(r.error)}</dd>` : ""}
      <dt>folder</dt><dd><code>${esc(r.folder)}</code></dd>
    </dl>${active ? `<p><button class="danger" id="cancel">Cancel run</button></p>` : ""}</div>
    ${r.kind === "sweep" ? `<div id="sweep"></div>` : ""}
    ${r.kind === "pipeline" ? `<div id="pipeline"></div>` : ""}
    <h2>Metrics</h2><div class="grid" id="charts">${user.length ? "" : `<p class="muted">no metrics yet</p>`}</div>
    ${system.length ? `<h2>System</h2><div class="grid" id="system"></div>` : ""}
    <h2>Params</h2>
    <table><tbody>${Object.entries(r.params).map(([k, v]) => `<tr><td>${esc(k)}</td><td>${esc(v)}</td></tr>`).join("") || `<tr><td class="muted">none</td></tr>`}</tbody></table>
    ${Object.keys(r.tags).length ? `<h2>Tags</h2><table><tbody>${Object.entries(r.tags).map(([k, v]) => `<tr><td>${esc(k)}</td><td>${esc(v)}</td></tr>`).join("")}</tbody></table>` : ""}
    <h2>Config (resolved.yaml)</h2><pre>${esc(r.resolved) || "–"}</pre>
    <h2>Log (stdout, last part)</h2><pre id="stdout">${esc(out.text) || "–"}</pre>
    ${err.text ? `<h2>stderr</h2><pre>${esc(err.text)}</pre>` : ""}
    <h2>Environment</h2><pre>${esc(JSON.stringify(r.environment, null, 2))}</pre>
    ${r.artifacts.length ? `<h2>Artifacts</h2><ul>${r.artifacts.map(a => `<li>${esc(a.path)} (${a.size} bytes)</li>`).join("")}</ul>` : ""}`;
  const place = (parent, key) => {
    const div = document.createElement("div");
    div.className = "card chart";
    div.dataset.metric = key;
    document.getElementById(parent).appendChild(div);
    chart(div, key, [{label: r.name, steps: metrics[key].step, values: metrics[key].value}]);
  };
  user.forEach(k => place("charts", k));
  system.forEach(k => place("system", k));
  if (r.kind === "sweep") await sweepSection(id);
  if (r.kind === "pipeline") await pipelineSection(id);
  const pre = document.getElementById("stdout");
  pre.scrollTop = pre.scrollHeight;
  const cancel = document.getElementById("cancel");
  if (cancel) cancel.addEventListener("click", async () => {
    if (!confirm("Cancel run " + r.id + "?")) return;
    await api(`/api/runs/${encodeURIComponent(id)}/cancel`, {method: "POST", headers: {"X-Anneal-Token": cancelToken}});
    route();
  });
  live(active);
  if (active) refreshTimer = setTimeout(() => route(), 2000);
}

// A sweep's run page: the objective per trial (canceled trials marked), each parameter
// against the objective, and the trials' table.
async function sweepSection(id) {
  const sw = await api("/api/sweeps/" + encodeURIComponent(id));
  const el = document.getElementById("sweep");
  const trials = sw.trials;
  const scored = trials.filter(t => t.objective !== null);
  const best = scored.reduce((b, t) => b === null || (sw.goal === "maximize" ? t.objective > b.objective : t.objective < b.objective) ? t : b, null);
  const names = [...new Set(trials.flatMap(t => Object.keys(t.values)))].sort();
  el.innerHTML = `
    <h2>Trials <span class="muted">(${esc(sw.metric)}, ${esc(sw.goal)}; best: ${best ? "trial " + best.index + " = " + fmt(best.objective) : "–"})</span></h2>
    <div class="grid" id="sweep-charts"></div>
    <table id="trials"><thead><tr><th>trial</th><th>run</th><th>status</th><th>${esc(sw.metric)}</th>
      ${names.map(n => `<th>${esc(n)}</th>`).join("")}<th>early termination</th></tr></thead>
    <tbody>${trials.map(t => `<tr class="${best && t.index === best.index ? "diff" : ""}" data-status="${esc(t.status)}">
      <td>${t.index}</td><td><a href="#/run/${encodeURIComponent(t.run_id)}">${esc(t.run_id)}</a></td><td>${status(t.status)}</td>
      <td class="num">${fmt(t.objective)}</td>${names.map(n => `<td>${esc(t.values[n])}</td>`).join("")}
      <td class="muted">${esc(t.termination)}</td></tr>`).join("")}</tbody></table>`;
  const charts_el = document.getElementById("sweep-charts");
  const scatter = (title, xs, key, xlabel) => {
    const div = document.createElement("div");
    div.className = "card chart";
    div.dataset.metric = key;
    charts_el.appendChild(div);
    // completed and canceled trials as two point series (canceled ones marked in red)
    const order = xs.map((x, i) => [x, i]).sort((a, b) => a[0] - b[0]);
    const x = order.map(o => o[0]);
    const done = order.map(o => scored[o[1]].status === "canceled" ? null : scored[o[1]].objective);
    const cut = order.map(o => scored[o[1]].status === "canceled" ? scored[o[1]].objective : null);
    charts.push(new uPlot({
      title, width: Math.max(320, div.clientWidth - 8), height: 220, scales: {x: {time: false}},
      axes: [{label: xlabel}, {}],
      series: [{label: xlabel}, {label: "completed", stroke: palette[0], width: 0, points: {show: true, size: 8}},
               {label: "canceled", stroke: palette[1], width: 0, points: {show: true, size: 8}}],
    }, [x, done, cut], div));
  };
  if (scored.length) {
    scatter(sw.metric + " per trial", scored.map(t => t.index), "objective", "trial");
    for (const n of names) {
      const xs = scored.map(t => Number(t.values[n]));
      if (xs.every(v => Number.isFinite(v))) scatter(sw.metric + " against " + n, xs, "param:" + n, n);
    }
  }
}

// A pipeline's run page: its steps as a graph, in columns by depth, each box linking to the
// step's run, coloured by status, with "reused from" when the cache supplied it.
async function pipelineSection(id) {
  const p = await api("/api/pipelines/" + encodeURIComponent(id));
  const steps = p.steps, byName = new Map(steps.map(s => [s.name, s]));
  const depth = new Map();
  const level = s => depth.has(s.name) ? depth.get(s.name)
    : (depth.set(s.name, 0), depth.set(s.name, s.deps.length ? 1 + Math.max(...s.deps.map(d => level(byName.get(d)))) : 0), depth.get(s.name));
  steps.forEach(level);
  const columns = [];
  steps.forEach(s => { (columns[depth.get(s.name)] = columns[depth.get(s.name)] || []).push(s); });
  const W = 190, H = 58, GX = 70, GY = 24;
  const pos = new Map();
  columns.forEach((col, c) => col.forEach((s, r) => pos.set(s.name, {x: 10 + c * (W + GX), y: 10 + r * (H + GY)})));
  const width = 20 + columns.length * (W + GX), height = 20 + Math.max(...columns.map(c => c.length)) * (H + GY);
  const colour = {completed: "#1f8a4c", failed: "#c23b32", running: "#2f6fdb", canceled: "#b7791f", skipped: "#9aa1ad", waiting: "#9aa1ad", queued: "#2f6fdb"};
  const edges = steps.flatMap(s => s.deps.map(d => {
    const a = pos.get(d), b = pos.get(s.name);
    return `<path d="M${a.x + W} ${a.y + H / 2} C ${a.x + W + GX / 2} ${a.y + H / 2}, ${b.x - GX / 2} ${b.y + H / 2}, ${b.x} ${b.y + H / 2}"
              stroke="#9aa1ad" fill="none" marker-end="url(#arrow)"/>`;
  })).join("");
  const boxes = steps.map(s => {
    const q = pos.get(s.name), c = colour[s.status] || "#9aa1ad";
    const label = s.reused_from ? "reused from " + s.reused_from.slice(-6) : s.status;
    return `<a href="${s.run_id ? "#/run/" + encodeURIComponent(s.run_id) : "#"}" class="step" data-step="${esc(s.name)}" data-status="${esc(s.status)}">
      <rect x="${q.x}" y="${q.y}" width="${W}" height="${H}" rx="6" fill="#fff" stroke="${c}" stroke-width="2"/>
      <text x="${q.x + 10}" y="${q.y + 22}" font-weight="600">${esc(s.name)}</text>
      <text x="${q.x + 10}" y="${q.y + 42}" fill="${c}" font-size="12">${esc(label)}</text></a>`;
  }).join("");
  document.getElementById("pipeline").innerHTML = `<h2>Steps</h2>
    <div class="card"><svg id="graph" width="${width}" height="${height}" font-family="system-ui, sans-serif" font-size="13">
      <defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
        <path d="M 0 0 L 10 5 L 0 10 z" fill="#9aa1ad"/></marker></defs>${edges}${boxes}</svg></div>
    ${steps.some(s => s.error) ? `<ul>${steps.filter(s => s.error).map(s => `<li><b>${esc(s.name)}</b>: <span class="error">${esc(s.error)}</span></li>`).join("")}</ul>` : ""}`;
}

async function comparePage(ids) {
  const c = await api("/api/compare?ids=" + ids.map(encodeURIComponent).join(","));
  const histories = await Promise.all(c.runs.map(r => api(`/api/runs/${encodeURIComponent(r.id)}/metrics`)));
  clearCharts();
  live(false);
  const keys = [...new Set(histories.flatMap(h => Object.keys(h)))];
  const {user} = metricGroups(keys);
  const params = [...new Set(c.runs.flatMap(r => Object.keys(r.params)))].sort();
  const differing = new Set(c.differing_params);
  view.innerHTML = `
    <h1>Compare ${c.runs.length} runs</h1>
    <div class="grid" id="charts"></div>
    <h2>Params <span class="muted">(highlighted: they differ)</span></h2>
    <table><thead><tr><th>param</th>${c.runs.map(r => `<th>${esc(r.name)}</th>`).join("")}</tr></thead>
    <tbody>${params.map(k => `<tr class="${differing.has(k) ? "diff" : ""}"><td>${esc(k)}</td>${c.runs.map(r => `<td>${esc(r.params[k] ?? "–")}</td>`).join("")}</tr>`).join("")}</tbody></table>
    <h2>Final metrics</h2>
    <table><thead><tr><th>metric</th>${c.runs.map(r => `<th>${esc(r.name)}</th>`).join("")}</tr></thead>
    <tbody>${user.map(k => `<tr><td>${esc(k)}</td>${c.runs.map(r => `<td class="num">${r.metrics[k] ? fmt(r.metrics[k].last) : "–"}</td>`).join("")}</tr>`).join("")}</tbody></table>`;
  for (const k of user) {
    const div = document.createElement("div");
    div.className = "card chart";
    div.dataset.metric = k;
    document.getElementById("charts").appendChild(div);
    chart(div, k, c.runs.map((r, i) => ({label: r.name, steps: histories[i][k] ? histories[i][k].step : [],
                                         values: histories[i][k] ? histories[i][k].value : []})));
  }
}

async function route() {
  clearTimeout(refreshTimer);
  const hash = location.hash.replace(/^#/, "") || "/";
  try {
    if (hash.startsWith("/run/")) await runPage(decodeURIComponent(hash.slice(5)));
    else if (hash.startsWith("/compare/")) await comparePage(hash.slice(9).split(",").map(decodeURIComponent));
    else await runsPage(hash.includes("?") ? hash.slice(hash.indexOf("?") + 1) : "");
  } catch (e) {
    view.innerHTML = `<p class="error">${esc(e.message)}</p>`;
  }
}
window.addEventListener("hashchange", route);
route();
