// Lepton's topology page: draws what the API holds for the caller (networks,
// routers, VMs, Floating IPs) and, for admins, which node hosts what (VMs,
// router instances, the SNAT owner). It follows changes live: the server's
// stream of the caller's changes (GET /v2.0/lepton/changes, server-sent events
// read with fetch, which can send the caller's headers) says when something
// the caller may see changed, and the page reads the API again. A slow poll
// (?interval=MS, default 30 s) only refreshes what no change carries (agent
// liveness) and covers a stream that is down.
// Plain DOM, no library; names from the API are only ever set as text.
"use strict";

const SVGNS = "http://www.w3.org/2000/svg";
const params = new URLSearchParams(location.search);
const state = {
  project: params.get("project") || sessionStorage.getItem("lepton.project") || "",
  roles: params.get("roles") || sessionStorage.getItem("lepton.roles") || "",
  token: sessionStorage.getItem("lepton.token") || "",
  interval: Math.max(200, Number(params.get("interval")) || 30000),
  last: "",
  timer: null,
  busy: false,     // a refresh is running
  again: false,    // ... and another one is wanted after it
  soon: null,      // a refresh scheduled by a change event
  stream: null,    // AbortController of the open changes stream
};

function headers() {
  const h = { Accept: "application/json" };
  if (state.project) h["X-Project-Id"] = state.project;
  if (state.roles) h["X-Roles"] = state.roles;
  if (state.token) h["X-Auth-Token"] = state.token;
  return h;
}

async function get(path) {
  const r = await fetch(path, { headers: headers(), cache: "no-store" });
  if (!r.ok) {
    const e = new Error(`${path}: HTTP ${r.status}`);
    e.status = r.status;
    throw e;
  }
  return r.json();
}

async function load() {
  const [networks, subnets, ports, routers, floatingips] = await Promise.all([
    get("/v2.0/networks"), get("/v2.0/subnets"), get("/v2.0/ports"),
    get("/v2.0/routers"), get("/v2.0/floatingips"),
  ]);
  let agents = null;
  try {
    agents = (await get("/v2.0/agents")).agents;
  } catch (e) {
    if (e.status !== 403 && e.status !== 401) throw e;  // not an admin: no nodes
  }
  return {
    networks: networks.networks, subnets: subnets.subnets, ports: ports.ports,
    routers: routers.routers, floatingips: floatingips.floatingips, agents,
  };
}

