// mcpgw's dashboard: reads the admin API with the admin token (kept in this tab's
// sessionStorage, sent as a bearer header, never as a cookie) and renders with textContent
// only: nothing a server or a client named is ever parsed as HTML.
'use strict';

const TOKEN_KEY = 'mcpgw-admin-token';
const REFRESH_MS = 2000;
const $ = (id) => document.getElementById(id);
let token = sessionStorage.getItem(TOKEN_KEY) || '';
let timer = null;
const shown = new Map();  // section id → the data it shows, to redraw only what changed

async function api(path, body) {
  const init = { cache: 'no-store', headers: { Authorization: `Bearer ${token}` } };
  if (body !== undefined) {
    init.method = 'POST';
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  try {
    const res = await fetch(path, init);
    let data = null;
    try { data = await res.json(); } catch { data = null; }
    return { status: res.status, ok: res.ok, data, error: data?.error || `HTTP ${res.status}` };
  } catch (e) {
    return { status: 0, ok: false, data: null, error: `the gateway cannot be reached (${e.message})` };
  }
}

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'onclick') e.addEventListener('click', v);
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : String(c ?? ''));
  return e;
}

/** A cell: a string, a Node, or { text, class, num }. */
function cell(c) {
  if (c instanceof Node) return el('td', {}, c);
  if (c && typeof c === 'object') return el('td', { class: [c.class, c.num ? 'num' : ''].filter(Boolean).join(' ') || undefined }, c.text ?? '');
  return el('td', {}, c ?? '');
}

function table(headers, rows) {
  return el('table', {},
    el('thead', {}, el('tr', {}, ...headers.map((h) => el('th', {}, h)))),
    el('tbody', {}, ...rows.map((r) => el('tr', r.attrs || {}, ...r.cells.map(cell)))));
}

// Local time as "2026-12-02 10:50:28" (Sweden's locale writes ISO dates).
const clock = (ms) => (ms ? new Date(ms).toLocaleString('sv-SE') : '');
const secs = (s) => clock(s * 1000);
const list = (a) => (a && a.length ? a.join(', ') : 'all');
const idle = (ms) => (ms < 1000 ? 'now' : ms < 60000 ? `${Math.round(ms / 1000)} s` : `${Math.round(ms / 60000)} min`);

/** Redraws section `id` when its data changed; `render` returns its content. */
function show(id, data, render) {
  const key = JSON.stringify(data);
  if (shown.get(id) === key) return;
  shown.set(id, key);
  const body = $(id).querySelector('.body');
  body.replaceChildren(render());
}

const off = (res) => el('p', { class: res.status === 404 ? 'muted' : 'error' }, res.error);
const none = (text) => el('p', { class: 'muted' }, text);

function notice(text, bad) {
  const n = $('notice');
  n.textContent = text;
  n.className = bad ? 'error' : '';
}

async function act(button, path, body, done) {
  button.disabled = true;
  const res = await api(path, body);
  notice(res.ok ? done : `${done.split(' ')[0]} failed: ${res.error}`, !res.ok);
  await refresh();
}

function renderApprovals(res) {
  if (!res.ok) return off(res);
  const held = res.data.approvals;
  if (!held.length) return none('No call waits for approval.');
  return table(['Held since', 'Call', 'Principal', 'Scope', 'Why', 'Arguments', ''], held.map((a) => ({
    attrs: { 'data-approval': a.id },
    cells: [clock(a.created), a.target, a.principal, a.scope, a.reason, el('pre', {}, a.arguments),
      el('span', {},
        el('button', { type: 'button', class: 'approve', onclick: (e) => act(e.target, `/admin/approvals/${encodeURIComponent(a.id)}`, { decision: 'approve' }, `Approved ${a.target} (${a.id})`) }, 'Approve'),
        ' ',
        el('button', { type: 'button', class: 'deny', onclick: (e) => act(e.target, `/admin/approvals/${encodeURIComponent(a.id)}`, { decision: 'deny' }, `Denied ${a.target} (${a.id})`) }, 'Deny'))],
  })));
}

function renderServers(res) {
  if (!res.ok) return off(res);
  const rows = Object.entries(res.data.servers).map(([name, s]) => ({
    attrs: { 'data-server': name },
    cells: [name, s.transport, { text: s.state, class: `state-${s.state}` },
      { text: s.restarts ?? '', num: true }, { text: s.inFlight ?? '', num: true },
      { text: s.tools ?? '', num: true }, s.reason || ''],
  }));
  if (!rows.length) return none('No server is configured.');
  return table(['Server', 'Transport', 'State', 'Restarts', 'In flight', 'Tools', 'Reason'], rows);
}

