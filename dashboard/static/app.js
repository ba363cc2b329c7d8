// discovery-lab live page: the seed's user in the browser, the stack's controls, and a live grid.
"use strict";

const $ = (id) => document.getElementById(id);
const KEY_INTERNAL = "lab.internalToken";
const KEY_TOKEN = "token"; // the seed: localStorage.setItem(token)
const POLL_MS = 1000;
let gridPage = 0;
let lastGrid = "";

function esc(value) {
  return String(value ?? "").replace(/[&<>"']/g, (c) => "&#" + c.charCodeAt(0) + ";");
}

function note(list, text, ok) {
  const li = document.createElement("li");
  li.textContent = new Date().toLocaleTimeString() + "  " + text;
  li.className = ok === false ? "bad" : "";
  list.prepend(li);
  while (list.children.length > 40) list.lastChild.remove();
}

function timingText(header) {
  return (header || "").split(",").map((e) => e.trim()).filter(Boolean).map((e) => {
    const [name, ...params] = e.split(";");
    const dur = params.map((p) => p.trim()).find((p) => p.startsWith("dur="));
    return dur ? name + " " + Number(dur.slice(4)).toFixed(1) + " ms" : name;
  }).join(", ");
}

// ---- the admin surface: every call carries the internal token ----

function askToken(message) {
  $("token-form").hidden = false;
  $("token-note").textContent = message || "";
  $("internal-token").focus();
}

async function api(method, path, body) {
  const token = localStorage.getItem(KEY_INTERNAL);
  if (!token) { askToken("the controls need the internal token"); throw new Error("no internal token"); }
  const response = await fetch("/api" + path, {
    method,
    headers: { "X-Internal-Token": token, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await response.json().catch(() => ({}));
  if (response.status === 401) { askToken("that token was refused"); throw new Error("401: internal token refused"); }
  if (!response.ok) throw new Error(response.status + ": " + (data.detail || data.error || "failed"));
  return data;
}

async function control(label, method, path, body) {
  note($("activity"), label + " …");
  try {
    const data = await api(method, path, body);
    note($("activity"), label + ": " + summarise(data), true);
    poll(true);
    return data;
  } catch (err) {
    note($("activity"), label + ": " + err.message, false);
    return null;
  }
}

function summarise(data) {
  if (data.registered !== undefined) return data.registered + " registered" + (data.failed.length ? ", " + data.failed.length + " failed" : "");
  if (data.processes) return data.processes.map((p) => p.name + " " + (p.mode || p.note)).join(", ");
  if (data.pid) return "running, pid " + data.pid;
  if (data.was_running !== undefined) return data.was_running ? "stopped" : "was not running";
  if (data.username) return data.username + " → " + data.status;
  return "ok";
}

// ---- the seed's user: register, log in, keep the token, call each service ----

async function gateway(method, path, body, token) {
  const headers = { "Content-Type": "application/json" };
  if (token) headers.Authorization = "Bearer " + token;
  const started = performance.now();
  const response = await fetch("/gateway" + path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  });
  const ms = performance.now() - started;
  const text = await response.text();
  let data = text;
  try { data = JSON.parse(text); } catch (_) { /* not JSON */ }
  const timing = timingText(response.headers.get("Server-Timing"));
  note($("user-steps"), method + " " + path + " → " + response.status + " in " + ms.toFixed(1) + " ms" + (timing ? " (" + timing + ")" : ""), response.ok);
  return { status: response.status, data, ms, timing };
}

function credentials() {
  return { username: $("user-name").value.trim(), password: $("user-password").value };
}

function b64url(part) {
  const s = part.replace(/-/g, "+").replace(/_/g, "/");
  return Uint8Array.from(atob(s + "=".repeat((4 - (s.length % 4)) % 4)), (c) => c.charCodeAt(0));
}

async function whichKey(token) {
  const [h, p, s] = token.split(".");
  const header = JSON.parse(new TextDecoder().decode(b64url(h)));
  const jwks = (await gateway("GET", "/auth/.well-known/jwks.json")).data;
  const key = (jwks.keys || []).find((k) => k.kid === header.kid);
  if (!key) return "kid " + header.kid + " is NOT in the JWKS";
  const alg = header.alg === "RS256" ? { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" } : { name: "Ed25519" };
  try {
    const jwk = { kty: key.kty, n: key.n, e: key.e, crv: key.crv, x: key.x };
    const pub = await crypto.subtle.importKey("jwk", jwk, alg, false, ["verify"]);
    const ok = await crypto.subtle.verify(alg, pub, b64url(s), new TextEncoder().encode(h + "." + p));
    return "verified by JWKS key kid " + header.kid + " (" + header.alg + "): " + (ok ? "signature checked in this browser" : "SIGNATURE DOES NOT VERIFY");
  } catch (_) {
    return "JWKS key kid " + header.kid + " (" + header.alg + ") matches; this browser cannot check the signature itself";
  }
}

async function showToken(token) {
  if (!token) return;
  const [h, p] = token.split(".");
  const decode = (part) => JSON.stringify(JSON.parse(new TextDecoder().decode(b64url(part))), null, 2);
  $("token-header").textContent = decode(h);
  $("token-claims").textContent = decode(p);
  $("token-kid").textContent = await whichKey(token);
}

async function register() {
  const r = await gateway("POST", "/auth/register", credentials());
  localStorage.setItem("lab.user", credentials().username);
  return r;
}

async function login() {
  const r = await gateway("POST", "/auth/login", credentials());
  if (r.status === 200) {
    localStorage.setItem(KEY_TOKEN, r.data.token);
    await showToken(r.data.token);
  }
  return r;
}

async function callServices() {
  const token = localStorage.getItem(KEY_TOKEN);
  if (!token) { note($("user-steps"), "log in first", false); return; }
  const rows = [];
  for (const service of window.labServices || ["profiles", "notifications"]) {
    const r = await gateway("GET", "/" + service + "/whoami", undefined, token);
    const d = typeof r.data === "object" ? r.data : {};
    rows.push("<tr><td>" + esc(service) + "</td><td class='" + (r.status < 400 ? "ok" : "bad") + "'>" + r.status +
      (d.error ? " " + esc(d.error) : "") + "</td><td>" + esc(d.discovered_by) + "</td><td>" + esc(d.first_call) +
      "</td><td>" + esc(d.known_since) + "</td><td>" + esc(r.timing) + "</td></tr>");
  }
  $("answers").tBodies[0].innerHTML = rows.join("");
}

async function deactivateMe() {
  const token = localStorage.getItem(KEY_TOKEN);
  if (!token) { note($("user-steps"), "log in first", false); return; }
  await gateway("DELETE", "/auth/users/me", undefined, token);
  note($("user-steps"), "the token is kept: call each service again to see who still lets it in");
}

// ---- the live picture: mode, processes, counters, grid ----

function renderProcesses(rows) {
  $("processes").tBodies[0].innerHTML = rows.map((r) => {
    const fixed = r.name === "dashboard";
    const buttons = fixed ? "" : "<button id='stop-" + esc(r.name) + "' data-stop='" + esc(r.name) + "'>stop</button> " +
      "<button id='start-" + esc(r.name) + "' data-start='" + esc(r.name) + "'>start</button>";
    return "<tr><td>" + esc(r.name) + "</td><td>" + esc(r.port) + "</td><td class='" +
      (r.healthy ? "ok'>up" : "bad'>down") + "</td><td>" + esc(r.subscriber) + "</td><td>" + buttons + "</td></tr>";
  }).join("");
}

function renderCounters(c) {
  const labels = {
    registered_users: "users registered (auth)", events_published: "events published", events_received: "events received",
    unknown_user_refusals: "unknown-user refusals", events_lost: "events_lost", outbox_pending: "outbox backlog",
    stream_lag: "stream lag", dead_letters: "dead letters",
  };
  $("counters").innerHTML = Object.entries(labels).map(([k, label]) =>
    "<dt>" + esc(label) + "</dt><dd id='counter-" + k + "'>" + esc(c[k] ?? "–") + "</dd>").join("");
}

function cell(c) {
  if (!c) return "<td class='muted'>—</td>";
  const when = new Date(c.since).toLocaleTimeString();
  const mark = c.by === "event" ? "E" : "L";
  return "<td class='" + mark + (c.active ? "" : " off") + "' title='" + esc(c.by + " at " + c.since) + "'>" + mark + " " + esc(when) + "</td>";
}

function renderGrid(g, services) {
  const key = JSON.stringify(g);
  if (key === lastGrid) return;
  lastGrid = key;
  gridPage = g.page;
  $("grid").tHead.innerHTML = "<tr><th>user_id</th><th>username</th>" + services.map((s) => "<th>" + esc(s) + "</th>").join("") + "</tr>";
  $("grid").tBodies[0].innerHTML = g.rows.map((r) =>
    "<tr data-user='" + r.user_id + "'><td>" + r.user_id + "</td><td>" + esc(r.username || "") + "</td>" +
    services.map((s) => cell(r.cells[s])).join("") + "</tr>").join("");
  $("grid-page").textContent = "page " + (g.page + 1) + " of " + g.pages + " (" + g.total + " users)";
  $("grid-summary").innerHTML = services.map((s) => {
    const t = g.summary[s];
    return t ? "<span id='summary-" + esc(s) + "'>" + esc(s) + ": knows " + t.known + " (" + t.event + " by event, " + t.lazy + " lazily, " + t.inactive + " deactivated)</span>"
      : esc(s) + ": unreachable";
  }).join(" · ");
}

function render(state) {
  $("mode-current").textContent = "mode " + state.mode;
  $("publish-current").textContent = "publish " + state.publish;
  document.querySelectorAll("[data-mode]").forEach((b) => b.classList.toggle("active", b.dataset.mode === state.mode));
  window.labServices = state.services;
  renderProcesses(state.processes);
  renderCounters(state.counters);
  renderGrid(state.grid, state.services);
  $("deactivate-name").placeholder = state.last_user || "latest burst user";
  $("updated").textContent = "updated " + new Date(state.at * 1000).toLocaleTimeString();
}

let polling = null;
let lastPoll = 0;
async function poll(soon) {
  clearTimeout(polling);
  const wait = Math.max(0, lastPoll + POLL_MS - Date.now());
  if (soon && wait > 0) { polling = setTimeout(poll, wait); return; }
  lastPoll = Date.now();
  try {
    if (localStorage.getItem(KEY_INTERNAL)) render(await api("GET", "/state?page=" + gridPage + "&size=50"));
  } catch (err) {
    $("updated").textContent = "not connected: " + err.message;
  }
  polling = setTimeout(poll, POLL_MS);
}

async function loadReport() {
  const r = await (await fetch("/report/summary")).json();
  if (!r.exists) return;
  $("report").innerHTML = "<p><a id='report-link' href='/report/full' target='_blank'>the full report (" + esc(r.folder) + ")</a></p>" +
    r.verdict_html + r.charts.map((src) => "<img alt='chart' src='" + src + "'>").join("");
}

function wire() {
  $("token-form").addEventListener("submit", (e) => {
    e.preventDefault();
    localStorage.setItem(KEY_INTERNAL, $("internal-token").value.trim());
    $("token-form").hidden = true;
    poll(true);
  });
  $("user-register").onclick = register;
  $("user-login").onclick = login;
  $("user-call").onclick = callServices;
  $("user-deactivate").onclick = deactivateMe;
  document.querySelectorAll("[data-mode]").forEach((b) => {
    b.onclick = () => control("mode " + b.dataset.mode, "PUT", "/mode", { mode: b.dataset.mode, publish: $("publish-select").value || null });
  });
  $("burst-go").onclick = () => control("burst of " + $("burst-count").value, "POST", "/burst", { count: Number($("burst-count").value) });
  $("deactivate-go").onclick = () => control("deactivate", "POST", "/deactivate", { username: $("deactivate-name").value.trim() || null });
  $("processes").addEventListener("click", (e) => {
    const t = e.target;
    if (t.dataset.stop) control("stop " + t.dataset.stop, "POST", "/processes/" + t.dataset.stop + "/stop");
    if (t.dataset.start) control("start " + t.dataset.start, "POST", "/processes/" + t.dataset.start + "/start");
  });
  $("grid-prev").onclick = () => { gridPage = Math.max(0, gridPage - 1); poll(true); };
  $("grid-next").onclick = () => { gridPage += 1; poll(true); };
}

function init() {
  wire();
  const name = localStorage.getItem("lab.user") || "alice-" + Math.random().toString(16).slice(2, 6);
  $("user-name").value = name;
  $("user-password").value = "correct horse battery";
  const token = localStorage.getItem(KEY_TOKEN);
  if (token) showToken(token).catch(() => {});
  if (!localStorage.getItem(KEY_INTERNAL)) askToken("the controls need the internal token");
  loadReport().catch(() => {});
  poll();
}

init();
