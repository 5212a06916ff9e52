// vmsim dashboard: renders each snapshot pushed by /api/stream (server-sent events).
"use strict";

const HISTORY = 300;
const LEGEND_PROCESSES = 32;  // the processes with most frames get a legend entry each
const USE_COLOURS = {
  kernel: "#7f1d1d", page_table: "#f97316", slab: "#9333ea", vmalloc: "#db2777",
  swap_cache: "#0d9488", kmalloc: "#92400e", shmem: "#0284c7", shared: "#facc15",
  page_cache: "#65a30d", page_cache_dirty: "#be123c",
};
const ZONE_FREE_COLOURS = { DMA: "#dbe4f0", Normal: "#e5e7eb", HighMem: "#e3efe3" };
const FLAG_NAMES = ["locked", "referenced", "uptodate", "dirty", "lru", "active", "slab",
  "reserved", "swapcache", "swapbacked", "buddy", "pagetable", "anon", "vmalloc", "kmalloc",
  "readahead", "mlocked"];
// the sysctls the zone table's figures are computed from
const ZONE_SYSCTLS = ["vm.min_free_kbytes", "vm.watermark_scale_factor", "vm.lowmem_reserve_ratio"];
const EVENT_KINDS = ["minor_fault", "major_fault", "swap_out", "swap_in", "oom_kill", "segv",
  "process_spawn", "process_exit"];

const state = {
  snapshot: null, lastSample: null, names: new Map(), cells: null, selectedPid: null,
  highlightPid: null,
  submissions: new Map(), submittedAt: new Map(),
  history: { t: [], free: [], used: [], swap: [], minor: [], major: [], pswpin: [], pswpout: [],
             pgscan: [], pgsteal: [] },
  charts: {}, eventKinds: new Set(EVENT_KINDS.filter(k => k !== "minor_fault")),
};
window.vmsimDashboard = state;

function $(id) { return document.getElementById(id); }
function kb(bytes) { return Math.floor(bytes / 1024).toLocaleString(); }
function hex(n) { return "0x" + (n >>> 0).toString(16).padStart(8, "0"); }

function pidColour(pid) {
  const hue = (pid * 137.508) % 360;
  return `hsl(${hue}, 65%, 48%)`;
}

function zoneOf(cells, pfn) {
  for (const z of cells.zones) {
    if (pfn >= z.start_pfn && pfn < z.start_pfn + z.spanned) return z.name;
  }
  return "?";
}

function cellColour(cells, index, use) {
  if (use === "free") return ZONE_FREE_COLOURS[zoneOf(cells, index * cells.group)] || "#eee";
  if (use === "user") return pidColour(cells.pids[index]);
  return USE_COLOURS[use] || "#000";
}

function decodeUses(b64) {
  const raw = atob(b64);
  const out = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
  return out;
}

function drawMap(cells) {
  const uses = decodeUses(cells.uses);
  cells.useBytes = uses;
  cells.columns = cells.nr_cells > 4096 ? 256 : 128;
  cells.size = Math.max(2, Math.floor(1024 / cells.columns));
  state.cells = cells;
  const canvas = $("memory-map");
  let signature = 0;
  for (let i = 0; i < uses.length; i++) signature = (signature * 31 + uses[i] + cells.pids[i]) | 0;
  canvas.dataset.signature = String(signature);
  canvas.dataset.cells = String(cells.nr_cells);
  $("map-caption").textContent = `${cells.nr_frames.toLocaleString()} frames, ` +
    `${cells.group} per cell; ` + cells.zones.filter(z => z.spanned)
      .map(z => `${z.name} pfn ${z.start_pfn}..${z.start_pfn + z.spanned - 1}`).join(", ");
  paintMap();
  drawLegend(cells);
}

