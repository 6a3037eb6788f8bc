// Horus dashboard: plain JavaScript, SVG and Server-Sent Events; served as is, no build step.
// One page for both servers: a node's admin endpoint (mode "node") and the demo controller
// (mode "demo", which adds process controls and the key-value service).

const $ = (sel) => document.querySelector(sel);
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
const endpointOf = (id) => {
  const i = String(id).lastIndexOf('/');
  return i < 0 ? String(id) : String(id).slice(0, i);
};
const fmtRate = (x) => (typeof x === 'number' ? (x >= 100 ? x.toFixed(0) : x.toFixed(1)) : '–');
const clock = (t) => new Date(t).toLocaleTimeString([], { hour12: false });
const ORDERS = ['fifo', 'causal', 'total', 'group'];
const MAX_MSGS = 1200;
const MAX_VIEWS = 600;

const S = {
  mode: null,
  info: {},
  /** { name, endpoint, state, pid, id, admin, restarts, since, status } */
  members: [],
  /** Sampled send/deliver events. */
  msgs: [],
  /** view / blocked / unblocked events. */
  views: [],
  /** Demo process lifecycle: { member, endpoint, state, at, detail }. */
  lifecycle: [],
  /** endpoint -> [{ t, sent, delivered }] */
  rates: new Map(),
  group: null,
  axis: 'order',
  frozen: null,
  log: [],
  pending: new Set(),
};

// --- live updates ---------------------------------------------------------------------------------

function connect() {
  const es = new EventSource('api/events');
  es.onopen = () => setConnected(true);
  // EventSource reconnects by itself; the server sends a fresh snapshot each time.
  es.onerror = () => setConnected(false);
  const on = (name, fn) =>
    es.addEventListener(name, (e) => {
      try {
        fn(JSON.parse(e.data));
      } catch (err) {
        console.error(name, err);
      }
      schedule();
    });
  on('snapshot', onSnapshot);
  on('members', onMembers);
  on('status', (st) => onMembers([nodeMember(st)]));
  on('obs', onObserved);
  on('lifecycle', onLifecycle);
}

function setConnected(yes) {
  const el = $('#conn');
  el.dataset.connected = String(yes);
  el.textContent = yes ? 'live' : 'reconnecting…';
}

function nodeMember(st) {
  return {
    name: 'this node',
    endpoint: st.endpoint,
    state: 'running',
    pid: st.pid,
    id: st.node,
    admin: location.origin + '/',
    restarts: 0,
    since: st.startedAt,
    status: st,
  };
}

function onSnapshot(d) {
  S.mode = d.mode;
  S.log = [];
  if (d.mode === 'demo') {
    S.info = d.info;
    S.members = d.members;
    S.msgs = d.recent.filter((e) => e.type === 'send' || e.type === 'deliver');
    S.views = d.views.slice();
    S.lifecycle = d.lifecycle.slice();
    S.group = d.info.group;
    for (const ev of S.lifecycle) logLifecycle(ev);
  } else {
    S.info = { node: d.status.node };
    S.members = [nodeMember(d.status)];
    S.msgs = d.recent.filter((e) => e.type === 'send' || e.type === 'deliver');
    S.views = [];
    for (const [group, records] of Object.entries(d.views)) {
      const g = d.status.groups.find((x) => x.name === group);
      for (const r of records) S.views.push({ type: 'view', group, node: g ? g.localId : d.status.endpoint, at: r.at, view: { id: r.id, members: r.members } });
    }
    S.views.push(...d.recent.filter((e) => e.type === 'blocked' || e.type === 'unblocked'));
    S.views.sort((a, b) => a.at - b.at);
    S.lifecycle = [];
    S.group ??= d.status.groups[0]?.name ?? null;
  }
  for (const v of S.views) logObserved(v);
  sampleRates();
}

function onMembers(list) {
  S.members = list;
  sampleRates();
}

function onObserved(ev) {
  if (ev.type === 'send' || ev.type === 'deliver') {
    S.msgs.push(ev);
    if (S.msgs.length > MAX_MSGS) S.msgs.splice(0, S.msgs.length - MAX_MSGS);
    return;
  }
  S.views.push(ev);
  if (S.views.length > MAX_VIEWS) S.views.splice(0, S.views.length - MAX_VIEWS);
  logObserved(ev);
}

