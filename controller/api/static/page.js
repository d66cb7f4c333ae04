// sitecharge live operator page: plain JavaScript, no build step, no request to any other host.
// Data arrives as server-sent events from /events (read with fetch, so the token travels in the
// Authorization header, never in a URL); writes go through the same API as curl would use.
"use strict";

const TOKEN_KEY = "sitecharge.token";
const $ = (id) => document.getElementById(id);
const page = {
  token: sessionStorage.getItem(TOKEN_KEY),
  role: null,
  config: null,
  state: null,
  history: [], // [{at_utc, measured_kw, limit_kw, planned_kw, price_per_kwh}]
  live: [], // [epoch s, measured kW, limit kW] from the event stream
  chart: null,
  stream: null,
  retryMs: 1000,
  rangeH: 24, // chart: hours back (and ahead, below 24)
};

// ---------------------------------------------------------------------------------------------
async function api(path, options = {}) {
  const headers = Object.assign({ Accept: "application/json" }, options.headers || {});
  if (page.token) headers.Authorization = "Bearer " + page.token;
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  const answer = await fetch(path, Object.assign({}, options, { headers }));
  let body = null;
  try { body = await answer.json(); } catch (_e) { body = null; }
  if (!answer.ok) {
    const message = body && (body.message || body.detail) ? (body.message || JSON.stringify(body.detail)) : answer.statusText;
    const error = new Error(message);
    error.status = answer.status;
    throw error;
  }
  return body;
}

function kw(value, digits = 1) {
  return value === null || value === undefined ? "–" : Number(value).toFixed(digits) + " kW";
}

function when(iso) {
  if (!iso) return "–";
  const zone = page.state ? page.state.site.timezone : undefined;
  return new Date(iso).toLocaleString(undefined, {
    timeZone: zone, month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
  });
}

function cell(row, content, className) {
  const td = document.createElement("td");
  if (content instanceof Node) td.appendChild(content); else td.textContent = content;
  if (className) td.className = className;
  row.appendChild(td);
  return td;
}

function button(label, onClick) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  b.addEventListener("click", onClick);
  return b;
}

function say(message, isError) {
  const el = $("op-msg");
  el.textContent = message;
  el.className = isError ? "error" : "muted";
}

// start ---------------------------------------------------------------------------------------
async function start() {
  page.config = await api("page/config");
  $("site-name").textContent = page.config.name;
  document.title = page.config.name + " · sitecharge";
  if (!page.token && !page.config.anonymous_read) return showLogin("");
  try {
    if (page.token) {
      const me = await api("me");
      page.role = me.role;
      $("who").textContent = me.name + " (" + me.role + ")";
    } else {
      page.role = "viewer";
      $("who").textContent = "anonymous (read only)";
    }
  } catch (error) {
    if (error.status === 401 || error.status === 403) return showLogin(error.message);
    throw error;
  }
  $("login").hidden = true;
  $("main").hidden = false;
  $("logout").hidden = !page.token;
  document.body.classList.toggle("operator", page.role === "operator");
  $("operator").hidden = page.role !== "operator";
  await loadHistory();
  openStream();
}

function showLogin(message) {
  $("main").hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = message || "";
  $("token").focus();
}

$("login-form").addEventListener("submit", (event) => {
  event.preventDefault();
  page.token = $("token").value.trim();
  sessionStorage.setItem(TOKEN_KEY, page.token);
  $("token").value = "";
  start().catch((e) => showLogin(e.message));
});

$("logout").addEventListener("click", () => {
  sessionStorage.removeItem(TOKEN_KEY);
  location.reload();
});

async function loadHistory() {
  const to = new Date();
  const from = new Date(to.getTime() - 24 * 3600 * 1000);
  const query = "?from=" + encodeURIComponent(from.toISOString()) + "&to=" + encodeURIComponent(to.toISOString()) + "&limit=10000";
  try {
    page.history = (await api("history" + query)).rows;
  } catch (_e) {
    page.history = [];
  }
}

// the event stream ----------------------------------------------------------------------------
async function openStream() {
  const controller = new AbortController();
  page.stream = controller;
  const headers = { Accept: "text/event-stream" };
  if (page.token) headers.Authorization = "Bearer " + page.token;
  try {
    const answer = await fetch("events", { headers, signal: controller.signal, cache: "no-store" });
    if (answer.status === 401 || answer.status === 403) return showLogin("the token was refused");
    if (!answer.ok || !answer.body) throw new Error("stream: " + answer.status);
    setConnected(true);
    page.retryMs = 1000;
    const reader = answer.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        handleEvent(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
      }
    }
  } catch (_e) {
    // fall through to a reconnect
  }
  setConnected(false);
  setTimeout(openStream, page.retryMs);
  page.retryMs = Math.min(page.retryMs * 2, 30000);
}