function el(tag, attrs, text) {
  const e = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function html(tag, attrs, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

const isVm = (p) => (p.device_owner || "").startsWith("compute:");
const isRouterLeg = (p) => [
  "network:router_interface", "network:router_interface_distributed",
].includes(p.device_owner);
const short = (id) => id.slice(0, 8);
const ipOf = (p) => (p.fixed_ips && p.fixed_ips.length ? p.fixed_ips[0].ip_address : "");

// Per router: the networks it has a leg on (and its gateway's network).
function routerNetworks(d) {
  const byRouter = {};
  for (const r of d.routers) {
    byRouter[r.id] = new Set();
    const gw = r.external_gateway_info;
    if (gw && gw.network_id) byRouter[r.id].add(gw.network_id);
  }
  for (const p of d.ports)
    if (isRouterLeg(p) && byRouter[p.device_id]) byRouter[p.device_id].add(p.network_id);
  return byRouter;
}

function drawGraph(d) {
  const svg = document.getElementById("graph");
  while (svg.firstChild) svg.removeChild(svg.firstChild);
  const nets = [...d.networks].sort((a, b) =>
    (b["router:external"] === true) - (a["router:external"] === true) ||
    (a.name || "").localeCompare(b.name || "") || a.id.localeCompare(b.id));
  const col = {};
  nets.forEach((n, i) => { col[n.id] = 30 + i * 200; });
  const cidrs = {};
  for (const s of d.subnets) (cidrs[s.network_id] = cidrs[s.network_id] || []).push(s.cidr);
  const legs = routerNetworks(d);
  const fipOf = {};
  for (const f of d.floatingips) if (f.port_id) fipOf[f.port_id] = f;

  const top = 50;
  let y = top + 20;
  const routerRows = [];
  for (const r of d.routers) {
    const xs = [...legs[r.id]].filter((n) => n in col).map((n) => col[n]);
    routerRows.push({ r, y, xs });
    y += 50;
  }
  const vmsByNet = {};
  for (const p of d.ports) if (isVm(p)) (vmsByNet[p.network_id] = vmsByNet[p.network_id] || []).push(p);
  const vmTop = y + 10;
  let height = vmTop;
  for (const n of nets) height = Math.max(height, vmTop + (vmsByNet[n.id] || []).length * 60);
  height += 20;
  svg.setAttribute("height", String(height));
  svg.setAttribute("width", String(Math.max(960, 60 + nets.length * 200)));

  for (const n of nets) {
    const g = el("g", {
      class: "net" + (n["router:external"] ? " external" : ""),
      "data-kind": "network", "data-id": n.id,
    });
    g.appendChild(el("rect", { x: col[n.id], y: top - 40, width: 14, height: height - top + 30, rx: 4 }));
    g.appendChild(el("text", { x: col[n.id] + 18, y: top - 28, "data-field": "name" },
      n.name || short(n.id)));
    g.appendChild(el("text", { x: col[n.id] + 18, y: top - 12, "data-field": "cidrs" },
      (cidrs[n.id] || []).join(" ")));
    svg.appendChild(g);
  }
  for (const { r, y: ry, xs } of routerRows) {
    const g = el("g", {
      class: "router", "data-kind": "router", "data-id": r.id,
      "data-networks": [...legs[r.id]].sort().join(" "),
    });
    const x0 = xs.length ? Math.min(...xs) : 30, x1 = xs.length ? Math.max(...xs) : 30;
    for (const x of xs)
      g.appendChild(el("line", { class: "link", x1: x + 7, y1: ry + 15, x2: x0 + 30, y2: ry + 15 }));
    g.appendChild(el("rect", { x: x0 + 30, y: ry, width: Math.max(140, x1 - x0 - 10), height: 30, rx: 6 }));
    // "distributed" is shown to admins only (as in Neutron).
    const mode = r.distributed === true ? " (distributed)" : r.distributed === false ? " (legacy)" : "";
    g.appendChild(el("text", { x: x0 + 38, y: ry + 19, "data-field": "name" },
      `${r.name || short(r.id)}${mode}`));
    svg.appendChild(g);
  }
  for (const n of nets) {
    (vmsByNet[n.id] || []).forEach((p, i) => {
      const x = col[n.id] + 30, vy = vmTop + i * 60;
      const g = el("g", { class: "vm", "data-kind": "vm", "data-id": p.id, "data-network": n.id });
      g.appendChild(el("line", { class: "link", x1: col[n.id] + 7, y1: vy + 20, x2: x, y2: vy + 20 }));
      g.appendChild(el("rect", { x, y: vy, width: 150, height: 46, rx: 4 }));
      g.appendChild(el("text", { x: x + 6, y: vy + 16, "data-field": "name" }, p.name || short(p.id)));
      g.appendChild(el("text", { x: x + 6, y: vy + 30, "data-field": "ip" }, ipOf(p)));
      const f = fipOf[p.id];
      if (f)
        g.appendChild(el("text", { x: x + 6, y: vy + 43, class: "fip", "data-kind": "fip", "data-id": f.id },
          `FIP ${f.floating_ip_address}`));
      svg.appendChild(g);
    });
  }
}

// Admin: which node hosts what. A distributed router has an instance on
// every node with a VM on one of its networks; a legacy router lives where
// its legs are bound; the SNAT owner is the router's lepton:snat_owner (or
// the node of its centralized SNAT port).
function drawNodes(d) {
  const section = document.getElementById("nodes-section");
  const box = document.getElementById("nodes");
  while (box.firstChild) box.removeChild(box.firstChild);
  if (!d.agents || !d.agents.length) {  // tenants are shown no agents
    section.hidden = true;
    return;
  }
  section.hidden = false;
  const legs = routerNetworks(d);
  const hosts = {};
  for (const a of d.agents) hosts[a.host] = { agent: a, vms: [], routers: {} };
  const on = (h) => hosts[h] || (hosts[h] = { agent: null, vms: [], routers: {} });
  for (const p of d.ports) if (isVm(p) && p["binding:host_id"]) on(p["binding:host_id"]).vms.push(p);
  for (const r of d.routers) {
    const where = new Set();
    if (r.distributed) {
      for (const p of d.ports)
        if (isVm(p) && p["binding:host_id"] && legs[r.id].has(p.network_id)) where.add(p["binding:host_id"]);
    }
    for (const p of d.ports)
      if (p.device_id === r.id && p["binding:host_id"] &&
          (!r.distributed || p.device_owner === "network:router_centralized_snat"))
        where.add(p["binding:host_id"]);
    let snat = r["lepton:snat_owner"] || "";
    for (const p of d.ports)
      if (p.device_id === r.id && p.device_owner === "network:router_centralized_snat")
        snat = p["binding:host_id"] || snat;
    if (!r.distributed && !snat && r.external_gateway_info) {
      const gw = d.ports.find((p) => p.device_id === r.id && p.device_owner === "network:router_gateway");
      if (gw) snat = gw["binding:host_id"] || "";
    }
    for (const h of where) on(h).routers[r.id] = { r, snat: snat === h };
    if (snat && !where.has(snat)) on(snat).routers[r.id] = { r, snat: true };
  }
  for (const h of Object.keys(hosts).sort()) {
    const { agent, vms, routers } = hosts[h];
    const div = html("div", { class: "node" + (agent && !agent.alive ? " dead" : ""), "data-kind": "node", "data-host": h });
    const conf = (agent && agent.configurations) || {};
    const mode = conf.mode || conf.agent_mode || "";
    div.appendChild(html("h3", {}, `${h}${mode ? " (" + mode + ")" : ""}${agent ? (agent.alive ? "" : " DOWN") : " (no agent)"}`));
    const ul = html("ul");
    for (const p of vms)
      ul.appendChild(html("li", { "data-kind": "node-vm", "data-id": p.id }, `VM ${p.name || short(p.id)} ${ipOf(p)}`));
    for (const { r, snat } of Object.values(routers)) {
      const li = html("li", { "data-kind": "node-router", "data-id": r.id }, `router ${r.name || short(r.id)} `);
      if (snat) li.appendChild(html("span", { class: "snat", "data-kind": "snat-owner" }, "SNAT owner"));
      ul.appendChild(li);
    }
    div.appendChild(ul);
    box.appendChild(div);
  }
}

function setStatus(text, isError) {
  const s = document.getElementById("status");
  s.textContent = text;
  s.className = isError ? "error" : "";
}

async function refresh() {
  if (state.busy) {
    state.again = true;
    return;
  }
  state.busy = true;
  clearTimeout(state.timer);
  try {
    const d = await load();
    // Heartbeats change agents every few seconds: redraw only for the rest.
    const text = JSON.stringify(d, (k, v) => (k === "heartbeat_timestamp" ? undefined : v));
    if (text !== state.last) {
      state.last = text;
      drawGraph(d);
      drawNodes(d);
    }
    const vms = d.ports.filter(isVm).length;
    setStatus(`updated ${new Date().toLocaleTimeString()}: ${d.networks.length} networks, ` +
      `${d.routers.length} routers, ${vms} VMs, ${d.floatingips.length} floating IPs` +
      (d.agents && d.agents.length ? `, ${d.agents.length} nodes` : "") +
      (document.body.dataset.live === "1" ? " (live)" : ""), false);
    document.body.dataset.loaded = String(Number(document.body.dataset.loaded || 0) + 1);
  } catch (e) {
    setStatus(`cannot load: ${e.message}`, true);
  }
  state.busy = false;
  state.timer = setTimeout(refresh, state.interval);
  if (state.again) {
    state.again = false;
    refresh();
  }
}

// A burst of changes (a router and its ports...) makes one refresh.
function changed() {
  if (!state.soon) state.soon = setTimeout(() => { state.soon = null; refresh(); }, 50);
}

// One server-sent event (its "event:" and "data:" lines).
function onEvent(block) {
  let name = "message";
  let data = "";
  for (const line of block.split("\n")) {
    if (line.startsWith("event:")) name = line.slice(6).trim();
    else if (line.startsWith("data:")) data += line.slice(5).trim();
  }
  if (name === "ready" || name === "reset") {
    document.body.dataset.live = "1";
    refresh();
  } else if (name === "change") {
    document.body.dataset.changes = String(Number(document.body.dataset.changes || 0) + 1);
    try {
      document.body.dataset.lastChange = JSON.parse(data).revision;
    } catch (e) { /* a malformed event only refreshes */ }
    changed();
  }
}

// Follows the caller's changes until the identity changes; reconnects.
async function follow() {
  if (state.stream) state.stream.abort();
  const ctl = new AbortController();
  state.stream = ctl;
  try {
    const r = await fetch("/v2.0/lepton/changes",
      { headers: { ...headers(), Accept: "text/event-stream" }, cache: "no-store", signal: ctl.signal });
    if (!r.ok) throw new Error(`changes: HTTP ${r.status}`);
    const reader = r.body.getReader();
    const dec = new TextDecoder();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true });
      let end;
      while ((end = buf.indexOf("\n\n")) >= 0) {
        onEvent(buf.slice(0, end));
        buf = buf.slice(end + 2);
      }
    }
  } catch (e) {
    if (ctl.signal.aborted) return;
  }
  if (state.stream !== ctl) return;
  // Down (or refused): show what the API holds now, and try again.
  document.body.dataset.live = "0";
  refresh();
  setTimeout(() => { if (state.stream === ctl) follow(); }, 2000);
}

document.getElementById("project").value = state.project;
document.getElementById("roles").value = state.roles;
document.getElementById("who").addEventListener("submit", (ev) => {
  ev.preventDefault();
  state.project = document.getElementById("project").value.trim();
  state.roles = document.getElementById("roles").value.trim();
  state.token = document.getElementById("token").value;
  sessionStorage.setItem("lepton.project", state.project);
  sessionStorage.setItem("lepton.roles", state.roles);
  sessionStorage.setItem("lepton.token", state.token);
  state.last = "";
  follow();  // its "ready" event refreshes
});
follow();