function onLifecycle(ev) {
  S.lifecycle.push(ev);
  if (S.lifecycle.length > 500) S.lifecycle.shift();
  logLifecycle(ev);
}

function sampleRates() {
  const t = Date.now();
  for (const m of S.members) {
    const g = groupOf(m);
    let series = S.rates.get(m.endpoint);
    if (!series) S.rates.set(m.endpoint, (series = []));
    if (series.length > 0 && t - series.at(-1).t < 500) series.pop();
    series.push({ t, sent: g ? g.sentPerSec : 0, delivered: g ? g.deliveredPerSec : 0 });
    while (series.length > 0 && t - series[0].t > 60_000) series.shift();
  }
}

// --- helpers -------------------------------------------------------------------------------------

function groupOf(m) {
  return m.status?.groups?.find((g) => g.name === S.group) ?? null;
}

function nameOf(nodeId) {
  const ep = endpointOf(nodeId);
  return S.members.find((m) => m.endpoint === ep)?.name ?? ep;
}

function groupNames() {
  const names = new Set();
  for (const m of S.members) for (const g of m.status?.groups ?? []) names.add(g.name);
  if (S.group) names.add(S.group);
  return [...names].sort();
}

/** Lanes of the diagrams: every demo member, or the node's view plus anyone seen in messages. */
function lanes() {
  if (S.mode === 'demo') return S.members.map((m) => ({ key: m.endpoint, label: m.name, state: m.state }));
  const keys = [];
  const add = (k) => keys.includes(k) || keys.push(k);
  const g = S.members[0] && groupOf(S.members[0]);
  for (const id of g?.view.members ?? []) add(endpointOf(id));
  for (const e of S.msgs) if (e.group === S.group) add(endpointOf(e.node));
  return keys.map((k) => ({ key: k, label: k === S.members[0]?.endpoint ? `${k} (here)` : k, state: 'running' }));
}

function addLog(at, text) {
  S.log.push({ at, text });
  if (S.log.length > 200) S.log.shift();
}

function logLifecycle(ev) {
  addLog(ev.at, `${ev.member} ${ev.state}${ev.detail ? ` (${ev.detail})` : ''}`);
}

function logObserved(ev) {
  const who = nameOf(ev.node);
  if (ev.type === 'view') addLog(ev.at, `${who} installed view ${ev.view.id} of ${ev.group}: ${ev.view.members.map(nameOf).join(', ')}`);
  else if (ev.type === 'blocked') addLog(ev.at, `${who} blocked in ${ev.group} (${ev.reason})`);
  else if (ev.type === 'unblocked') addLog(ev.at, `${who} unblocked in ${ev.group}`);
  else if (ev.type === 'excluded') addLog(ev.at, `${who} was excluded from ${ev.group}; rejoining as a new member`);
}

function toast(text) {
  const el = $('#toast');
  el.textContent = text;
  el.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => (el.hidden = true), 6000);
}