// Every cell in its colour; while a process is highlighted, every other cell faded.
function paintMap() {
  const cells = state.cells, canvas = $("memory-map");
  const { columns, size } = cells;
  canvas.width = columns * size;
  canvas.height = Math.ceil(cells.nr_cells / columns) * size;
  const ctx = canvas.getContext("2d");
  const user = cells.use_names.indexOf("user");
  const gap = size > 3 ? 1 : 0;
  let lit = 0;
  for (let i = 0; i < cells.nr_cells; i++) {
    const mine = cells.useBytes[i] === user && cells.pids[i] === state.highlightPid;
    ctx.globalAlpha = state.highlightPid === null || mine ? 1 : 0.15;
    if (ctx.globalAlpha === 1) lit++;
    ctx.fillStyle = cellColour(cells, i, cells.use_names[cells.useBytes[i]]);
    ctx.fillRect((i % columns) * size, Math.floor(i / columns) * size, size - gap, size - gap);
  }
  ctx.globalAlpha = 1;
  canvas.dataset.highlight = state.highlightPid === null ? "" : String(state.highlightPid);
  canvas.dataset.lit = String(lit);
}

// One swatch per process (its colour, pid, name and cells), then free by zone and the
// kernel's uses with their cell counts.
function drawLegend(cells) {
  const user = cells.use_names.indexOf("user");
  const counts = {}, perPid = new Map();
  cells.useBytes.forEach((u, i) => {
    counts[cells.use_names[u]] = (counts[cells.use_names[u]] || 0) + 1;
    if (u === user) perPid.set(cells.pids[i], (perPid.get(cells.pids[i]) || 0) + 1);
  });
  const owners = [...perPid.entries()].sort((a, b) => b[1] - a[1] || a[0] - b[0]);
  const legend = owners.slice(0, LEGEND_PROCESSES).map(([pid, n]) =>
    `<span class="legend-pid${pid === state.highlightPid ? " highlight" : ""}" data-pid="${pid}" ` +
    `style="--c:${pidColour(pid)}">${pid} ${esc(state.names.get(pid) || "?")} <small>${n}</small></span>`);
  if (owners.length > LEGEND_PROCESSES)
    legend.push(`<span style="--c:#999">${owners.length - LEGEND_PROCESSES} more processes</span>`);
  for (const [zone, colour] of Object.entries(ZONE_FREE_COLOURS))
    legend.push(`<span style="--c:${colour}">free ${zone}</span>`);
  for (const [use, colour] of Object.entries(USE_COLOURS))
    legend.push(`<span style="--c:${colour}">${use.replaceAll("_", " ")} ${counts[use] || 0}</span>`);
  $("map-legend").innerHTML = legend.join("");
}

function setHighlight(pid) {
  if (pid === state.highlightPid || !state.cells) return;
  state.highlightPid = pid;
  document.querySelectorAll("#map-legend .legend-pid").forEach(el =>
    el.classList.toggle("highlight", Number(el.dataset.pid) === pid));
  paintMap();
}

function describeCell(index) {
  const cells = state.cells;
  const use = cells.use_names[cells.useBytes[index]];
  const first = index * cells.group;
  const last = Math.min(first + cells.group, cells.nr_frames) - 1;
  const pid = cells.pids[index];
  const flags = FLAG_NAMES.filter((_, bit) => cells.flags[index] & (1 << bit));
  const owner = pid ? `pid ${pid} ${state.names.get(pid) || ""}` :
    use === "free" ? "-" : use.startsWith("page_cache") ? "a file (page cache)" : "kernel";
  return (cells.group > 1 ? `pfn ${first}..${last}` : `pfn ${first}`) +
    ` (${hex(first * 4096)})\nzone  ${zoneOf(cells, first)}\nuse   ${use}\nowner ${owner}` +
    `\nmapcount ${(cells.mapcounts || [])[index] || 0}` +
    `\nflags ${flags.join(" ") || "-"}`;
}