function handleEvent(text) {
  let name = "message";
  const data = [];
  for (const line of text.split("\n")) {
    if (line.startsWith("event:")) name = line.slice(6).trim();
    else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
  }
  if (name === "state" && data.length) render(JSON.parse(data.join("\n")));
}

function setConnected(on) {
  const el = $("conn");
  el.textContent = on ? "live" : "reconnecting";
  el.className = "badge " + (on ? "on" : "off");
}

// rendering -----------------------------------------------------------------------------------
function render(state) {
  page.state = state;
  const site = state.site;
  const now = Date.parse(site.now_utc) / 1000;
  page.live.push([now, site.measured_kw, site.limit_kw]);
  page.live = page.live.filter((p) => p[0] >= now - 24 * 3600);
  $("measured").textContent = kw(site.measured_kw);
  $("measured-src").textContent = site.measured_source === "site_meter" ? "site meter" : "sum of the chargers";
  $("limit").textContent = kw(site.limit_kw);
  $("limit-src").textContent = describeSource(site.limit_source) + (site.limit_kw < site.grid_limit_kw ? " · grid " + kw(site.grid_limit_kw, 0) : "");
  const headroom = $("headroom");
  headroom.textContent = kw(site.headroom_kw);
  headroom.className = "value " + (site.headroom_kw < 0 ? "bad" : "ok");
  $("planned").textContent = site.planned_kw === null ? "no plan yet" : "planned now " + kw(site.planned_kw);
  $("cost").textContent = state.cost_today === null ? "–" : state.cost_today.toFixed(2);
  $("counts").textContent = site.chargers_online + " chargers online · " + site.sessions + " sessions";
  $("updated").textContent = "updated " + when(site.now_utc);
  renderChargers(state.chargers);
  renderSessions(state.sessions);
  renderCaps(state.limits);
  renderDr(state.dr);
  renderPlanInfo(state.plan);
  drawChart(state);
}

function describeSource(source) {
  if (!source || source === "grid") return "grid connection";
  const [kind, id] = source.split(":", 2);
  return (kind === "operator" ? "operator cap " : kind + " event ") + (id || "");
}

function renderChargers(chargers) {
  const body = $("chargers").tBodies[0];
  body.replaceChildren();
  for (const c of chargers) {
    const row = body.insertRow();
    row.dataset.charger = c.id;
    cell(row, c.id + (c.vendor ? " · " + c.vendor + " " + (c.model || "") : ""));
    cell(row, c.online ? "online" : "offline", c.online ? "ok" : "bad");
    cell(row, c.connectors.filter((k) => k.connector_id > 0 || c.connectors.length === 1).map((k) => k.connector_id + ": " + k.status + (k.error_code && k.error_code !== "NoError" ? " (" + k.error_code + ")" : "") + (k.transaction_id ? " · tx " + k.transaction_id : "")).join(", "));
    cell(row, kw(c.power_kw) + " / " + kw(c.assigned_kw), "num");
    if (!c.controllable) cell(row, "uncontrollable: " + (c.uncontrollable_reason || "?"), "bad");
    else if (c.non_compliant) cell(row, "non-compliant: draws above its assigned limit", "warn");
    else cell(row, "compliant", "ok");
  }
}

function renderSessions(sessions) {
  const body = $("sessions").tBodies[0];
  // keep a half-typed override: skip a redraw while one of its fields has the focus
  const focused = document.activeElement;
  if (focused && focused.tagName === "INPUT" && body.contains(focused)) return;
  body.replaceChildren();
  for (const s of sessions) {
    const row = body.insertRow();
    row.dataset.tx = s.transaction_id;
    cell(row, String(s.transaction_id));
    cell(row, s.charger_id + "/" + s.connector_id);
    const wanted = s.energy_remaining_kwh === null ? "" : " / +" + s.energy_remaining_kwh.toFixed(1) + " wanted";
    cell(row, s.energy_kwh.toFixed(1) + " kWh" + wanted);
    cell(row, kw(s.power_kw) + " / " + kw(s.assigned_kw), "num");
    cell(row, s.soc_percent === null ? "–" : s.soc_percent.toFixed(0) + " %");
    const source = s.overrides && s.overrides.departure_utc ? " (operator)" : s.departure_utc ? " (default)" : "";
    cell(row, when(s.departure_utc) + source);
    const finish = s.planned_finish_utc ? ", done " + when(s.planned_finish_utc) : "";
    cell(row, s.planned_energy_kwh === null ? (s.planned ? "–" : "not planned") : "+" + s.planned_energy_kwh.toFixed(1) + " kWh" + finish);
    const form = document.createElement("span");
    form.className = "row";
    const energy = Object.assign(document.createElement("input"), { type: "number", min: "0", step: "0.5", placeholder: "kWh", title: "energy wanted in total [kWh]" });
    const hours = Object.assign(document.createElement("input"), { type: "number", min: "0", step: "0.25", placeholder: "h", title: "departure in hours from now" });
    form.append(energy, hours, button("Set", () => override(s.transaction_id, energy.value, hours.value)));
    cell(row, form, "op-only");
  }
}