function renderTools(servers, pins) {
  if (!servers.ok) return off(servers);
  const byKey = new Map();
  for (const [server, s] of Object.entries(servers.data.servers)) {
    for (const tool of s.toolNames || []) byKey.set(`${server}/${tool}`, { server, tool });
  }
  const pinning = pins.ok;
  for (const p of pinning ? pins.data.tools : []) byKey.set(`${p.server}/${p.tool}`, { server: p.server, tool: p.tool, pin: p });
  if (!byKey.size) return none('No tool is known yet.');
  const rows = [...byKey.keys()].sort().map((k) => {
    const { server, tool, pin } = byKey.get(k);
    const status = pin ? pin.status : pinning ? 'unpinned' : 'pinning off';
    const action = pin && pin.status === 'quarantined'
      ? el('button', { type: 'button', class: 'approve-tool', onclick: (e) => act(e.target, '/admin/tools/approve', { server, tool }, `Approved ${server}/${tool}: its new definition is pinned`) }, 'Approve')
      : '';
    return { attrs: { 'data-tool': k }, cells: [server, tool, { text: status, class: `status-${status.split(' ')[0]}` }, pin?.reason || '', action] };
  });
  const table_ = table(['Server', 'Tool', 'Pin', 'Why', ''], rows);
  return pinning ? table_ : el('div', {}, off(pins), table_);
}

function renderSessions(res) {
  if (!res.ok) return off(res);
  const s = res.data.sessions;
  if (!s.length) return none('No session is open.');
  return table(['Session', 'Principal', 'Transport', 'Revision', 'Client', 'Servers', 'Taint', 'In flight', 'Idle', 'Opened'],
    s.map((x) => ({
      attrs: { 'data-session': x.id },
      cells: [{ text: `${x.id.slice(0, 8)}…` }, x.principal, x.transport, x.protocolVersion, x.client,
        x.servers.join(', '), x.taint ?? '', { text: x.inFlight, num: true }, idle(x.idleMs), clock(x.openedMs)],
    })));
}

function renderKeys(res) {
  if (!res.ok) return off(res);
  const k = res.data.keys;
  if (!k.length) return none('No API key yet: mcpgw keys create --name NAME');
  return table(['Name', 'Prefix', 'Status', 'Servers', 'Tools', 'Denied tools', 'Rate', 'Expires', 'Created'],
    k.map((x) => ({
      attrs: { 'data-key': x.name },
      cells: [x.name, x.prefix, { text: x.status, class: `status-${x.status}` }, list(x.servers), list(x.tools),
        x.denyTools.join(', '), x.ratePerMin ? `${x.ratePerMin}/min` : '', secs(x.expires), secs(x.created)],
    })));
}

function renderAudit(res) {
  if (!res.ok) return off(res);
  const rows = [...res.data.rows].reverse();
  if (!rows.length) return none('Nothing audited yet.');
  return table(['Time', 'Principal', 'Method', 'Server', 'Target', 'Outcome', 'Latency', 'Detail'],
    rows.map((r) => ({
      cells: [clock(r.ts_ms), r.principal, r.method, r.server, r.target,
        { text: r.outcome, class: `outcome-${r.outcome}` }, { text: `${(r.latency_us / 1000).toFixed(1)} ms`, num: true }, r.detail],
    })));
}

async function refresh() {
  clearTimeout(timer);
  const [servers, sessions, approvals, pins, keys, audit] = await Promise.all(
    ['/admin/servers', '/admin/sessions', '/admin/approvals', '/admin/tools', '/admin/keys', '/admin/audit?limit=50'].map((p) => api(p)));
  if ([servers, sessions, approvals, pins, keys, audit].some((r) => r.status === 401 || r.status === 403)) {
    signOut((servers.status === 401 ? 'The admin token was refused.' : servers.error));
    return;
  }
  if (servers.ok) {
    const d = servers.data;
    $('summary').textContent = `${d.version} · ${d.status} · ${d.sessions} session(s)`;
  }
  show('approvals', approvals, () => renderApprovals(approvals));
  show('servers', servers, () => renderServers(servers));
  const toolNames = Object.entries(servers.data?.servers || {}).map(([n, s]) => [n, s.toolNames]);
  show('tools', [servers.status, toolNames, pins], () => renderTools(servers, pins));
  show('sessions', sessions, () => renderSessions(sessions));
  show('keys', keys, () => renderKeys(keys));
  show('audit', audit, () => renderAudit(audit));
  $('refreshed').textContent = `updated ${new Date().toLocaleTimeString()}`;
  timer = setTimeout(refresh, REFRESH_MS);
}

function signOut(reason) {
  clearTimeout(timer);
  token = '';
  sessionStorage.removeItem(TOKEN_KEY);
  shown.clear();
  $('dashboard').hidden = true;
  $('signout').hidden = true;
  $('signin').hidden = false;
  $('signin-error').textContent = reason || '';
  $('summary').textContent = '';
  $('refreshed').textContent = '';
}

function signedIn() {
  $('signin').hidden = true;
  $('dashboard').hidden = false;
  $('signout').hidden = false;
  refresh();
}

$('signin').addEventListener('submit', async (e) => {
  e.preventDefault();
  token = $('token').value.trim();
  const res = await api('/admin/servers');
  if (!res.ok) {
    $('token').value = '';
    signOut(res.status === 401 ? 'That is not the admin token.' : res.error);
    return;
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  $('token').value = '';
  signedIn();
});
$('signout').addEventListener('click', () => signOut(''));

if (token) signedIn(); else signOut('');