function setupMapHover() {
  const canvas = $("memory-map");
  const tip = $("map-tooltip");
  canvas.addEventListener("mousemove", ev => {
    const cells = state.cells;
    if (!cells) return;
    const rect = canvas.getBoundingClientRect();
    const x = (ev.clientX - rect.left) * canvas.width / rect.width;
    const y = (ev.clientY - rect.top) * canvas.height / rect.height;
    const index = Math.floor(y / cells.size) * cells.columns + Math.floor(x / cells.size);
    if (index < 0 || index >= cells.nr_cells) { tip.hidden = true; setHighlight(null); return; }
    const user = cells.useBytes[index] === cells.use_names.indexOf("user");
    setHighlight(user ? cells.pids[index] : null);
    tip.textContent = describeCell(index);
    tip.style.left = (ev.clientX + 12) + "px";
    tip.style.top = (ev.clientY + 12) + "px";
    tip.hidden = false;
  });
  canvas.addEventListener("mouseleave", () => { tip.hidden = true; setHighlight(null); });
  const legend = $("map-legend");
  legend.addEventListener("mouseover", ev => {
    const entry = ev.target.closest(".legend-pid");
    setHighlight(entry ? Number(entry.dataset.pid) : null);
  });
  legend.addEventListener("mouseleave", () => setHighlight(null));
}

function makeChart(id, title, series) {
  const el = $(id);
  const opts = {
    title, width: Math.max(300, el.clientWidth || 480), height: 180,
    scales: { x: { time: true } },
    series: [{}, ...series.map(([label, stroke]) => ({ label, stroke, width: 2 }))],
    axes: [{}, { size: 60 }],
  };
  return new uPlot(opts, [[], ...series.map(() => [])], el);
}

function setupCharts() {
  state.charts.memory = makeChart("chart-memory", "memory (MiB)",
    [["free", "#16a34a"], ["used", "#2563eb"], ["swap used", "#dc2626"]]);
  state.charts.faults = makeChart("chart-faults", "page faults /s",
    [["minor", "#2563eb"], ["major", "#dc2626"]]);
  state.charts.swap = makeChart("chart-swap", "swap pages /s",
    [["pswpin", "#0d9488"], ["pswpout", "#f97316"]]);
  state.charts.reclaim = makeChart("chart-reclaim", "reclaim pages /s",
    [["pgscan", "#9333ea"], ["pgsteal", "#db2777"]]);
}

function push(name, value) {
  const list = state.history[name];
  list.push(value);
  if (list.length > HISTORY) list.shift();
}

// One chart point from a sample ({time, meminfo, vmstat}): levels, and rates against the
// sample before it.
function addSample(sample) {
  const prev = state.lastSample;
  if (prev && sample.time <= prev.time) return;
  const m = sample.meminfo, v = sample.vmstat;
  push("t", sample.time);
  push("free", m.MemFree / 1024);
  push("used", (m.MemTotal - m.MemFree) / 1024);
  push("swap", (m.SwapTotal - m.SwapFree) / 1024);
  const dt = prev ? Math.max(sample.time - prev.time, 1e-3) : 0;
  const rate = (f) => dt ? Math.max(0, f(v) - f(prev.vmstat)) / dt : 0;
  push("minor", rate(x => x.pgfault - x.pgmajfault));
  push("major", rate(x => x.pgmajfault));
  push("pswpin", rate(x => x.pswpin));
  push("pswpout", rate(x => x.pswpout));
  push("pgscan", rate(x => x.pgscan_kswapd + x.pgscan_direct));
  push("pgsteal", rate(x => x.pgsteal_kswapd + x.pgsteal_direct));
  state.lastSample = sample;
}

function drawCharts() {
  const h = state.history;
  state.charts.memory.setData([h.t, h.free, h.used, h.swap]);
  state.charts.faults.setData([h.t, h.minor, h.major]);
  state.charts.swap.setData([h.t, h.pswpin, h.pswpout]);
  state.charts.reclaim.setData([h.t, h.pgscan, h.pgsteal]);
}

// The dashboard's recent samples, sent first on every (re)connection: the charts start
// with what happened before the page opened.
function seedHistory(samples) {
  for (const list of Object.values(state.history)) list.length = 0;
  state.lastSample = null;
  samples.forEach(addSample);
  drawCharts();
}

function fillTable(id, rows) {
  $(id).querySelector("tbody").innerHTML = rows.join("");
}