function renderCaps(limits) {
  const body = $("caps").tBodies[0];
  body.replaceChildren();
  const entries = limits.entries.slice().reverse();
  for (const e of entries) {
    const row = body.insertRow();
    row.dataset.cap = e.id;
    row.dataset.status = e.status;
    cell(row, e.id);
    cell(row, e.source);
    cell(row, e.kind);
    cell(row, e.status, e.status === "active" ? "warn" : "");
    const level = e.limit_kw !== null ? kw(e.limit_kw) : e.reduction_kw !== null ? "−" + kw(e.reduction_kw) : e.reduction_pct !== null ? "−" + e.reduction_pct + " %" : "–";
    cell(row, level);
    const span = e.kind === "recurring" ? e.start_local + "–" + e.end_local + " local" : e.kind === "permanent" ? "until cancelled" : when(e.start) + " → " + when(e.end);
    cell(row, span);
    const action = e.source === "operator" && e.status !== "cancelled" && e.status !== "past" ? button("Cancel", () => cancelCap(e.id)) : "";
    cell(row, action, "op-only");
  }
}

function renderDr(sources) {
  const box = $("dr");
  box.replaceChildren();
  for (const s of sources || []) {
    const div = document.createElement("div");
    div.className = "dr-source";
    const events = Object.entries(s.events || {}).map(([id, a]) => id + ": " + (a.opt || a.answer || JSON.stringify(a))).join(" · ");
    div.textContent = (s.type || "DR") + (s.vtn_url ? " " + s.vtn_url : "") + " · " + (s.registered ? "registered" : "not registered") + (s.last_error ? " · last error: " + s.last_error : "") + (events ? " · " + events : "");
    box.appendChild(div);
  }
}

function renderPlanInfo(plan) {
  $("plan-info").textContent = plan ? "plan of " + when(plan.at_utc) + " · " + plan.method + " · " + plan.status + (plan.reason ? " · " + plan.reason : "") : "no plan yet";
}

// the chart -----------------------------------------------------------------------------------
function chartData(state) {
  const points = new Map(); // epoch s -> [measured, limit, planned, price]
  const put = (t, i, v) => {
    if (v === null || v === undefined) return;
    if (!points.has(t)) points.set(t, [null, null, null, null]);
    points.get(t)[i] = v;
  };
  for (const h of page.history) {
    const t = Date.parse(h.at_utc) / 1000;
    put(t, 0, h.measured_kw); put(t, 1, h.limit_kw); put(t, 3, h.price_per_kwh);
  }
  for (const [t, m, l] of page.live) { put(t, 0, m); put(t, 1, l); }
  const slots = state.plan ? state.plan.slots : [];
  for (const [start, _end, limit, site, price] of slots) { put(start, 1, limit); put(start, 2, site); put(start, 3, price); }
  if (slots.length) {
    const last = slots[slots.length - 1];
    put(last[1], 1, last[2]); put(last[1], 2, last[3]); put(last[1], 3, last[4]);
  }
  const xs = Array.from(points.keys()).sort((a, b) => a - b);
  const series = [0, 1, 2, 3].map((i) => xs.map((t) => points.get(t)[i]));
  return [xs, ...series];
}

function shadedWindows(state) {
  const out = [];
  for (const w of state.limits.windows) out.push(w);
  for (const e of state.limits.entries) {
    if (e.status === "past" && e.start && e.end) out.push({ id: e.id, source: e.source, kind: e.kind, start: e.start, end: e.end });
  }
  return out;
}

function drawChart(state) {
  const data = chartData(state);
  const width = Math.max(300, $("chart").clientWidth - 8);
  if (page.chart) {
    page.chart.windows = shadedWindows(state);
    page.chart.setData(data);
    if (Math.abs(page.chart.width - width) > 4) page.chart.setSize({ width, height: page.chart.height });
    return;
  }
  const stepped = uPlot.paths.stepped({ align: 1 });
  const options = {
    width,
    height: width < 600 ? 220 : 300,
    cursor: { drag: { x: false, y: false } },
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), state.site.timezone),
    scales: { x: { time: true, range: xRange }, kw: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] } },
    axes: [
      {},
      { scale: "kw", label: "kW", size: 50 },
      { scale: "price", side: 1, label: "price / kWh", size: 55, grid: { show: false } },
    ],
    series: [
      {},
      { label: "measured", scale: "kw", stroke: "#1f5fbf", width: 2, spanGaps: true },
      { label: "limit", scale: "kw", stroke: "#c62828", width: 2, paths: stepped, spanGaps: true },
      { label: "planned", scale: "kw", stroke: "#1a7f37", width: 1.5, dash: [6, 4], paths: stepped, spanGaps: true, points: { show: false } },
      { label: "price", scale: "price", stroke: "#8a8f98", width: 1, paths: stepped, spanGaps: true, points: { show: false } },
    ],
    hooks: { drawClear: [shadeWindows], draw: [markNow] },
  };
  page.chart = new uPlot(options, data, $("chart"));
  page.chart.windows = shadedWindows(state);
  window.addEventListener("resize", () => {
    if (page.chart) page.chart.setSize({ width: Math.max(300, $("chart").clientWidth - 8), height: page.chart.height });
  });
}