async function api(method, path, body) {
  const res = await fetch(path, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await res.json().catch(() => null);
  if (!res.ok) throw new Error(data?.error?.message ?? `HTTP ${res.status}`);
  return { data, member: res.headers.get('x-horus-member') };
}

// --- rendering -----------------------------------------------------------------------------------

let scheduled = false;
let lastRender = 0;
function schedule() {
  if (scheduled) return;
  scheduled = true;
  // At most ~6 renders a second, whatever the event rate.
  const wait = Math.max(0, 160 - (performance.now() - lastRender));
  setTimeout(() => requestAnimationFrame(render), wait);
}

function render() {
  scheduled = false;
  lastRender = performance.now();
  renderHeader();
  renderMembers();
  renderDiagram();
  renderTimeline();
  renderRates();
  renderKv();
  renderLog();
}

function renderHeader() {
  const mode = $('#mode');
  if (S.mode === 'demo') mode.textContent = `demo · group ${S.info.group} · ${S.info.membership} membership`;
  else if (S.mode === 'node') mode.textContent = `node ${S.info.node}`;
  const links = $('#links');
  const html =
    S.mode === 'demo'
      ? 'metrics: ' + S.members.map((m) => `<a href="metrics?member=${encodeURIComponent(m.name)}" target="_blank">${esc(m.name)}</a>`).join(' ')
      : '<a href="metrics" target="_blank">metrics</a>';
  if (links.innerHTML !== html) links.innerHTML = html;
  const names = groupNames();
  const picker = $('#group-picker');
  picker.hidden = names.length < 2;
  const sel = $('#group-select');
  const opts = names.map((n) => `<option${n === S.group ? ' selected' : ''}>${esc(n)}</option>`).join('');
  if (sel.dataset.opts !== opts) {
    sel.innerHTML = opts;
    sel.dataset.opts = opts;
  }
}

const ACTIONS = [
  { action: 'kill', label: 'Kill', title: 'kill -9 the process', ok: (s) => s === 'running' || s === 'paused', danger: true },
  { action: 'pause', label: 'Pause', title: 'SIGSTOP: the process freezes, its sockets stay open', ok: (s) => s === 'running' },
  { action: 'resume', label: 'Resume', title: 'SIGCONT', ok: (s) => s === 'paused' },
  { action: 'restart', label: 'Restart', title: 'start a new incarnation on the same endpoint', ok: (s) => s !== 'starting' },
];

function renderMembers() {
  const box = $('#members');
  const keep = new Set();
  for (const m of S.members) {
    keep.add(m.name);
    let card = box.querySelector(`.member[data-member="${CSS.escape(m.name)}"]`);
    if (!card) card = createCard(m, box);
    updateCard(card, m);
  }
  for (const card of box.querySelectorAll('.member')) if (!keep.has(card.dataset.member)) card.remove();
  let add = box.querySelector('.add-member');
  if (S.mode === 'demo') {
    if (!add) {
      add = document.createElement('div');
      add.className = 'add-member';
      add.innerHTML = '<button type="button" data-action="add">+ Add member</button>';
      add.querySelector('button').addEventListener('click', () => act(null, 'add'));
    }
    box.append(add); // keep it last
    const b = add.querySelector('button');
    b.disabled = !S.info.canAdd || S.pending.has('add');
    b.title = S.info.canAdd ? 'start a new member that joins the group' : 'adding members needs dynamic membership (GMS); this demo runs a fixed member list';
  } else if (add) add.remove();
  const running = S.members.filter((m) => m.state === 'running').length;
  $('#members-summary').textContent = S.mode === 'demo' ? `${running} of ${S.members.length} running` : '';
}

function createCard(m, box) {
  const card = document.createElement('article');
  card.className = 'member';
  card.dataset.member = m.name;
  card.innerHTML = `
    <div class="title"><span class="name">${esc(m.name)}</span><span class="badge state"></span><span class="badge blocked" hidden>blocked</span></div>
    <div class="small endpoint"></div>
    <div class="view"></div>
    <div class="small rates"></div>
    <div class="small kv"></div>
    <div class="actions"></div>`;
  if (S.mode === 'demo') {
    const actions = card.querySelector('.actions');
    for (const a of ACTIONS) {
      const b = document.createElement('button');
      b.type = 'button';
      b.textContent = a.label;
      b.title = a.title;
      b.dataset.action = a.action;
      b.dataset.member = m.name;
      if (a.danger) b.className = 'danger';
      b.addEventListener('click', () => act(m.name, a.action));
      actions.append(b);
    }
  }
  box.append(card);
  return card;
}

function updateCard(card, m) {
  card.dataset.state = m.state;
  card.dataset.endpoint = m.endpoint;
  const badge = card.querySelector('.badge.state');
  badge.dataset.state = m.state;
  badge.textContent = m.state;
  const g = groupOf(m);
  const blocked = card.querySelector('.badge.blocked');
  blocked.hidden = !g?.blocked;
  blocked.title = g?.blockedReasons?.join(', ') ?? '';
  card.querySelector('.endpoint').textContent = `${m.endpoint}${m.pid ? ` · pid ${m.pid}` : ''}${m.restarts ? ` · restarts ${m.restarts}` : ''}`;
  card.querySelector('.endpoint').title = m.id ?? m.endpoint;
  const view = card.querySelector('.view');
  if (g && m.state !== 'killed' && m.state !== 'exited' && m.state !== 'failed') {
    view.dataset.viewId = String(g.view.id);
    view.dataset.viewSize = String(g.view.members.length);
    view.textContent = `view ${g.view.id} · ${g.view.members.length} members${m.state === 'paused' ? ' (frozen)' : ''}`;
    view.title = g.view.members.join('\n');
  } else {
    delete view.dataset.viewId;
    delete view.dataset.viewSize;
    view.textContent = m.state === 'starting' ? 'starting…' : 'down';
    view.title = '';
  }
  card.querySelector('.rates').textContent = g ? `sent ${fmtRate(g.sentPerSec)}/s · delivered ${fmtRate(g.deliveredPerSec)}/s` : '';
  const kv = m.status?.kv;
  const kvEl = card.querySelector('.kv');
  kvEl.textContent = kv ? `kv: ${kv.size} keys · ${kv.digest}` : '';
  if (kv) kvEl.dataset.digest = kv.digest;
  else delete kvEl.dataset.digest;
  for (const b of card.querySelectorAll('.actions button')) {
    const a = ACTIONS.find((x) => x.action === b.dataset.action);
    b.disabled = S.pending.has(m.name) || !a.ok(m.state);
  }
}

async function act(name, action) {
  const key = name ?? 'add';
  S.pending.add(key);
  schedule();
  try {
    if (action === 'add') await api('POST', 'api/demo/members', {});
    else await api('POST', `api/demo/members/${encodeURIComponent(name)}/${action}`, {});
  } catch (err) {
    toast(`${name ?? 'add'}: ${action} failed: ${err.message}`);
  } finally {
    S.pending.delete(key);
    schedule();
  }
}

// --- space-time diagram ----------------------------------------------------------------------------

/** Room for the lane labels on the left of a diagram. */
function labelWidth(ls) {
  return Math.min(230, Math.max(70, 7 * Math.max(0, ...ls.map((l) => l.label.length)) + 18));
}

function svgSize(svg, height) {
  const width = Math.max(320, Math.round(svg.getBoundingClientRect().width || 900));
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  svg.style.height = `${height}px`;
  return width;
}

const MARKERS = `<defs>${ORDERS.map(
  (o) =>
    `<marker id="ah-${o}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0 0 10 5 0 10z" class="${o}"/></marker>`,
).join('')}</defs>`;

function renderDiagram() {
  const svg = $('#diagram');
  const ls = lanes();
  const laneH = 44;
  const top = 22;
  const height = top + Math.max(1, ls.length) * laneH;
  const width = svgSize(svg, height);
  const left = labelWidth(ls) + 10;
  const right = 14;
  const span = width - left - right;
  const y = new Map(ls.map((l, i) => [l.key, top + i * laneH + laneH / 2]));
  const src = S.frozen ?? { msgs: S.msgs, views: S.views, at: Date.now() };
  let msgs = src.msgs.filter((e) => e.group === S.group);
  let views = src.views.filter((e) => e.group === S.group && e.type === 'view');
  let xOf;
  if (S.axis === 'time') {
    const t0 = src.at - 5000;
    msgs = msgs.filter((e) => e.at >= t0);
    views = views.filter((e) => e.at >= t0);
    xOf = (e) => left + ((e.at - t0) / 5000) * span;
  } else {
    // Lamport's picture: events in the order they happened, evenly spaced, so that a delivery
    // order is visible even when the network takes a fraction of a millisecond.
    const n = Math.max(16, Math.floor(span / 10));
    const all = [...msgs, ...views].sort((a, b) => a.at - b.at).slice(-n);
    const idx = new Map(all.map((e, i) => [e, i]));
    msgs = all.filter((e) => e.type === 'send' || e.type === 'deliver');
    views = all.filter((e) => e.type === 'view');
    const step = span / n;
    xOf = (e) => left + (idx.get(e) + 0.5) * step;
  }
  const parts = [MARKERS];
  ls.forEach((l) => {
    const ly = y.get(l.key);
    const down = l.state !== 'running';
    parts.push(`<line class="lane${down ? ' down' : ''}" x1="${left}" x2="${width - right}" y1="${ly}" y2="${ly}"/>`);
    parts.push(`<text class="lanelabel" x="8" y="${ly - 2}">${esc(l.label)}</text>`);
    if (S.mode === 'demo') parts.push(`<text x="8" y="${ly + 12}">${esc(l.state)}</text>`);
  });
  const sends = new Map();
  for (const e of msgs) if (e.type === 'send') sends.set(e.msg, e);
  for (const e of msgs) {
    if (e.type !== 'deliver') continue;
    const s = sends.get(e.msg);
    const to = y.get(endpointOf(e.node));
    if (!s || to === undefined || endpointOf(s.node) === endpointOf(e.node)) continue;
    const from = y.get(endpointOf(s.node));
    if (from === undefined) continue;
    const lat = (e.at - s.at).toFixed(1);
    parts.push(
      `<line class="arrow ${e.order}" x1="${xOf(s).toFixed(1)}" y1="${from}" x2="${xOf(e).toFixed(1)}" y2="${to}" marker-end="url(#ah-${e.order})"><title>${esc(e.msg)} (${e.order}) ${esc(nameOf(s.node))} → ${esc(nameOf(e.node))}, ${lat} ms</title></line>`,
    );
  }
  for (const e of msgs) {
    const ly = y.get(endpointOf(e.node));
    if (ly === undefined) continue;
    const x = xOf(e).toFixed(1);
    if (e.type === 'send') parts.push(`<circle class="${e.order}" cx="${x}" cy="${ly}" r="3.5"><title>send ${esc(e.msg)} (${e.order})</title></circle>`);
    else parts.push(`<circle class="deliver ${e.order}" cx="${x}" cy="${ly}" r="2.8"><title>deliver ${esc(e.msg)} at ${esc(nameOf(e.node))}</title></circle>`);
  }
  for (const v of views) {
    const ly = y.get(endpointOf(v.node));
    if (ly === undefined) continue;
    const x = xOf(v).toFixed(1);
    parts.push(
      `<line class="viewmark" x1="${x}" x2="${x}" y1="${ly - 13}" y2="${ly + 13}"><title>view ${v.view.id}: ${esc(v.view.members.map(nameOf).join(', '))}</title></line>`,
    );
    parts.push(`<text class="viewlabel" x="${x}" y="${ly - 15}" text-anchor="middle">v${v.view.id}</text>`);
  }
  if (msgs.length === 0) parts.push(`<text x="${left + 8}" y="${top - 6}">no messages ${S.axis === 'time' ? 'in the last 5 s' : 'yet'}</text>`);
  svg.innerHTML = parts.join('');
}

// --- view timeline ------------------------------------------------------------------------------------

const STATE_FILL = { running: '#cfe9d9', starting: '#d4e3f8', paused: '#f6e3b0', killed: '#f3d0cc', failed: '#f3d0cc', exited: '#e3e6ea' };

function renderTimeline() {
  const svg = $('#timeline');
  const ls = lanes();
  const laneH = 34;
  const top = 16;
  const height = top + Math.max(1, ls.length) * laneH + 18;
  const width = svgSize(svg, height);
  const left = labelWidth(ls);
  const right = 30;
  const now = Date.now();
  const earliest = Math.min(now - 30_000, ...S.views.map((v) => v.at), ...S.lifecycle.map((l) => l.at));
  const t0 = Math.max(earliest, now - 5 * 60_000);
  const xOf = (t) => left + ((Math.max(t, t0) - t0) / (now - t0)) * (width - left - right);
  const parts = [];
  ls.forEach((l, i) => {
    const ly = top + i * laneH;
    parts.push(`<text class="lanelabel" x="8" y="${ly + 15}">${esc(l.label)}</text>`);
    // Process states (demo), else one running band since the first view.
    const states = S.lifecycle.filter((e) => e.endpoint === l.key);
    const segs = [];
    if (states.length > 0) states.forEach((s, k) => segs.push({ from: s.at, to: states[k + 1]?.at ?? now, state: s.state }));
    else segs.push({ from: t0, to: now, state: l.state });
    for (const s of segs) {
      if (s.to < t0) continue;
      const x1 = xOf(s.from);
      const x2 = Math.max(x1 + 1, xOf(s.to));
      parts.push(
        `<rect x="${x1.toFixed(1)}" y="${ly + 4}" width="${(x2 - x1).toFixed(1)}" height="16" rx="3" fill="${STATE_FILL[s.state] ?? '#eee'}"><title>${esc(l.label)} ${s.state} from ${clock(s.from)}</title></rect>`,
      );
    }
    const installs = S.views.filter((v) => v.type === 'view' && v.group === S.group && endpointOf(v.node) === l.key && v.at >= t0);
    installs.forEach((v, k) => {
      const x = xOf(v.at);
      const title = `<title>view ${v.view.id} at ${clock(v.at)}: ${esc(v.view.members.map(nameOf).join(', '))}</title>`;
      parts.push(`<line class="viewmark" x1="${x.toFixed(1)}" x2="${x.toFixed(1)}" y1="${ly + 1}" y2="${ly + 23}">${title}</line>`);
      // Views in quick succession: label only the last of a cluster, so labels stay readable.
      const next = installs[k + 1];
      if (next && xOf(next.at) - x < 34) return;
      parts.push(`<text class="viewlabel" x="${(x + 3).toFixed(1)}" y="${ly + 16}">v${v.view.id}·${v.view.members.length}${title}</text>`);
    });
  });
  const axisY = top + ls.length * laneH + 12;
  for (let k = 0; k <= 4; k++) {
    const t = t0 + ((now - t0) * k) / 4;
    parts.push(`<text x="${xOf(t).toFixed(1)}" y="${axisY}" text-anchor="middle">${k === 4 ? 'now' : clock(t)}</text>`);
  }
  svg.innerHTML = parts.join('');
}

// --- rates -----------------------------------------------------------------------------------------

function renderRates() {
  const box = $('#rates');
  let max = 1;
  for (const s of S.rates.values()) for (const p of s) max = Math.max(max, p.sent, p.delivered);
  const now = Date.now();
  const rows = S.members.map((m) => {
    const series = S.rates.get(m.endpoint) ?? [];
    const pts = (k) => series.map((p) => `${(((p.t - (now - 60_000)) / 60_000) * 300).toFixed(1)},${(32 - (p[k] / max) * 30).toFixed(1)}`).join(' ');
    const last = series.at(-1);
    return `<div class="rate-row" data-member="${esc(m.name)}"><span>${esc(m.name)}</span><svg viewBox="0 0 300 34" preserveAspectRatio="none"><polyline class="sent" points="${pts('sent')}"/><polyline class="delivered" points="${pts('delivered')}"/></svg><span><span class="key fifo">${fmtRate(last?.sent)}</span> <span class="key causal">${fmtRate(last?.delivered)}</span></span></div>`;
  });
  const html = `<div class="muted" style="font-size:12px"><span class="key fifo">sent/s</span> &nbsp; <span class="key causal">delivered/s</span> &nbsp; scale 0–${fmtRate(max)}</div>${rows.join('')}`;
  box.innerHTML = html;
}

// --- key-value ------------------------------------------------------------------------------------------

function renderKv() {
  const section = $('#kv-section');
  const holders = S.members.filter((m) => m.status?.kv || S.mode === 'demo');
  section.hidden = !S.members.some((m) => m.status?.kv) && S.mode !== 'demo';
  if (section.hidden) return;
  const keys = new Set();
  for (const m of holders) for (const [k] of m.status?.kv?.entries ?? []) keys.add(k);
  const sorted = [...keys].sort().slice(0, 50);
  const head = `<tr><th>key</th>${holders.map((m) => `<th>${esc(m.name)}</th>`).join('')}</tr>`;
  const rows = sorted.map((k) => {
    const vals = holders.map((m) => (m.status?.kv ? (new Map(m.status.kv.entries).get(k) ?? null) : undefined));
    const counts = new Map();
    for (const v of vals) if (typeof v === 'string') counts.set(v, (counts.get(v) ?? 0) + 1);
    const common = [...counts.entries()].sort((a, b) => b[1] - a[1])[0]?.[0];
    return `<tr><td>${esc(k)}</td>${vals
      .map((v, i) => {
        const attrs = `data-member="${esc(holders[i].name)}" data-key="${esc(k)}"`;
        if (v === undefined) return `<td class="missing" ${attrs}>down</td>`;
        if (v === null) return `<td class="missing differs" ${attrs}>—</td>`;
        return `<td ${attrs}${v !== common ? ' class="differs"' : ''}>${esc(v)}</td>`;
      })
      .join('')}</tr>`;
  });
  const digests = `<tr class="digest"><td>digest</td>${holders.map((m) => `<td>${m.status?.kv ? `${m.status.kv.size} · ${esc(m.status.kv.digest)}` : 'down'}</td>`).join('')}</tr>`;
  const html = head + rows.join('') + digests;
  const table = $('#kv-table');
  if (table.dataset.html !== html) {
    table.innerHTML = html;
    table.dataset.html = html;
  }
}

async function kvSubmit(op) {
  const key = $('#kv-key').value.trim();
  const value = $('#kv-value').value;
  const out = $('#kv-result');
  if (!key) {
    out.textContent = 'a key is needed';
    return;
  }
  const path = `kv/${encodeURIComponent(key)}`;
  try {
    let r;
    if (op === 'put') r = await api('PUT', path, { value });
    else if (op === 'del') r = await api('DELETE', path);
    else r = await api('GET', path);
    out.textContent = op === 'get' ? `${key} = ${r.data.value} (from ${r.member})` : `${op} ${key}: ok (via ${r.member})`;
    out.dataset.result = 'ok';
  } catch (err) {
    out.textContent = `${op} ${key}: ${err.message}`;
    out.dataset.result = 'error';
  }
}

// --- log -------------------------------------------------------------------------------------------

function renderLog() {
  const html = S.log
    .slice()
    .sort((a, b) => a.at - b.at)
    .slice(-80)
    .reverse()
    .map((l) => `<li><time>${clock(l.at)}</time>${esc(l.text)}</li>`)
    .join('');
  const el = $('#log');
  if (el.dataset.html !== html) {
    el.innerHTML = html;
    el.dataset.html = html;
  }
}

// --- services ------------------------------------------------------------------------------------
// Each service on the node (News, jobs, monitor...) registers a status function; GET api/services
// lists them. Every service is drawn as a table of its status; jobs also get a view of their own.

const SERVICES_POLL_MS = 2000;
const cell = (v) => {
  const text = typeof v === 'string' ? v : JSON.stringify(v);
  return esc(text.length > 300 ? `${text.slice(0, 300)}…` : text);
};

function genericService(status) {
  const rows = Object.entries(status ?? {})
    .map(([k, v]) => `<tr><th>${esc(k)}</th><td>${cell(v)}</td></tr>`)
    .join('');
  return `<table class="svc-table">${rows}</table>`;
}

function jobsService(st) {
  const jobs = Array.isArray(st.jobs) ? st.jobs : [];
  const nodes = Array.isArray(st.nodes) ? st.nodes : [];
  const sum = st.summary ?? {};
  const head = `<p class="muted">${['running', 'pending', 'done', 'failed', 'cancelled'].map((k) => `${esc(k)} ${Number(sum[k] ?? 0)}`).join(' · ')}
    · ${nodes.length} node(s) offering: ${nodes
      .map((n) => `${esc(endpointOf(n.member))} [${esc((n.labels ?? []).join(','))}] ${Number(n.cpus)} cpu ${Number(n.memoryMb)} MB`)
      .join('; ')}</p>`;
  const rows = jobs
    .map(
      (j) => `<tr class="job" data-state="${esc(j.state)}" data-job="${esc(j.id)}">
        <td>${esc(j.id)}</td><td title="${esc(j.run)}">${esc(j.name)}</td>
        <td><span class="job-state">${esc(j.state)}</span></td>
        <td>${j.node ? esc(endpointOf(j.node)) : ''}</td>
        <td>${j.token ? `${Number(j.token.viewId)}.${Number(j.token.placement)}` : ''}</td>
        <td>${Number(j.restarts)}</td><td>${Number(j.failures)} / ${Number(j.giveUp?.maxFailures)} in ${Number(j.giveUp?.windowMs) / 1000} s</td>
        <td class="muted">${esc(j.reason ?? '')}</td></tr>`,
    )
    .join('');
  return `${head}<table class="svc-table jobs-table"><thead><tr><th>job</th><th>name</th><th>state</th><th>runs on</th><th>token</th><th>restarts</th><th>failures</th><th>why</th></tr></thead><tbody>${rows}</tbody></table>`;
}

function monitorService(st) {
  const rules = (Array.isArray(st.rules) ? st.rules : [])
    .map(
      (r) =>
        `<tr class="rule" data-state="${esc(r.state)}"><td><span class="job-state">${esc(r.state)}</span></td><td>${Number(r.episodes)}</td><td>${esc(r.rule)}</td></tr>`,
    )
    .join('');
  const firings = (Array.isArray(st.firings) ? st.firings : [])
    .slice()
    .reverse()
    .map(
      (
        f,
      ) => `<tr class="firing" data-ok="${f.outcome ? String(f.outcome.ok) : 'running'}"><td>${f.at ? clock(f.at) : ''}</td><td>${esc(f.rule)}</td><td>${Number(f.episode)}</td>
        <td>${f.executor ? esc(endpointOf(f.executor)) : ''}</td><td>${Number(f.attempt)}</td><td>${f.outcome ? `${f.outcome.ok ? 'ok' : 'failed'}: ${esc(f.outcome.detail)}` : 'running'}</td></tr>`,
    )
    .join('');
  return `<table class="svc-table"><thead><tr><th>state</th><th>episodes</th><th>rule</th></tr></thead><tbody>${rules}</tbody></table>
    <table class="svc-table"><thead><tr><th>fired</th><th>rule</th><th>episode</th><th>run by</th><th>attempt</th><th>outcome</th></tr></thead><tbody>${firings}</tbody></table>`;
}

function renderServices(list) {
  const section = $('#services-section');
  section.hidden = list.length === 0;
  const html = list
    .map((svc) => {
      const body =
        svc.kind === 'jobs' && svc.status && Array.isArray(svc.status.jobs)
          ? jobsService(svc.status)
          : svc.kind === 'monitor' && svc.status && Array.isArray(svc.status.rules)
            ? monitorService(svc.status)
            : genericService(svc.status);
      return `<div class="service" data-kind="${esc(svc.kind)}"><h3>${esc(svc.kind)} <span class="muted">group ${esc(svc.group)}</span></h3>${body}</div>`;
    })
    .join('');
  const el = $('#services');
  if (el.dataset.html !== html) {
    el.innerHTML = html;
    el.dataset.html = html;
  }
}

async function pollServices() {
  try {
    const { data } = await api('GET', 'api/services');
    renderServices(Array.isArray(data) ? data : []);
  } catch {
    // No services endpoint here (the demo controller), or the node is away: hide the panel.
    renderServices([]);
  }
  setTimeout(pollServices, SERVICES_POLL_MS);
}

// --- wiring ----------------------------------------------------------------------------------------

$('#group-select').addEventListener('change', (e) => {
  S.group = e.target.value;
  S.rates.clear();
  schedule();
});
for (const r of document.querySelectorAll('input[name="axis"]')) {
  r.addEventListener('change', (e) => {
    S.axis = e.target.value;
    schedule();
  });
}
$('#freeze').addEventListener('click', (e) => {
  S.frozen = S.frozen ? null : { msgs: S.msgs.slice(), views: S.views.slice(), at: Date.now() };
  e.target.textContent = S.frozen ? 'Resume' : 'Pause';
  schedule();
});
$('#kv-form').addEventListener('submit', (e) => {
  e.preventDefault();
  kvSubmit('put');
});
for (const b of document.querySelectorAll('#kv-form button[type="button"]')) b.addEventListener('click', () => kvSubmit(b.dataset.op));
window.addEventListener('resize', schedule);
// Time moves on even when nothing arrives (timeline, real-time axis).
setInterval(schedule, 1000);
connect();
void pollServices();