function esc(text) {
  return String(text).replace(/[&<>"]/g, c => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
}

function renderProcesses(processes) {
  const showZombies = $("show-zombies").checked;
  state.names = new Map(processes.map(p => [p.pid, p.name]));
  fillTable("processes", processes.filter(p => showZombies || p.state !== "Z").map(p =>
    `<tr data-pid="${p.pid}" class="${p.state === "Z" ? "zombie" : ""}${p.pid === state.selectedPid ? " selected" : ""}">` +
    `<td>${p.pid}</td><td>${esc(p.name)}</td><td>${p.state}</td><td>${kb(p.vm_size)}</td>` +
    `<td>${kb(p.vm_rss)}</td><td>${kb(p.vm_swap)}</td><td>${kb(p.vm_pte)}</td>` +
    `<td>${p.minor_faults}</td><td>${p.major_faults}</td><td>${esc(p.killed_by || "")}</td></tr>`));
}

async function showMaps(pid) {
  state.selectedPid = pid;
  $("vmas-pid").textContent = `pid ${pid}`;
  $("walk-pid").value = pid;
  const reply = await fetch(`/api/maps/${pid}`).then(r => r.json());
  $("vmas").textContent = reply.error ? reply.error : (reply.text || "(no VMAs)");
  if (!reply.error && reply.vmas.length && !$("walk-addr").value)
    $("walk-addr").value = hex(reply.vmas[0].start);
}

async function walk(ev) {
  ev.preventDefault();
  const pid = $("walk-pid").value, addr = $("walk-addr").value;
  const reply = await fetch(`/api/translate?pid=${encodeURIComponent(pid)}&addr=${encodeURIComponent(addr)}`)
    .then(r => r.json());
  const steps = $("walk-steps");
  if (reply.error) {
    steps.innerHTML = `<li class="error">${esc(reply.error)}</li>`;
    $("walk-text").textContent = "";
    return;
  }
  const items = [`CR3 ${hex(reply.cr3)}`,
    `PDE [${hex(reply.pde_address)}] = ${hex(reply.pde)}`];
  if (reply.pte_address !== null) items.push(`PTE [${hex(reply.pte_address)}] = ${hex(reply.pte)}`);
  items.push(reply.present ? `frame pfn ${reply.pfn} -> physical ${hex(reply.physical)}`
                           : (reply.swap_offset !== null ? `swapped out: slot ${reply.swap_offset}`
                                                         : `not present (${reply.fault || "unmapped"})`));
  steps.innerHTML = items.map(s => `<li>${esc(s)}</li>`).join("");
  $("walk-text").textContent = reply.text;
}

function renderZones(zones) {
  fillTable("zones", zones.filter(z => z.present).map(z =>
    `<tr><td>${z.name}</td><td>${z.free}</td><td>${z.min}</td><td>${z.low}</td><td>${z.high}</td>` +
    `<td>${z.managed}</td><td>${z.protection.join(" ")}</td>` +
    `<td>${z.pcp_count}</td><td>${z.pcp_high}</td><td>${z.pcp_batch}</td>` +
    `<td>${z.free_area.join(" ")}</td></tr>`));
}

// The swap areas, one row per /proc/swaps line.
function renderSwaps(areas) {
  fillTable("swaps", areas.map(a =>
    `<tr data-name="${esc(a.filename)}"><td>${esc(a.filename)}</td><td>${esc(a.type)}</td>` +
    `<td class="size">${a.size_kb}</td><td class="used">${a.used_kb}</td>` +
    `<td class="priority">${a.priority}</td></tr>`));
}

// The vm sysctls, from the same snapshot as the zones: first the ones the zone table's
// watermarks and protection are computed from, then the rest in one compact list.
function renderSysctls(sysctl) {
  const moving = ZONE_SYSCTLS.filter(name => name in sysctl);
  fillTable("sysctl-zones", moving.map(name =>
    `<tr data-name="${esc(name)}"><td>${esc(name)}</td><td class="value">${esc(sysctl[name])}</td></tr>`));
  $("sysctl-rest").innerHTML = Object.keys(sysctl).filter(name => !ZONE_SYSCTLS.includes(name))
    .map(name => `<li data-name="${esc(name)}">${esc(name)} = <span class="value">` +
      `${esc(sysctl[name])}</span></li>`).join("");
}

function renderLocks(rows) {
  fillTable("locks", rows.map(c =>
    `<tr><td>${esc(c.name)}</td><td>${c.kind}</td><td>${c.contentions}</td><td>${c.acquisitions}</td>` +
    `<td>${(c.wait_total_ns / 1000).toFixed(1)}</td><td>${(c.hold_total_ns / 1000).toFixed(1)}</td></tr>`));
}

function setupEventFilters(kinds) {
  $("event-filters").innerHTML = kinds.map(k =>
    `<label><input type="checkbox" value="${k}" ${state.eventKinds.has(k) ? "checked" : ""}> ${k}</label>`).join("");
  if (state.filtersReady) return;
  state.filtersReady = true;
  $("event-filters").addEventListener("change", ev => {
    if (ev.target.checked) state.eventKinds.add(ev.target.value);
    else state.eventKinds.delete(ev.target.value);
    if (state.snapshot) renderEvents(state.snapshot);
  });
}

function sparkline(counts, peak) {
  const w = 120, h = 18, step = w / Math.max(1, counts.length - 1);
  const points = counts.map((n, i) =>
    `${(i * step).toFixed(1)},${(h - 1 - (peak ? n / peak : 0) * (h - 2)).toFixed(1)}`).join(" ");
  return `<svg width="${w}" height="${h}" viewBox="0 0 ${w} ${h}">` +
    `<polyline fill="none" stroke="#2563eb" stroke-width="1.5" points="${points}"/></svg>`;
}

// One row per followed kind: the last complete second's count as a rate, the last minute as
// a sparkline, its peak and its sum.
function renderEventRates(rates) {
  fillTable("event-rates", Object.entries(rates.kinds).map(([kind, r]) => {
    const total = r.per_second.reduce((a, b) => a + b, 0);
    return `<tr data-kind="${esc(kind)}" class="${esc(kind)}${total ? " seen" : " idle"}">` +
      `<td>${esc(kind)}</td><td class="rate">${r.last.toLocaleString("en-US")}/s</td>` +
      `<td>${sparkline(r.per_second, r.peak)}</td><td>${r.peak.toLocaleString("en-US")}</td>` +
      `<td class="total">${total.toLocaleString("en-US")}</td></tr>`;
  }));
}

function renderEvents(snap) {
  renderEventRates(snap.event_rates);
  if ($("raw-events").hidden) return;
  const shown = snap.events.filter(e => state.eventKinds.has(e.kind)).slice(-100).reverse();
  $("events").innerHTML = shown.map(e =>
    `<li class="${e.kind}">${String(e.seq).padStart(8)} ${e.kind.padEnd(14)} pid=${e.pid}` +
    (e.address !== null ? ` addr=${hex(e.address)}` : "") + (e.pfn !== null ? ` pfn=${e.pfn}` : "") +
    ` ${esc(e.detail)}</li>`).join("");
  $("events-dropped").textContent = snap.dropped_events
    ? `the server skipped ${snap.dropped_events.toLocaleString("en-US")} events this feed read too slowly; the rates above count what arrived`
    : "";
}

// The scoreboard: one row per student, a score per exercise ("-": not answered yet), the
// total out of what is possible, and the submissions; a row stays marked for a few seconds
// after its student submits.
function renderLab(lab) {
  const section = $("lab-section");
  section.hidden = !lab || lab.state === "no_lab";
  if (section.hidden) return;
  const status = $("lab-status"), table = $("scoreboard");
  status.className = `lab-status ${lab.state}`;
  status.dataset.state = lab.state;
  if (lab.state !== "live") {
    status.textContent = lab.message;
    table.hidden = true;
    $("lab-title").textContent = "";
    return;
  }
  $("lab-title").textContent = lab.title;
  const students = lab.students;
  status.textContent = `${students.length} student(s), ` +
    `${students.reduce((n, s) => n + s.submissions, 0)} submission(s)`;
  table.hidden = false;
  table.querySelector("thead").innerHTML = "<tr><th>student</th>" +
    lab.kinds.map(k => `<th>${esc(k)}</th>`).join("") + "<th>total</th><th>submissions</th></tr>";
  fillTable("scoreboard", students.map(s => {
    const before = state.submissions.get(s.name);
    if (before !== undefined && before !== s.submissions) state.submittedAt.set(s.name, Date.now());
    state.submissions.set(s.name, s.submissions);
    const changed = Date.now() - (state.submittedAt.get(s.name) || 0) < 4000;
    const cells = lab.kinds.map(k => k in s.scores
      ? `<td data-kind="${esc(k)}">${s.scores[k].toFixed(2)}</td>`
      : `<td data-kind="${esc(k)}" class="missing">-</td>`).join("");
    const full = s.possible > 0 && s.total >= s.possible;
    return `<tr data-student="${esc(s.name)}" class="${changed ? "changed" : ""}">` +
      `<td>${esc(s.name)}</td>${cells}<td class="${full ? "full" : ""}">` +
      `${s.total.toFixed(2)} / ${s.possible.toFixed(2)}</td><td>${s.submissions}</td></tr>`;
  }));
}

function showBanner(text) {
  const banner = $("banner");
  banner.textContent = text || "";
  banner.hidden = !text;
}

function render(snap) {
  const status = $("status");
  $("server").textContent = snap.address || "";
  if (snap.error) {
    status.textContent = "server unreachable";
    status.className = "status down";
    showBanner(`No vmsim server answers at ${snap.address || "its address"} (${snap.error}). ` +
      "Start one with `vmsim server`; the dashboard keeps retrying and this page follows.");
    return;
  }
  showBanner("");
  const first = !state.snapshot;
  state.snapshot = snap;
  if (first) setupEventFilters(snap.event_kinds);
  status.textContent = "live";
  status.className = "status live";
  status.dataset.version = String(snap.version);
  const m = snap.meminfo;
  $("summary").textContent = `MemFree ${m.MemFree.toLocaleString()} kB, SwapFree ` +
    `${m.SwapFree.toLocaleString()} kB, ${snap.processes.filter(p => p.state !== "Z").length} processes`;
  renderProcesses(snap.processes);
  drawMap(snap.frames);
  addSample(snap);
  drawCharts();
  renderZones(snap.zones);
  renderSysctls(snap.sysctl);
  renderSwaps(snap.swaps || []);
  renderLocks(snap.lock_stat);
  renderLab(snap.lab);
  renderEvents(snap);
}

function start() {
  setupCharts();
  setupMapHover();
  $("processes").addEventListener("click", ev => {
    const row = ev.target.closest("tr[data-pid]");
    if (row) showMaps(Number(row.dataset.pid));
  });
  $("show-zombies").addEventListener("change", () => state.snapshot && renderProcesses(state.snapshot.processes));
  $("show-raw-events").addEventListener("change", ev => {
    $("raw-events").hidden = !ev.target.checked;
    if (state.snapshot) renderEvents(state.snapshot);
  });
  $("walk-form").addEventListener("submit", walk);
  const source = new EventSource("/api/stream");
  source.addEventListener("history", ev => seedHistory(JSON.parse(ev.data)));
  source.addEventListener("snapshot", ev => render(JSON.parse(ev.data)));
  source.onerror = () => {
    $("status").className = "status down";
    // a refused stream (HTTP 503: too many pages open) is not retried by the browser
    const refused = source.readyState === EventSource.CLOSED;
    $("status").textContent = refused ? "refused" : "reconnecting";
    showBanner(refused
      ? "The dashboard refused the live stream (too many pages open: see --max-streams); reload later."
      : "The dashboard itself stopped answering; reconnecting.");
  };
}

start();