// the last 24 h (or 6 h, 1 h) and the plan ahead (as far, or all of it for 24 h)
function xRange(_u, _min, max) {
  const now = page.state ? Date.parse(page.state.site.now_utc) / 1000 : Date.now() / 1000;
  const span = page.rangeH * 3600;
  const ahead = Math.max(max || now, now + 3600);
  return [now - span, page.rangeH >= 24 ? ahead : Math.min(ahead, now + span)];
}

$("range").addEventListener("click", (event) => {
  const hours = Number(event.target.dataset.hours);
  if (!hours) return;
  page.rangeH = hours;
  for (const b of $("range").querySelectorAll("button")) b.classList.toggle("on", b === event.target);
  if (page.chart && page.state) page.chart.setData(chartData(page.state));
});

function shadeWindows(u) {
  const ctx = u.ctx;
  const { left, top, width, height } = u.bbox;
  ctx.save();
  ctx.font = Math.round(11 * devicePixelRatio) + "px system-ui, sans-serif";
  for (const w of u.windows || []) {
    const x0 = w.start ? u.valToPos(Date.parse(w.start) / 1000, "x", true) : left;
    const x1 = w.end ? u.valToPos(Date.parse(w.end) / 1000, "x", true) : left + width;
    const a = Math.max(left, x0), b = Math.min(left + width, x1);
    if (b <= a) continue;
    ctx.fillStyle = w.kind === "dr" ? "rgba(178,106,0,0.13)" : "rgba(198,40,40,0.08)";
    ctx.fillRect(a, top, b - a, height);
    ctx.fillStyle = "#5b2b2b";
    ctx.fillText((w.kind === "dr" ? "DR " : "cap ") + w.id, a + 4, top + 14 * devicePixelRatio);
  }
  ctx.restore();
}

function markNow(u) {
  if (!page.state) return;
  const x = u.valToPos(Date.parse(page.state.site.now_utc) / 1000, "x", true);
  const ctx = u.ctx;
  ctx.save();
  ctx.strokeStyle = "#667085";
  ctx.setLineDash([2, 3]);
  ctx.beginPath();
  ctx.moveTo(x, u.bbox.top);
  ctx.lineTo(x, u.bbox.top + u.bbox.height);
  ctx.stroke();
  ctx.restore();
}

// operator actions ----------------------------------------------------------------------------
$("cap-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const limitKw = Number($("cap-kw").value);
  const hours = $("cap-hours").value === "" ? null : Number($("cap-hours").value);
  const body = hours === null
    ? { kind: "permanent", limit_kw: limitKw, note: "set from the page" }
    : { kind: "window", limit_kw: limitKw, start: new Date().toISOString(), end: new Date(Date.now() + hours * 3600e3).toISOString(), note: "set from the page" };
  try {
    const cap = await api("caps", { method: "POST", body: JSON.stringify(body) });
    say("cap " + cap.id + " set: " + kw(cap.limit_kw), false);
  } catch (error) {
    say(error.message, true);
  }
});

$("replan").addEventListener("click", async () => {
  try {
    const answer = await api("replan", { method: "POST" });
    say("re-plan requested (" + answer.reason + ")", false);
  } catch (error) {
    say(error.message, true);
  }
});

async function cancelCap(id) {
  try {
    await api("caps/" + encodeURIComponent(id), { method: "DELETE" });
    say("cap " + id + " cancelled", false);
  } catch (error) {
    say(error.message, true);
  }
}

async function override(tx, energy, hours) {
  const body = {};
  if (energy !== "") body.energy_kwh = Number(energy);
  if (hours !== "") body.departure = new Date(Date.now() + Number(hours) * 3600e3).toISOString();
  if (!Object.keys(body).length) return say("give the energy wanted or the hours to departure", true);
  try {
    await api("sessions/" + tx + "/overrides", { method: "PUT", body: JSON.stringify(body) });
    say("session " + tx + " updated; re-planning", false);
  } catch (error) {
    say(error.message, true);
  }
}

start().catch((error) => showLogin(error.message));
