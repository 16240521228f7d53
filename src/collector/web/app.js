// picket's operator page: plain DOM + fetch + EventSource, charts by Chart.js (/ui/chart.js).
// Every value from the API is hostile (device ids, banners, log lines, errors): it reaches the
// page only as text nodes (textContent) or as encoded URL parts, never as markup.
'use strict';

(() => {
  // ---- state shared by the pages ---------------------------------------------------------------
  const state = {
    who: null,          // /v1/whoami: {role, csrf, actions}
    gen: 0,             // bumped on every route change: pollers of an old page stop
    cleanups: [],       // closes EventSources, destroys charts of the current page
    fleetView: { text: '', status: '', driftOnly: false, sort: 'status', desc: false },
    afterLogin: '#/fleet',
  };
  // Figures the browser tests read (first fleet render with rows, in ms since navigation start).
  window.picketTiming = {};

  const main = document.getElementById('main');
  const errorBox = document.getElementById('error');
  const REFRESH_FLEET_MS = 2000;
  const REFRESH_SCANS_MS = 2000;
  const REFRESH_RESULTS_MS = 5000;
  const REFRESH_ISSUES_MS = 5000;
  const REFRESH_DEVICE_MS = 2000;
  const REFRESH_SERIES_MS = 10000;
  const LOG_TAIL_LINES = 500;
  const RESULTS_PAGE = 10000;       // the API's largest page
  const RESULTS_MAX = 100000;       // rows the page holds at most
  const SESSIONS_MAX = 100000;      // the API's largest limit

  // ---- DOM helpers -----------------------------------------------------------------------------
  // el('td', {className: 'num'}, 'text', child, ...): strings become text nodes, never markup.
  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    if (props) {
      for (const [k, v] of Object.entries(props)) {
        if (v === undefined || v === null || v === false) continue;
        if (k === 'on') {
          for (const [ev, fn] of Object.entries(v)) node.addEventListener(ev, fn);
        } else if (k === 'dataset') {
          Object.assign(node.dataset, v);
        } else if (k in node && typeof node[k] !== 'function' && !k.startsWith('aria')) {
          node[k] = v;
        } else {
          node.setAttribute(k, v === true ? '' : String(v));
        }
      }
    }
    append(node, children);
    return node;
  }
  function append(node, children) {
    for (const c of children) {
      if (c === undefined || c === null || c === false) continue;
      if (Array.isArray(c)) append(node, c);
      else node.append(c instanceof Node ? c : String(c));
    }
    return node;
  }
  function replace(node, ...children) {
    node.replaceChildren();
    return append(node, children);
  }
  const enc = encodeURIComponent;
  function deviceLink(id) {
    if (typeof id !== 'string' || id === '') return '–';
    return el('a', { href: '#/device/' + enc(id), className: 'device' }, id);
  }

  // ---- formatting (null/undefined: unknown) ----------------------------------------------------
  const UNKNOWN = '–';
  const known = v => v !== null && v !== undefined && !(typeof v === 'number' && !Number.isFinite(v));
  const numberFmt = new Intl.NumberFormat('en-US', { maximumFractionDigits: 1 });
  function fmtNum(v) { return known(v) && typeof v === 'number' ? numberFmt.format(v) : UNKNOWN; }
  function fmtBytes(v) {
    if (!known(v) || typeof v !== 'number') return UNKNOWN;
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
    let i = 0;
    let n = v;
    while (Math.abs(n) >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i === 0 ? String(Math.round(n)) : n.toFixed(1)) + ' ' + units[i];
  }
  // Bits per second, SI prefixes (the API's bps and upload_bps are bits/s).
  function fmtBits(v) {
    if (!known(v) || typeof v !== 'number') return UNKNOWN;
    const units = ['bit/s', 'kbit/s', 'Mbit/s', 'Gbit/s', 'Tbit/s'];
    let i = 0;
    let n = v;
    while (Math.abs(n) >= 1000 && i < units.length - 1) { n /= 1000; i++; }
    return (i === 0 ? String(Math.round(n)) : n.toFixed(1)) + ' ' + units[i];
  }
  function fmtPct(v) { return known(v) && typeof v === 'number' ? (v < 10 ? v.toFixed(2) : v.toFixed(1)) + ' %' : UNKNOWN; }
  function fmtAge(s) {
    if (!known(s) || typeof s !== 'number') return UNKNOWN;
    if (s < 90) return Math.round(s) + ' s';
    if (s < 90 * 60) return Math.round(s / 60) + ' min';
    if (s < 36 * 3600) return (s / 3600).toFixed(1) + ' h';
    return (s / 86400).toFixed(1) + ' d';
  }
  function fmtTime(ms) {
    if (!known(ms) || typeof ms !== 'number') return UNKNOWN;
    const d = new Date(ms);
    return Number.isNaN(d.getTime()) ? UNKNOWN : d.toISOString().slice(0, 19).replace('T', ' ') + 'Z';
  }
  function fmtText(v) {
    if (!known(v)) return UNKNOWN;
    return typeof v === 'string' ? v : JSON.stringify(v);
  }
  function fmtBool(v) { return v === true ? 'yes' : v === false ? 'no' : UNKNOWN; }

  // ---- errors ----------------------------------------------------------------------------------
  class ApiError extends Error {
    constructor(status, message) { super(message); this.status = status; }
  }
  // Errors by source (one per poller or action): a poller's success clears only its own error.
  const errors = new Map();
  function drawErrors() {
    replace(errorBox, [...errors.values()].join('\n'));
    errorBox.hidden = errors.size === 0;
  }
  function showError(message, key = 'action') {
    errors.set(key, message);
    drawErrors();
  }
  function clearError(key) {
    if (key === undefined) errors.clear(); else errors.delete(key);
    drawErrors();
  }
  function handleError(e, key = 'action') {
    if (e instanceof ApiError && e.status === 401) {
      state.who = null;
      if (!location.hash.startsWith('#/login')) state.afterLogin = location.hash || '#/fleet';
      showLogin('Your session has ended: log in again.');
      return;
    }
    showError(e instanceof Error ? e.message : String(e), key);
  }

  // ---- the API ---------------------------------------------------------------------------------
  // Same-origin requests with the session cookie; state-changing ones carry the CSRF token.
  // Answers that are not 2xx throw ApiError with the API's own {"error": ...} message.
  async function api(method, path, body) {
    const headers = {};
    if (method !== 'GET' && state.who && typeof state.who.csrf === 'string') {
      headers['X-CSRF-Token'] = state.who.csrf;
    }
    const init = { method, headers, credentials: 'same-origin', cache: 'no-store' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = typeof body === 'string' ? body : JSON.stringify(body);
    }
    let r;
    try {
      r = await fetch(path, init);
    } catch (e) {
      throw new ApiError(0, `${method} ${path}: the collector did not answer (${e.message})`);
    }
    const text = await r.text();
    if (!r.ok) {
      let message = text.slice(0, 1000);
      try {
        const j = JSON.parse(text);
        if (j && typeof j.error === 'string') message = j.error;
      } catch (_) { /* not JSON: keep the text */ }
      throw new ApiError(r.status, `${method} ${path}: HTTP ${r.status}: ${message}`);
    }
    return text;
  }
  // GET answers asked for before they are needed (the first page's data, fetched beside
  // /v1/whoami); each is used once.
  const prefetched = new Map();
  function prefetch(path) {
    const answer = api('GET', path);
    answer.catch(() => {});  // a 401 here is reported by whoami; never an unhandled rejection
    prefetched.set(path, answer);
  }
  async function getJson(path) {
    const early = prefetched.get(path);
    prefetched.delete(path);
    const text = await (early || api('GET', path));
    try {
      return JSON.parse(text);
    } catch (e) {
      throw new ApiError(0, `GET ${path}: the answer is not JSON (${e.message})`);
    }
  }
  function expectObject(v, what) {
    if (!v || typeof v !== 'object' || Array.isArray(v)) throw new ApiError(0, `${what}: expected a JSON object`);
    return v;
  }
  function arrayOf(v) { return Array.isArray(v) ? v : []; }

  // ---- page lifecycle --------------------------------------------------------------------------
  function leavePage() {
    state.gen++;
    for (const fn of state.cleanups.splice(0)) {
      try { fn(); } catch (_) { /* a chart or stream already gone */ }
    }
  }
  // Runs fn now and then every ms after the previous run ended, while the page is shown.
  let pollers = 0;
  function poll(ms, fn) {
    const gen = state.gen;
    const key = 'poll' + (++pollers);
    let timer = null;
    const tick = async () => {
      if (gen !== state.gen) return;
      try {
        await fn();
        if (gen === state.gen) clearError(key);
      } catch (e) {
        if (gen === state.gen) handleError(e, key);
      }
      if (gen === state.gen) timer = setTimeout(tick, ms);
    };
    state.cleanups.push(() => clearTimeout(timer));
    tick();
  }
  const current = gen => gen === state.gen;

  function setNav(page) {
    const nav = document.getElementById('nav');
    const loggedIn = state.who !== null;
    nav.hidden = !loggedIn;
    document.getElementById('logout').hidden = !loggedIn;
    replace(document.getElementById('who'), loggedIn
      ? `role ${fmtText(state.who.role)}${state.who.actions ? ' (actions enabled)' : ' (read-only)'}` : '');
    for (const a of nav.querySelectorAll('a')) a.classList.toggle('active', a.dataset.page === page);
  }

  // ---- login -----------------------------------------------------------------------------------
  function showLogin(message) {
    leavePage();
    state.who = null;
    setNav('');
    const token = el('input', { type: 'password', id: 'token', name: 'token', autocomplete: 'off', required: true,
                                maxLength: 1024, size: 48 });
    const msg = el('p', { id: 'login-message', className: message ? 'error' : 'muted' },
                   message || 'Log in with an operator or admin token.');
    const form = el('form', { id: 'login-form', className: 'card narrow' },
      el('h1', null, 'Log in'),
      el('label', { htmlFor: 'token' }, 'Token'), token,
      el('button', { type: 'submit', id: 'login-submit' }, 'Log in'), msg);
    form.addEventListener('submit', async ev => {
      ev.preventDefault();
      replace(msg, 'Logging in…');
      msg.className = 'muted';
      try {
        const who = expectObject(JSON.parse(await api('POST', '/v1/login', { token: token.value })), 'POST /v1/login');
        state.who = who;
        token.value = '';
        clearError();
        const target = state.afterLogin && !state.afterLogin.startsWith('#/login') ? state.afterLogin : '#/fleet';
        if (location.hash === target) route(); else location.hash = target;
      } catch (e) {
        msg.className = 'error';
        replace(msg, e.message);
      }
    });
    replace(main, form);
    if (!location.hash.startsWith('#/login')) history.replaceState(null, '', '#/login');
    token.focus();
  }

  async function logout() {
    try {
      await api('POST', '/v1/logout');
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 401)) { showError(e.message); return; }
    }
    state.afterLogin = '#/fleet';
    showLogin('Logged out.');
  }

  // ---- fleet -----------------------------------------------------------------------------------
  const STATUS_ORDER = { offline: 0, degraded: 1, never_seen: 2, online: 3 };
  const STATUSES = ['online', 'degraded', 'offline', 'never_seen'];
  function statusLabel(s) { return s === 'never_seen' ? 'never seen' : fmtText(s); }
  function statusBadge(s) {
    const cls = STATUSES.includes(s) ? s : 'unknown';
    return el('span', { className: 'badge ' + cls }, statusLabel(s));
  }

  // One column per FleetRow field group; `sort` gives the value sorted on.
  const FLEET_COLUMNS = [
    { key: 'id', label: 'Device', sort: r => r.id,
      cell: r => (typeof r.id === 'string' && r.id !== '' ? { href: '#/device/' + enc(r.id), text: r.id } : UNKNOWN) },
    { key: 'group', label: 'Group', sort: r => r.group, cell: r => fmtText(r.group) },
    { key: 'status', label: 'Status', sort: r => STATUS_ORDER[r.status] ?? 4,
      cls: r => 'st ' + (STATUSES.includes(r.status) ? r.status : 'unknown'),
      cell: r => ({ text: statusLabel(r.status), sub: arrayOf(r.reasons).map(fmtText).join('; ') }) },
    { key: 'heartbeat_age_s', label: 'Heartbeat age', num: true, sort: r => r.heartbeat_age_s,
      cell: r => fmtAge(r.heartbeat_age_s) },
    { key: 'picketd', label: 'picketd', sort: r => r.picketd, cell: r => fmtText(r.picketd) },
    { key: 'config', label: 'Config applied / desired', sort: r => r.applied_version,
      cls: r => (r.drift ? 'drift' : ''),
      cell: r => `${fmtText(r.applied_version)} / ${fmtText(r.desired_version)}${r.drift ? ' drift' : ''}` },
    { key: 'refused', label: 'Refused', sort: r => (r.refused ? 0 : 1), cls: r => (r.refused ? 'bad' : ''),
      cell: r => (r.refused && typeof r.refused === 'object'
        ? `v${fmtText(r.refused.version)}: ${fmtText(r.refused.error)}` : '') },
    { key: 'worker', label: 'Worker', sort: r => r.worker_state, cls: r => (r.crash_loop ? 'bad' : ''),
      cell: r => `${fmtText(r.worker_state)}${r.crash_loop ? ' crash loop' : ''}${known(r.starts) ? `, ${fmtNum(r.starts)} starts` : ''}` },
    { key: 'pps', label: 'Packets/s', num: true, sort: r => r.pps, cell: r => fmtNum(r.pps) },
    { key: 'bps', label: 'Captured', num: true, sort: r => r.bps, cell: r => fmtBits(r.bps) },
    { key: 'drop_pct', label: 'Drop', num: true, sort: r => r.drop_pct, cls: r => (r.drop_pct > 1 ? 'bad' : ''),
      cell: r => fmtPct(r.drop_pct) },
    { key: 'backlog_bytes', label: 'Backlog', num: true, sort: r => r.backlog_bytes,
      cell: r => `${fmtBytes(r.backlog_bytes)} (${fmtNum(r.backlog_chunks)} chunks)` },
    { key: 'oldest_pending_age_s', label: 'Oldest pending', num: true, sort: r => r.oldest_pending_age_s,
      cell: r => fmtAge(r.oldest_pending_age_s) },
    { key: 'upload_errors', label: 'Upload errors', num: true, sort: r => r.upload_errors,
      cls: r => (r.upload_errors > 0 ? 'warn' : ''), cell: r => fmtNum(r.upload_errors) },
    { key: 'disk_free_pct', label: 'Disk free', num: true, sort: r => r.disk_free_pct,
      cls: r => (r.disk_free_pct < 10 ? 'bad' : ''),
      cell: r => `${fmtPct(r.disk_free_pct)} (${fmtBytes(r.disk_free_bytes)})` },
    { key: 'uptime_s', label: 'Uptime', num: true, sort: r => r.uptime_s, cell: r => fmtAge(r.uptime_s) },
    { key: 'last_upload_ms', label: 'Last upload', sort: r => r.last_upload_ms, cell: r => fmtTime(r.last_upload_ms) },
    { key: 'zk_alive', label: 'ZooKeeper', sort: r => r.zk_alive,
      cell: r => (r.zk_alive === null || r.zk_alive === undefined ? 'n/a' : r.zk_alive ? 'alive' : 'no node') },
  ];

  function compareValues(a, b) {
    const ka = known(a);
    const kb = known(b);
    if (!ka || !kb) return ka === kb ? 0 : ka ? -1 : 1;  // unknown last
    if (typeof a === 'number' && typeof b === 'number') return a - b;
    return String(a).localeCompare(String(b));
  }

  function fleetRowMatches(r, view) {
    if (view.status && r.status !== view.status) return false;
    if (view.driftOnly && !r.drift) return false;
    if (!view.text) return true;
    const hay = [r.id, r.group, r.status, r.picketd, r.worker_state, ...arrayOf(r.reasons),
      r.refused && r.refused.error].filter(x => typeof x === 'string').join(' ').toLowerCase();
    return hay.includes(view.text.toLowerCase());
  }

  function renderFleetRows(tbody, rows) {
    const view = state.fleetView;
    const col = FLEET_COLUMNS.find(c => c.key === view.sort) || FLEET_COLUMNS[2];
    const shown = rows.filter(r => r && typeof r === 'object' && fleetRowMatches(r, view));
    shown.sort((a, b) => {
      const c = compareValues(col.sort(a), col.sort(b));
      return (view.desc ? -c : c) || compareValues(a.id, b.id);
    });
    // Rows are grid boxes, not <tr>: with content-visibility the browser lays out only the
    // rows on screen. Built as one string of escaped text (every value through esc()) and
    // parsed once: 1,000 rows x 18 cells in one innerHTML beat 20,000 createElement calls.
    let html = '';
    for (const r of shown) {
      const status = STATUSES.includes(r.status) ? r.status : 'unknown';
      html += `<div class="fr status-${status}" role="row" data-device="${esc(typeof r.id === 'string' ? r.id : '')}">`;
      for (const c of FLEET_COLUMNS) {
        const cls = ((c.num ? 'num ' : '') + (c.cls ? c.cls(r) : '')).trim();
        html += `<div role="cell" data-col="${c.key}"${cls ? ` class="${esc(cls)}"` : ''}>`;
        const v = c.cell(r);
        if (typeof v === 'string') {
          html += esc(v);
        } else {
          html += v.href ? `<a class="device" href="${esc(v.href)}">${esc(v.text)}</a>` : esc(v.text);
          if (v.sub) html += `<div class="reasons">${esc(v.sub)}</div>`;
        }
        html += '</div>';
      }
      html += '</div>';
    }
    tbody.innerHTML = html;
    return shown.length;
  }
  // For the one innerHTML above: text to markup-safe text (element content and quoted attributes).
  const ESCAPES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
  function esc(v) { return String(v).replace(/[&<>"']/g, ch => ESCAPES[ch]); }

  function pageFleet() {
    const gen = state.gen;
    const view = state.fleetView;
    const counts = el('div', { id: 'fleet-counts', className: 'counts' });
    const summary = el('span', { id: 'fleet-shown', className: 'muted' });
    const updated = el('span', { id: 'fleet-updated', className: 'muted' });
    const text = el('input', { type: 'search', id: 'fleet-filter', placeholder: 'filter: id, group, reason…',
                               value: view.text, size: 28 });
    const statusSel = el('select', { id: 'fleet-status' },
      el('option', { value: '' }, 'every status'), STATUSES.map(s => el('option', { value: s }, statusLabel(s))));
    statusSel.value = view.status;
    const drift = el('input', { type: 'checkbox', id: 'fleet-drift', checked: view.driftOnly });
    const thead = el('div', { className: 'fr head', role: 'row' });
    const tbody = el('div', { className: 'fbody', role: 'rowgroup' });
    const table = el('div', { id: 'fleet-table', className: 'fleet', role: 'table', 'aria-label': 'devices' }, thead, tbody);
    let rows = [];
    let firstRender = true;

    function drawHead() {
      thead.replaceChildren(...FLEET_COLUMNS.map(c => {
        const mark = view.sort === c.key ? (view.desc ? ' ▼' : ' ▲') : '';
        return el('div', { className: c.num ? 'num sortable' : 'sortable', role: 'columnheader', dataset: { col: c.key }, title: 'sort',
          on: { click: () => {
            if (view.sort === c.key) view.desc = !view.desc; else { view.sort = c.key; view.desc = false; }
            drawHead(); draw();
          } } }, c.label + mark);
      }));
    }
    function draw() {
      const n = renderFleetRows(tbody, rows);
      replace(summary, `${n} of ${rows.length} devices shown`);
      if (firstRender && n > 0) {
        firstRender = false;
        window.picketTiming.fleetDomMs = performance.now();
        window.picketTiming.fleetRows = n;
        // After the next frame is laid out: what the operator waits for.
        requestAnimationFrame(() => setTimeout(() => { window.picketTiming.fleetPaintMs = performance.now(); }, 0));
      }
    }
    function drawCounts(c) {
      counts.replaceChildren(...STATUSES.map(s => el('button', {
        type: 'button', id: 'count-' + s, className: 'count ' + s + (view.status === s ? ' selected' : ''),
        on: { click: () => { view.status = view.status === s ? '' : s; statusSel.value = view.status; drawCounts(c); draw(); } },
      }, el('span', { className: 'n' }, fmtNum(c && c[s])), ' ', statusLabel(s))));
    }
    text.addEventListener('input', () => { view.text = text.value.trim(); draw(); });
    statusSel.addEventListener('change', () => { view.status = statusSel.value; draw(); });
    drift.addEventListener('change', () => { view.driftOnly = drift.checked; draw(); });

    replace(main,
      el('h1', null, 'Fleet'), counts,
      el('div', { className: 'toolbar' }, text, statusSel, el('label', null, drift, ' drift only'), summary, updated),
      el('div', { className: 'scroll' }, table));
    drawHead();
    drawCounts(null);
    poll(REFRESH_FLEET_MS, async () => {
      const fleet = expectObject(await getJson('/v1/fleet'), 'GET /v1/fleet');
      if (!current(gen)) return;
      rows = arrayOf(fleet.devices);
      drawCounts(fleet.counts);
      draw();
      replace(updated, `updated ${fmtTime(fleet.now_ms)}`);
    });
  }

  // ---- device ----------------------------------------------------------------------------------
  const SERIES_CHARTS = [
    { key: 'pps', title: 'Packets/s', y: p => p.pps },
    { key: 'drops', title: 'Drops (per step) and drop %', y: p => p.drops, y2: p => p.drop_pct },
    { key: 'backlog_bytes', title: 'Upload backlog (bytes)', y: p => p.backlog_bytes },
    { key: 'upload_bps', title: 'Upload rate (bits/s)', y: p => p.upload_bps },
  ];

  function timeTick(windowName) {
    return value => {
      const iso = new Date(value).toISOString();
      return windowName === '7d' ? iso.slice(5, 13).replace('T', ' ') + 'h' : iso.slice(11, 16);
    };
  }

  // Chart.js (200 KB) is loaded by the first page that draws a chart, not by every page.
  let chartScript = null;
  function loadChart() {
    if (typeof window.Chart === 'function') return Promise.resolve();
    if (!chartScript) {
      chartScript = new Promise((resolve, reject) => {
        const script = el('script', { src: '/ui/chart.js' });
        script.addEventListener('load', resolve);
        script.addEventListener('error', () => { chartScript = null; reject(new ApiError(0, 'GET /ui/chart.js: the chart library did not load')); });
        document.head.append(script);
      });
    }
    return chartScript;
  }

  function makeChart(canvas, spec, windowName) {
    if (typeof window.Chart !== 'function') return null;
    const datasets = [{ label: spec.y2 ? 'drops' : spec.title, data: [], borderColor: '#2563eb', backgroundColor: 'rgba(37,99,235,0.15)',
                        fill: true, pointRadius: 0, borderWidth: 1.5, spanGaps: false, yAxisID: 'y' }];
    if (spec.y2) {
      datasets.push({ label: 'drop %', data: [], borderColor: '#dc2626', pointRadius: 0, borderWidth: 1.5,
                      yAxisID: 'y2' });
    }
    const scales = {
      x: { type: 'linear', ticks: { callback: timeTick(windowName), maxTicksLimit: 8 } },
      y: { beginAtZero: true },
    };
    if (spec.y2) scales.y2 = { position: 'right', beginAtZero: true, grid: { drawOnChartArea: false } };
    return new window.Chart(canvas, {
      type: 'line',
      data: { datasets },
      options: {
        animation: false, responsive: true, maintainAspectRatio: false, normalized: true,
        interaction: { mode: 'nearest', axis: 'x', intersect: false },
        plugins: { legend: { display: !!spec.y2 },
          tooltip: { callbacks: { title: items => (items.length ? fmtTime(items[0].parsed.x) : '') } } },
        scales,
      },
    });
  }

  function seriesPoints(points, pick) {
    const out = [];
    for (const p of points) {
      if (!p || typeof p.t_ms !== 'number') continue;
      const y = pick(p);
      out.push({ x: p.t_ms, y: typeof y === 'number' && Number.isFinite(y) ? y : null });
    }
    return out;
  }

  function kv(pairs) {
    return el('table', { className: 'kv' }, el('tbody', null,
      pairs.map(([k, v]) => el('tr', null, el('th', null, k), el('td', null, v)))));
  }

  function logLineText(row) {
    const line = row && row.line;
    if (line && typeof line === 'object' && typeof line.line === 'string') return line.line;
    if (line && typeof line === 'object' && known(line.dropped_lines)) return `(${fmtText(line.dropped_lines)} lines dropped by the device)`;
    return fmtText(line);
  }

  function pageDevice(id) {
    const gen = state.gen;
    const status = el('div', { id: 'device-summary' }, el('p', { className: 'muted' }, 'Loading…'));
    const refusals = el('div', { id: 'device-refusals' });
    const configPre = el('pre', { id: 'device-config', className: 'json' });
    const heartbeatPre = el('pre', { id: 'device-heartbeat', className: 'json' });
    const windowButtons = el('div', { className: 'toolbar', id: 'series-window' });
    const seriesNote = el('span', { className: 'muted', id: 'series-note' });
    const chartBoxes = SERIES_CHARTS.map(spec => {
      const canvas = el('canvas', { id: 'chart-' + spec.key, role: 'img', 'aria-label': spec.title });
      return { spec, canvas, box: el('div', { className: 'chart card' }, el('h3', null, spec.title),
                                         el('div', { className: 'chart-area' }, canvas)) };
    });
    const logList = el('ol', { id: 'log-tail', className: 'log' });
    const logState = el('span', { id: 'log-state', className: 'muted' }, 'connecting…');
    const editor = el('section', { id: 'config-editor', hidden: true });
    let windowName = '1h';
    let charts = [];
    let editorFilled = false;

    function drawWindows() {
      windowButtons.replaceChildren(...['1h', '24h', '7d'].map(w => el('button', {
        type: 'button', className: w === windowName ? 'selected' : '', dataset: { window: w },
        on: { click: () => { windowName = w; drawWindows(); rebuildCharts(); loadSeries().catch(handleError); } },
      }, w)), seriesNote);
    }
    function rebuildCharts() {
      for (const c of charts) if (c) c.destroy();
      charts = chartBoxes.map(b => makeChart(b.canvas, b.spec, windowName));
      if (typeof window.Chart !== 'function') replace(seriesNote, 'charts unavailable: /ui/chart.js did not load');
    }
    async function loadSeries() {
      const s = expectObject(await getJson(`/v1/devices/${enc(id)}/series?window=${enc(windowName)}`), 'series');
      if (!current(gen)) return;
      const points = arrayOf(s.points);
      replace(seriesNote, `${points.length} points, step ${fmtAge(s.step_s)}`);
      chartBoxes.forEach((b, i) => {
        const chart = charts[i];
        if (!chart) return;
        chart.data.datasets[0].data = seriesPoints(points, b.spec.y);
        if (b.spec.y2) chart.data.datasets[1].data = seriesPoints(points, b.spec.y2);
        chart.update('none');
      });
    }
    async function loadStatus() {
      const doc = expectObject(await getJson(`/v1/devices/${enc(id)}/status`), 'device status');
      if (!current(gen)) return;
      const r = doc.device && typeof doc.device === 'object' ? doc.device : {};
      replace(status,
        el('p', null, statusBadge(r.status), ' ',
          arrayOf(r.reasons).length ? el('span', { className: 'reasons', id: 'device-reasons' }, arrayOf(r.reasons).map(fmtText).join('; ')) : null),
        kv([
          ['Group', fmtText(r.group)],
          ['Last heartbeat', `${fmtTime(r.last_heartbeat_ms)} (${fmtAge(r.heartbeat_age_s)} ago)`],
          ['picketd', fmtText(r.picketd)],
          ['Config applied / desired', el('span', { className: r.drift ? 'drift' : '' },
            `${fmtText(r.applied_version)} / ${fmtText(r.desired_version)}${r.drift ? ' (drift)' : ''}`)],
          ['Worker', `${fmtText(r.worker_state)}, ${fmtNum(r.starts)} starts${r.crash_loop ? ', crash loop' : ''}`],
          ['Packets/s', fmtNum(r.pps)], ['Captured', fmtBits(r.bps)], ['Drop', fmtPct(r.drop_pct)],
          ['Backlog', `${fmtBytes(r.backlog_bytes)} in ${fmtNum(r.backlog_chunks)} chunks, oldest ${fmtAge(r.oldest_pending_age_s)}`],
          ['Upload errors', fmtNum(r.upload_errors)], ['Last upload', fmtTime(r.last_upload_ms)],
          ['Disk free', `${fmtPct(r.disk_free_pct)} (${fmtBytes(r.disk_free_bytes)})`],
          ['Uptime', fmtAge(r.uptime_s)], ['ZooKeeper node', fmtBool(r.zk_alive)],
        ]));
      const refs = arrayOf(doc.refusals);
      if (r.refused && typeof r.refused === 'object' && !refs.some(x => x && x.source === 'device' && x.version === r.refused.version)) {
        refs.unshift({ source: 'device', version: r.refused.version, error: r.refused.error });
      }
      replace(refusals, refs.length === 0 ? el('p', { className: 'muted' }, 'No refused config.')
        : el('table', { className: 'grid' },
          el('thead', null, el('tr', null, el('th', null, 'Refused by'), el('th', null, 'Version'), el('th', null, 'Error'))),
          el('tbody', null, refs.map(x => el('tr', { className: 'bad' }, el('td', null, fmtText(x && x.source)),
            el('td', { className: 'num' }, fmtText(x && x.version)), el('td', { className: 'pre' }, fmtText(x && x.error)))))));
      replace(configPre, doc.config === null || doc.config === undefined ? 'unknown (no ZooKeeper view)' : JSON.stringify(doc.config, null, 2));
      replace(heartbeatPre, doc.heartbeat === null || doc.heartbeat === undefined ? 'no heartbeat yet' : JSON.stringify(doc.heartbeat, null, 2));
      if (state.who && state.who.actions && !editorFilled) {
        editorFilled = true;
        fillEditor(doc);
      }
    }
    function fillEditor(doc) {
      // The device's own row when the collector sends it; else the effective config to start from.
      const own = doc.device_config !== undefined ? doc.device_config : doc.config;
      const area = el('textarea', { id: 'config-text', rows: 16, cols: 80, spellcheck: false },
                      own === null || own === undefined ? '{}' : JSON.stringify(own, null, 2));
      const msg = el('p', { id: 'config-message', className: 'muted' },
        doc.device_config !== undefined ? 'The device\'s own config row.' : 'Starts from the effective config; saving replaces the device\'s row.');
      const save = el('button', { type: 'button', id: 'config-save' }, 'Save config row');
      save.addEventListener('click', async () => {
        let body;
        try { body = JSON.parse(area.value); } catch (e) {
          msg.className = 'error'; replace(msg, `not JSON: ${e.message}`); return;
        }
        save.disabled = true;
        try {
          const out = JSON.parse(await api('PUT', `/v1/devices/${enc(id)}/config`, body));
          msg.className = 'ok';
          replace(msg, `saved: device ${fmtText(out.device)} version ${fmtText(out.version)}`);
        } catch (e) {
          if (e instanceof ApiError && e.status === 401) { handleError(e); return; }
          msg.className = 'error';
          replace(msg, e.message);
        } finally { save.disabled = false; }
      });
      replace(editor, el('h2', null, 'Edit config row'), area, el('div', null, save), msg);
      editor.hidden = false;
    }
    function openLogTail() {
      // The last hour, then live. EventSource sends the cookie and reconnects with Last-Event-ID.
      const since = Date.now() - 3600 * 1000;
      const source = new EventSource(`/v1/logs?follow=1&device=${enc(id)}&since_ms=${since}`);
      state.cleanups.push(() => source.close());
      source.addEventListener('open', () => replace(logState, 'live'));
      source.addEventListener('error', () => {
        replace(logState, source.readyState === EventSource.CLOSED ? 'closed by the collector (reload to retry)' : 'reconnecting…');
      });
      source.addEventListener('message', ev => {
        let row;
        try { row = JSON.parse(ev.data); } catch (_) { row = { line: ev.data }; }
        const li = el('li', null, el('span', { className: 'ts' }, fmtTime(row && row.received_at_ms)), ' ', logLineText(row));
        const atBottom = logList.scrollTop + logList.clientHeight >= logList.scrollHeight - 4;
        logList.append(li);
        while (logList.childElementCount > LOG_TAIL_LINES) logList.firstElementChild.remove();
        if (atBottom) logList.scrollTop = logList.scrollHeight;
      });
    }

    replace(main,
      el('h1', null, 'Device ', el('span', { id: 'device-id' }, id)),
      status,
      el('h2', null, 'Counters'), windowButtons,
      el('div', { className: 'charts' }, chartBoxes.map(b => b.box)),
      el('h2', null, 'Refusals'), refusals,
      editor,
      el('h2', null, 'Effective config'), configPre,
      el('details', null, el('summary', null, 'Latest heartbeat document'), heartbeatPre),
      el('h2', null, 'Log ', logState), logList);
    drawWindows();
    state.cleanups.push(() => { for (const c of charts) if (c) c.destroy(); });
    poll(REFRESH_DEVICE_MS, loadStatus);
    loadChart().then(() => {
      if (!current(gen)) return;
      rebuildCharts();
      poll(REFRESH_SERIES_MS, loadSeries);
    }).catch(e => { if (current(gen)) { replace(seriesNote, e.message); poll(REFRESH_SERIES_MS, loadSeries); } });
    openLogTail();
  }

  // ---- scans -----------------------------------------------------------------------------------
  const CSV_COLUMNS = ['host', 'port', 'proto', 'state', 'banner', 'first_seen', 'last_seen', 'seen', 'device', 'job'];

  function resultLine(row) {
    let line = row.result;
    if (typeof line === 'string') { try { line = JSON.parse(line); } catch (_) { line = {}; } }
    return line && typeof line === 'object' ? line : {};
  }
  function resultRecord(row) {
    const line = resultLine(row);
    return {
      host: fmtText(row.ip), port: known(row.port) ? String(row.port) : '', proto: fmtText(row.proto),
      state: typeof line.state === 'string' ? line.state : '', banner: typeof line.banner === 'string' ? line.banner : '',
      first_seen: fmtTime(row.first_seen_ms), last_seen: fmtTime(row.last_seen_ms), seen: known(row.seen) ? String(row.seen) : '',
      device: typeof row.device === 'string' ? row.device : '', job: known(row.job) ? fmtText(row.job) : '',
    };
  }
  // RFC 4180 quoting; a cell a spreadsheet would run as a formula gets a leading quote.
  function csvCell(v) {
    let s = String(v);
    if (/^[=+\-@\t\r]/.test(s)) s = "'" + s;
    return /[",\r\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
  }
  function downloadCsv(records, name) {
    const lines = [CSV_COLUMNS.join(',')];
    for (const r of records) lines.push(CSV_COLUMNS.map(c => csvCell(r[c])).join(','));
    const blob = new Blob([lines.join('\r\n') + '\r\n'], { type: 'text/csv' });
    const url = URL.createObjectURL(blob);
    const a = el('a', { href: url, download: name, hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
  }

  async function fetchAllResults() {
    const rows = [];
    let since = 0;
    while (rows.length < RESULTS_MAX) {
      const page = await getJson(`/v1/results?since=${since}&limit=${RESULTS_PAGE}`);
      if (!Array.isArray(page)) throw new ApiError(0, 'GET /v1/results: expected a JSON array');
      rows.push(...page);
      if (page.length < RESULTS_PAGE) break;
      const last = page[page.length - 1];
      if (!last || typeof last.id !== 'number' || last.id <= since) break;
      since = last.id;
    }
    return rows;
  }

  function progressBar(pct) {
    const v = typeof pct === 'number' && Number.isFinite(pct) ? Math.max(0, Math.min(100, pct)) : 0;
    return el('span', { className: 'progress' },
      el('progress', { max: 100, value: v }), ' ', el('span', { className: 'pct' }, known(pct) ? fmtPct(pct) : UNKNOWN));
  }

  function submitForm(onDone) {
    const field = (name, label, props) => el('label', null, label, el('input', Object.assign({ name, id: 'scan-' + name }, props)));
    const mode = el('select', { name: 'mode', id: 'scan-mode' }, el('option', { value: '' }, 'default (connect)'),
      el('option', { value: 'syn' }, 'syn'), el('option', { value: 'connect' }, 'connect'));
    const msg = el('p', { id: 'scan-submit-message', className: 'muted' });
    const form = el('form', { id: 'scan-submit', className: 'card form-grid' },
      el('h2', null, 'Submit a scan'),
      field('id', 'Job id (optional)', { maxLength: 64, pattern: '[A-Za-z0-9._\\-]{1,64}' }),
      field('targets', 'Targets', { required: true, placeholder: '10.0.0.0/24' }),
      field('ports', 'Ports', { required: true, placeholder: '1-1024' }),
      field('rate', 'Rate (pps)', { type: 'number', min: 1, required: true, value: '100' }),
      field('shards', 'Shards', { type: 'number', min: 1, required: true, value: '1' }),
      el('label', null, 'Mode', mode),
      field('group', 'Group', {}),
      field('devices', 'Devices (comma-separated)', {}),
      field('max_parallel', 'Max parallel shards', { type: 'number', min: 1 }),
      el('div', null, el('button', { type: 'submit', id: 'scan-submit-button' }, 'Submit')), msg);
    form.addEventListener('submit', async ev => {
      ev.preventDefault();
      const f = new FormData(form);
      const body = {};
      for (const k of ['id', 'targets', 'ports', 'mode', 'group', 'devices']) {
        const v = String(f.get(k) || '').trim();
        if (v) body[k] = v;
      }
      for (const k of ['rate', 'shards', 'max_parallel']) {
        const v = String(f.get(k) || '').trim();
        if (v) body[k] = Number(v);
      }
      try {
        const out = JSON.parse(await api('POST', '/v1/scans', body));
        msg.className = 'ok';
        replace(msg, `submitted job ${fmtText(out.job)}`);
        onDone();
      } catch (e) {
        if (e instanceof ApiError && e.status === 401) { handleError(e); return; }
        msg.className = 'error';
        replace(msg, e.message);
      }
    });
    return form;
  }

  function pageScans() {
    const gen = state.gen;
    const jobsBox = el('div', { id: 'scan-jobs' }, el('p', { className: 'muted' }, 'Loading…'));
    const zkNote = el('p', { id: 'scan-note', className: 'muted' });
    const filter = el('input', { type: 'search', id: 'results-filter', placeholder: 'filter: host, port, banner, device…', size: 32 });
    const jobSel = el('select', { id: 'results-job' }, el('option', { value: '' }, 'every job'));
    const exportBtn = el('button', { type: 'button', id: 'results-export' }, 'Export CSV');
    const count = el('span', { id: 'results-count', className: 'muted' });
    const tbody = el('tbody');
    const resultsTable = el('table', { id: 'results-table', className: 'grid' },
      el('thead', null, el('tr', null, ['Host', 'Port', 'Proto', 'State', 'Banner', 'First seen', 'Last seen', 'Seen', 'Device', 'Job']
        .map(h => el('th', null, h)))), tbody);
    let records = [];
    const canAct = !!(state.who && state.who.actions);

    function filtered() {
      const text = filter.value.trim().toLowerCase();
      const job = jobSel.value;
      return records.filter(r => (!job || r.job === job) &&
        (!text || `${r.host} ${r.port} ${r.proto} ${r.state} ${r.banner} ${r.device} ${r.job}`.toLowerCase().includes(text)));
    }
    function drawResults() {
      const shown = filtered();
      const frag = document.createDocumentFragment();
      for (const r of shown) {
        const tr = document.createElement('tr');
        for (const c of CSV_COLUMNS) {
          const td = document.createElement('td');
          td.dataset.col = c;
          if (c === 'device') td.append(r.device ? deviceLink(r.device) : '');
          else td.textContent = r[c];
          if (c === 'port' || c === 'seen') td.className = 'num';
          if (c === 'banner') td.className = 'pre';
          tr.append(td);
        }
        frag.append(tr);
      }
      tbody.replaceChildren(frag);
      replace(count, `${shown.length} of ${records.length} open ports`);
    }
    function drawJobSelect() {
      const jobs = [...new Set(records.map(r => r.job).filter(Boolean))].sort();
      const keep = jobSel.value;
      jobSel.replaceChildren(el('option', { value: '' }, 'every job'), ...jobs.map(j => el('option', { value: j }, j)));
      jobSel.value = jobs.includes(keep) ? keep : '';
    }
    async function cancel(job) {
      if (!confirm(`Cancel scan job ${job}?`)) return;
      try {
        await api('POST', `/v1/scans/${enc(job)}/cancel`);
        await loadJobs();
      } catch (e) { handleError(e); }
    }
    function drawJobs(doc) {
      replace(zkNote, doc.zookeeper === false ? 'This collector has no ZooKeeper (--zk): shared scan jobs are not visible.' : '');
      const jobs = arrayOf(doc.jobs);
      if (jobs.length === 0) { replace(jobsBox, el('p', { className: 'muted' }, 'No scan jobs.')); return; }
      replace(jobsBox, jobs.map(j => {
        const spec = j.spec && typeof j.spec === 'object' ? j.spec : {};
        const running = j.state === 'running' || j.state === 'pending';
        return el('section', { className: 'card job', dataset: { job: typeof j.job === 'string' ? j.job : '' } },
          el('h3', null, el('span', { className: 'job-id' }, fmtText(j.job)), ' ',
            el('span', { className: 'badge job-' + (typeof j.state === 'string' ? j.state.replace(/[^a-z]/g, '') : 'unknown') }, fmtText(j.state)),
            canAct && running ? el('button', { type: 'button', className: 'danger cancel', on: { click: () => cancel(j.job) } }, 'Cancel') : null),
          el('div', { className: 'job-line' }, progressBar(j.progress_pct),
            el('span', null, ` rate ${fmtNum(j.rate_pps)} pps, ETA ${j.state === 'done' ? '0 s' : known(j.eta_s) ? fmtAge(j.eta_s) : 'unknown' + (typeof j.eta_unknown === 'string' ? ` (${j.eta_unknown})` : '')}, found ${fmtNum(j.found)}`)),
          el('p', { className: 'muted' }, `targets ${fmtText(spec.targets)}, ports ${fmtText(spec.ports)}, mode ${fmtText(spec.mode)}, ` +
            `rate ${fmtText(spec.rate_pps)} pps, ${fmtText(spec.shards)} shards` +
            (spec.group ? `, group ${fmtText(spec.group)}` : '') + (Array.isArray(spec.devices) ? `, devices ${spec.devices.map(fmtText).join(', ')}` : '')),
          el('table', { className: 'grid shards' },
            el('thead', null, el('tr', null, el('th', null, 'Shard'), el('th', null, 'State'), el('th', null, 'Holder'), el('th', null, 'Done / total'), el('th', null, 'Progress'))),
            el('tbody', null, arrayOf(j.shards).filter(s => s && typeof s === 'object').map(s => el('tr', { dataset: { shard: String(s.shard) } },
              el('td', { className: 'num' }, fmtText(s.shard)), el('td', null, fmtText(s.state)),
              el('td', null, typeof s.holder === 'string' ? deviceLink(s.holder) : '—'),
              el('td', { className: 'num' }, `${fmtNum(s.done)} / ${fmtNum(s.total)}`), el('td', null, progressBar(s.pct)))))));
      }));
    }
    async function loadJobs() {
      const doc = expectObject(await getJson('/v1/scans'), 'GET /v1/scans');
      if (current(gen)) drawJobs(doc);
    }
    async function loadResults() {
      const rows = await fetchAllResults();
      if (!current(gen)) return;
      records = rows.filter(r => r && typeof r === 'object').map(resultRecord);
      drawJobSelect();
      drawResults();
    }
    filter.addEventListener('input', drawResults);
    jobSel.addEventListener('change', drawResults);
    exportBtn.addEventListener('click', () => {
      const stamp = new Date().toISOString().slice(0, 19).replace(/[-:]/g, '');
      downloadCsv(filtered(), `open-ports-${stamp}.csv`);
    });
    replace(main,
      el('h1', null, 'Scans'), zkNote,
      canAct ? submitForm(() => loadJobs().catch(handleError)) : null,
      el('h2', null, 'Jobs'), jobsBox,
      el('h2', null, 'Open ports'),
      el('div', { className: 'toolbar' }, filter, jobSel, exportBtn, count),
      el('div', { className: 'scroll' }, resultsTable));
    poll(REFRESH_SCANS_MS, loadJobs);
    poll(REFRESH_RESULTS_MS, loadResults);
  }

  // ---- sessions --------------------------------------------------------------------------------
  const SESSION_FILTERS = [
    ['since', 'Since', '1h or 2026-12-03T09:00:00Z'], ['until', 'Until', ''], ['device', 'Device', ''],
    ['ip', 'Address', ''], ['port', 'Port', ''], ['proto', 'Proto', 'tcp, udp, icmp, 6'],
    ['app', 'App', 'DNS'], ['risk', 'Risk', ''], ['state', 'State', 'SF'], ['limit', 'Limit', '200'],
  ];

  function endpoint(ip, port) {
    const host = fmtText(ip);
    if (!known(port)) return host;
    return (host.includes(':') ? `[${host}]` : host) + ':' + fmtText(port);
  }

  function pageSessions(query) {
    const gen = state.gen;
    const params = new URLSearchParams(query);
    const inputs = {};
    const form = el('form', { id: 'sessions-form', className: 'card form-grid' },
      SESSION_FILTERS.map(([name, label, hint]) => {
        inputs[name] = el('input', { name, id: 'sessions-' + name, placeholder: hint, value: params.get(name) || '' });
        return el('label', null, label, inputs[name]);
      }),
      el('div', null, el('button', { type: 'submit', id: 'sessions-search' }, 'Search')));
    if (!params.has('since') && !params.toString()) inputs.since.value = '1h';
    const info = el('p', { id: 'sessions-info', className: 'muted' });
    const tbody = el('tbody');
    const table = el('table', { id: 'sessions-table', className: 'grid' },
      el('thead', null, el('tr', null, ['Id', 'First packet', 'Duration', 'Proto', 'Originator', 'Responder',
        'Bytes orig / resp', 'Packets orig / resp', 'State', 'App', 'Risk', 'Device', 'pcap'].map(h => el('th', null, h)))), tbody);
    form.addEventListener('submit', ev => {
      ev.preventDefault();
      const q = new URLSearchParams();
      for (const [name] of SESSION_FILTERS) {
        const v = inputs[name].value.trim();
        if (v) q.set(name, v);
      }
      const target = '#/sessions?' + q.toString();
      if (location.hash === target) route(); else location.hash = target;
    });
    replace(main, el('h1', null, 'Sessions'), form, info, el('div', { className: 'scroll' }, table));
    if (!params.toString()) { replace(info, 'Search to list sessions.'); return; }

    const q = new URLSearchParams();
    for (const [name] of SESSION_FILTERS) if (params.get(name)) q.set(name, params.get(name));
    if (!q.has('limit')) q.set('limit', '200');
    const path = '/v1/sessions?' + q.toString();
    replace(info, 'Searching…');
    (async () => {
      const text = await api('GET', path);
      if (!current(gen)) return;
      const lines = text.split('\n').filter(l => l.trim() !== '').slice(0, SESSIONS_MAX);
      const frag = document.createDocumentFragment();
      let bad = 0;
      lines.forEach(line => {
        let s;
        try { s = JSON.parse(line); } catch (_) { bad++; return; }
        if (!s || typeof s !== 'object') { bad++; return; }
        const id = known(s.id) ? String(s.id) : '';
        const validId = /^[0-9]{1,19}$/.test(id);
        frag.append(el('tr', { dataset: { session: id } },
          el('td', { className: 'num' }, validId ? el('a', { href: '#/session/' + id }, id) : id),
          el('td', null, fmtText(s.first_ts)), el('td', { className: 'num' }, known(s.duration) ? `${fmtNum(s.duration)} s` : UNKNOWN),
          el('td', null, fmtText(s.proto)), el('td', null, endpoint(s.src_ip, s.src_port)), el('td', null, endpoint(s.dst_ip, s.dst_port)),
          el('td', { className: 'num' }, `${fmtBytes(s.orig_bytes)} / ${fmtBytes(s.resp_bytes)}`),
          el('td', { className: 'num' }, `${fmtNum(s.orig_pkts)} / ${fmtNum(s.resp_pkts)}`),
          el('td', null, fmtText(s.state)), el('td', null, fmtText(s.app)),
          el('td', { className: 'num', title: arrayOf(s.risks).map(fmtText).join(', ') }, fmtText(s.risk_score)),
          el('td', null, deviceLink(s.device)),
          el('td', null, validId ? el('a', { href: `/v1/sessions/${id}/pcap`, download: `session-${id}.pcap`, className: 'pcap' }, 'pcap') : '')));
      });
      tbody.replaceChildren(frag);
      replace(info, `${lines.length - bad} sessions${lines.length >= Number(q.get('limit')) ? ' (the limit: narrow the search or raise the limit)' : ''}` +
        (bad ? `; ${bad} lines were not JSON objects` : ''));
    })().catch(e => { if (current(gen)) { replace(info, ''); handleError(e); } });
  }

  function pageSession(id) {
    const gen = state.gen;
    if (!/^[0-9]{1,19}$/.test(id)) { replace(main, el('h1', null, 'Session'), el('p', { className: 'error' }, `bad session id '${id}'`)); return; }
    const box = el('div', { id: 'session-detail' }, el('p', { className: 'muted' }, 'Loading…'));
    replace(main, el('h1', null, `Session ${id}`),
      el('p', null, el('a', { href: `/v1/sessions/${id}/pcap`, download: `session-${id}.pcap`, id: 'session-pcap', className: 'button' }, 'Download pcap'),
        ' ', el('a', { href: '#/sessions', className: 'muted' }, 'back to the search')), box);
    (async () => {
      const s = expectObject(await getJson(`/v1/sessions/${id}`), 'session');
      if (!current(gen)) return;
      const packets = arrayOf(s.packets);
      const count = packets.reduce((n, p) => n + arrayOf(p && p.offsets).length, 0);
      const pairs = Object.entries(s).filter(([k]) => k !== 'packets').map(([k, v]) => [k,
        k === 'device' ? deviceLink(v) : Array.isArray(v) ? v.map(fmtText).join(', ') : fmtText(v)]);
      pairs.push(['packets', `${count} packets in ${packets.length} chunks (${packets.map(p => fmtText(p && p.chunk)).join(', ')})`]);
      replace(box, kv(pairs));
    })().catch(e => { if (current(gen)) handleError(e); });
  }

  // ---- issues ----------------------------------------------------------------------------------
  function pageIssues() {
    const gen = state.gen;
    const info = el('p', { id: 'issues-info', className: 'muted' });
    const tbody = el('tbody');
    const table = el('table', { id: 'issues-table', className: 'grid' },
      el('thead', null, el('tr', null, ['Severity', 'Kind', 'Device', 'Since', 'Message'].map(h => el('th', null, h)))), tbody);
    replace(main, el('h1', null, 'Issues'), info, el('div', { className: 'scroll' }, table));
    poll(REFRESH_ISSUES_MS, async () => {
      const doc = expectObject(await getJson('/v1/issues'), 'GET /v1/issues');
      if (!current(gen)) return;
      const issues = arrayOf(doc.issues).filter(i => i && typeof i === 'object');
      const rank = { critical: 0, warning: 1 };
      issues.sort((a, b) => ((rank[a.severity] ?? 2) - (rank[b.severity] ?? 2)) || compareValues(a.since_ms, b.since_ms));
      const now = Date.now();
      tbody.replaceChildren(...issues.map(i => el('tr', { className: i.severity === 'critical' ? 'critical' : 'warning',
        dataset: { kind: typeof i.kind === 'string' ? i.kind : '', device: typeof i.device === 'string' ? i.device : '' } },
        el('td', null, el('span', { className: 'badge ' + (i.severity === 'critical' ? 'offline' : 'degraded') }, fmtText(i.severity))),
        el('td', null, fmtText(i.kind)), el('td', null, deviceLink(i.device)),
        el('td', null, `${fmtTime(i.since_ms)}${typeof i.since_ms === 'number' ? ` (${fmtAge((now - i.since_ms) / 1000)} ago)` : ''}`),
        el('td', { className: 'pre' }, fmtText(i.message)))));
      const critical = issues.filter(i => i.severity === 'critical').length;
      replace(info, issues.length === 0 ? 'No issues.' : `${issues.length} issues, ${critical} critical`);
    });
  }

  // ---- router ----------------------------------------------------------------------------------
  function parseHash() {
    const raw = location.hash.replace(/^#\/?/, '');
    const [path, query = ''] = raw.split('?', 2);
    const parts = path.split('/').filter(Boolean).map(p => { try { return decodeURIComponent(p); } catch (_) { return p; } });
    return { parts, query };
  }

  function route() {
    const { parts, query } = parseHash();
    const page = parts[0] || 'fleet';
    if (page === 'login') {
      if (state.who) { location.hash = '#/fleet'; return; }
      showLogin('');
      return;
    }
    if (!state.who) {
      state.afterLogin = location.hash || '#/fleet';
      showLogin('');
      return;
    }
    leavePage();
    clearError();
    const navPage = { device: 'fleet', session: 'sessions' }[page] || page;
    setNav(navPage);
    if (page === 'fleet') pageFleet();
    else if (page === 'device' && parts[1]) pageDevice(parts[1]);
    else if (page === 'scans') pageScans();
    else if (page === 'sessions') pageSessions(query);
    else if (page === 'session' && parts[1]) pageSession(parts[1]);
    else if (page === 'issues') pageIssues();
    else replace(main, el('h1', null, 'Not found'), el('p', null, 'No such page: ', location.hash));
  }

  async function start() {
    document.getElementById('logout').addEventListener('click', logout);
    window.addEventListener('hashchange', route);
    const first = parseHash().parts[0] || 'fleet';
    if (first === 'fleet') prefetch('/v1/fleet');
    try {
      state.who = expectObject(await getJson('/v1/whoami'), 'GET /v1/whoami');
    } catch (e) {
      state.who = null;
      prefetched.clear();  // asked without a session: useless after the login
      if (!(e instanceof ApiError && e.status === 401)) showError(e.message);
    }
    route();
  }

  start();
})();
