// Kanal live page: the grid cells with vehicles per cell, the active alerts
// and their history, live over the gateway's alert stream.
//
// Plain JavaScript with no build step and nothing from elsewhere: the
// gateway embeds this file and its Content-Security-Policy allows only its
// own origin. The stream is read with fetch() and a stream reader, because
// EventSource cannot send the Authorization header; the page keeps the
// last event id itself and resumes with Last-Event-ID after a drop.
//
// Data flow: GET v1/alerts gives the active alerts and the stream sequence
// S they are current at. The stream is then opened HISTORY_SPAN messages
// before S: the events up to S fill the history only (the snapshot already
// has their effect), later ones change the active alerts too. Vehicle
// counts per cell come from GET v1/cells?bbox= every VEHICLE_POLL_MS
// (operators only); cell geometry for them from page/cells (no login).
'use strict';

(() => {
  const TOKEN_KEY = 'kanal.token';
  const HISTORY_SPAN = 500; // stream messages replayed at the first connection
  const HISTORY_MAX = 200; // history entries kept
  const VEHICLE_POLL_MS = 5000;
  const CLEARED_KEEP_MS = 15 * 60 * 1000; // a cleared alert stays outlined this long
  const STALL_MS = 45000; // nothing read for this long (the server beats every 15 s): reconnect
  const RETRY_MAX_MS = 30000;
  const CELL_CHUNK = 200; // tokens per page/cells request (the server takes 256)
  const WORLD = '-180,-90,180,90';
  const METRES_PER_DEGREE = 111195; // on a sphere of radius 6371 km
  const MIN_SPAN_DEG = 0.02; // the view spans at least about 2 km
  const KIND_ORDER = {breakdown: 0, warning: 1, fog: 2};
  const KIND_NAME = {fog: 'Fog', warning: 'Warning', breakdown: 'Breakdown'};
  const SVG_NS = 'http://www.w3.org/2000/svg';

  // ---------------------------------------------------------------- parsing

  // SSEParser reads a text/event-stream as the WHATWG spec says: lines end
  // with CRLF, LF or CR (also split across chunks), ':' starts a comment,
  // one space after the colon is dropped, data lines join with LF, an event
  // is dispatched at a blank line and only when it has data.
  class SSEParser {
    constructor(onEvent) {
      this.onEvent = onEvent;
      this.buf = '';
      this.skipLF = false; // the last chunk ended in CR: a leading LF belongs to it
      this.data = [];
      this.type = '';
      this.idBuf = '';
      this.lastEventId = '';
      this.retry = 0;
    }

    push(text) {
      if (!text) return;
      if (this.skipLF && text.charCodeAt(0) === 10) text = text.slice(1);
      this.skipLF = false;
      const buf = this.buf + text;
      let start = 0;
      for (let i = 0; i < buf.length; i++) {
        const c = buf.charCodeAt(i);
        if (c !== 10 && c !== 13) continue;
        this.line(buf.slice(start, i));
        if (c === 13) {
          if (i + 1 === buf.length) this.skipLF = true;
          else if (buf.charCodeAt(i + 1) === 10) i++;
        }
        start = i + 1;
      }
      this.buf = buf.slice(start);
    }

    line(l) {
      if (l === '') {
        this.dispatch();
        return;
      }
      if (l[0] === ':') return;
      const k = l.indexOf(':');
      let field = l;
      let value = '';
      if (k >= 0) {
        field = l.slice(0, k);
        value = l.slice(k + 1);
        if (value[0] === ' ') value = value.slice(1);
      }
      switch (field) {
        case 'event': this.type = value; break;
        case 'data': this.data.push(value); break;
        case 'id': if (!value.includes('\0')) this.idBuf = value; break;
        case 'retry': if (/^[0-9]+$/.test(value)) this.retry = Number(value); break;
        default: break; // unknown fields are ignored
      }
    }

    dispatch() {
      this.lastEventId = this.idBuf;
      const data = this.data;
      const type = this.type || 'message';
      this.data = [];
      this.type = '';
      if (data.length === 0) return;
      this.onEvent({type, data: data.join('\n'), id: this.lastEventId});
    }
  }

  // parseFragment reads the URL fragment: token=NAME:PASSWORD and
  // bbox=minLon,minLat,maxLon,maxLat, percent-decoded ('+' stays '+').
  // rest is the fragment without the token, to put back in the address bar.
  function parseFragment(hash) {
    const out = {token: '', bbox: '', rest: ''};
    const keep = [];
    for (const part of String(hash || '').replace(/^#/, '').split('&')) {
      if (!part) continue;
      const eq = part.indexOf('=');
      const key = eq < 0 ? part : part.slice(0, eq);
      let value = eq < 0 ? '' : part.slice(eq + 1);
      try {
        value = decodeURIComponent(value);
      } catch (_) {
        // a stray '%': keep the text as given
      }
      if (key === 'token') {
        out.token = value;
        continue;
      }
      if (key === 'bbox') out.bbox = value;
      keep.push(part);
    }
    out.rest = keep.join('&');
    return out;
  }

  // ---------------------------------------------------------------- geometry

  // niceNumbers are 1, 2, 5 times powers of ten, the steps of scales and
  // graticules.
  function niceNumbers(lo, hi) {
    const out = [];
    for (let e = Math.floor(Math.log10(lo)) - 1; e <= Math.ceil(Math.log10(hi)) + 1; e++) {
      for (const m of [1, 2, 5]) out.push(m * Math.pow(10, e));
    }
    return out;
  }

  // niceScale picks the longest round length (1, 2, 5 × 10^n metres) whose
  // bar is at most maxPx long.
  function niceScale(metresPerPx, maxPx) {
    let best = null;
    for (const m of niceNumbers(1, 1e7)) {
      if (m < 1) continue;
      const px = m / metresPerPx;
      if (px <= maxPx) best = {metres: m, px};
    }
    if (!best) best = {metres: 1, px: 1 / metresPerPx};
    best.label = best.metres < 1000 ? `${best.metres} m` : `${best.metres / 1000} km`;
    return best;
  }

  // niceStep is the graticule's step in degrees: the smallest round step
  // that draws at most maxLines lines over span degrees.
  function niceStep(span, maxLines) {
    for (const s of niceNumbers(1e-4, 90)) {
      if (s >= 1e-4 && span / s <= maxLines) return s;
    }
    return 90;
  }

  // projection maps degrees to pixels: equirectangular around the middle
  // latitude of b (x scaled by its cosine, so shapes keep their aspect
  // there), fitted to a width × height box less the padding.
  function projection(b, width, height, pad) {
    const lat0 = (b.minLat + b.maxLat) / 2;
    const k = Math.cos(lat0 * Math.PI / 180);
    let x0 = b.minLon * k;
    let x1 = b.maxLon * k;
    let y0 = b.minLat;
    let y1 = b.maxLat;
    const grow = (lo, hi) => {
      const d = (MIN_SPAN_DEG - (hi - lo)) / 2;
      return d > 0 ? [lo - d, hi + d] : [lo, hi];
    };
    [x0, x1] = grow(x0, x1);
    [y0, y1] = grow(y0, y1);
    const w = Math.max(1, width - pad.left - pad.right);
    const h = Math.max(1, height - pad.top - pad.bottom);
    const s = Math.min(w / (x1 - x0), h / (y1 - y0));
    const ox = pad.left + (w - (x1 - x0) * s) / 2;
    const oy = pad.top + (h - (y1 - y0) * s) / 2;
    return {
      x: (lon) => ox + (lon * k - x0) * s,
      y: (lat) => oy + (y1 - lat) * s,
      lon: (px) => ((px - ox) / s + x0) / k,
      lat: (py) => y1 - (py - oy) / s,
      metresPerPx: METRES_PER_DEGREE / s,
    };
  }

  // bounds of a list of cell geometries, or null for none.
  function boundsOf(cells) {
    let b = null;
    for (const c of cells) {
      for (const p of c.corners) {
        if (!b) b = {minLat: p.lat, maxLat: p.lat, minLon: p.lon, maxLon: p.lon};
        b.minLat = Math.min(b.minLat, p.lat);
        b.maxLat = Math.max(b.maxLat, p.lat);
        b.minLon = Math.min(b.minLon, p.lon);
        b.maxLon = Math.max(b.maxLon, p.lon);
      }
    }
    return b;
  }

  function parseBBox(s) {
    const v = String(s).split(',').map(Number);
    if (v.length !== 4 || v.some((x) => !Number.isFinite(x)) || v[1] > v[3] || v[0] > v[2]) return null;
    return {minLon: v[0], minLat: v[1], maxLon: v[2], maxLat: v[3]};
  }

  // ---------------------------------------------------------------- state

  const state = {
    token: '',
    bbox: '', // the fragment's bbox=, '' for the world
    role: '', // operator or traffic, once the vehicles endpoint said
    session: null, // AbortController of the logged-in session
    baseSeq: 0, // the sequence of the snapshot of v1/alerts
    lastId: null, // the last stream event id seen
    active: new Map(), // alert id → raised alert
    cleared: new Map(), // alert id → cleared alert (recent ones drawn)
    history: new Map(), // alert id:state → {seq, alert}
    cells: new Map(), // token → {token, centre, corners}
    vehicles: new Map(), // token → {n, online}
    vehiclesAt: 0,
    conn: 'idle',
    note: '',
    hlCell: '',
  };

  class HTTPError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  function authHeaders() {
    return {Authorization: 'Bearer ' + state.token};
  }

  async function errorText(res) {
    try {
      const body = await res.json();
      if (body && body.error) return body.error;
    } catch (_) {
      // not JSON
    }
    return `${res.status} ${res.statusText}`;
  }

  async function getJSON(path, signal, auth) {
    const res = await fetch(path, {headers: auth ? authHeaders() : {}, cache: 'no-store', signal});
    if (!res.ok) throw new HTTPError(res.status, await errorText(res));
    return res.json();
  }

  function withQuery(path, params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v) q.set(k, v);
    const s = q.toString();
    return s ? `${path}?${s}` : path;
  }

  function sleep(ms, signal) {
    return new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      if (signal) signal.addEventListener('abort', () => { clearTimeout(t); resolve(); }, {once: true});
    });
  }

  function backoff(ms) {
    return Math.min(RETRY_MAX_MS, ms) + Math.random() * 500;
  }

  // ---------------------------------------------------------------- alerts

  function rememberCell(g) {
    if (g && g.cell && Array.isArray(g.corners) && g.corners.length === 4 && !state.cells.has(g.cell)) {
      state.cells.set(g.cell, {token: g.cell, centre: g.centre, corners: g.corners});
    }
  }

  // apply changes the active alerts; replayed is true for events the
  // snapshot already includes.
  function apply(a, replayed) {
    if (a.state === 'raised') {
      if (replayed) return;
      state.active.set(a.id, a);
      state.cleared.delete(a.id);
    } else if (a.state === 'cleared') {
      state.active.delete(a.id);
      state.cleared.set(a.id, a);
    }
  }

  function addHistory(seq, a) {
    const key = a.id + ':' + a.state; // the alert's Nats-Msg-Id: one per change
    if (state.history.has(key)) return;
    state.history.set(key, {seq, alert: a});
    if (state.history.size > HISTORY_MAX) {
      const oldest = [...state.history.entries()].sort((x, y) => x[1].seq - y[1].seq);
      for (const [k] of oldest.slice(0, state.history.size - HISTORY_MAX)) state.history.delete(k);
    }
  }

  function onStreamEvent(ev) {
    const seq = Number(ev.id);
    if (ev.type === 'ready') {
      if (ev.id !== '' && Number.isFinite(seq)) state.lastId = seq;
      return;
    }
    if (ev.type !== 'alert') return;
    let a;
    try {
      a = JSON.parse(ev.data);
    } catch (_) {
      return;
    }
    if (!a || typeof a.id !== 'string' || typeof a.kind !== 'string') return;
    if (ev.id !== '' && Number.isFinite(seq)) state.lastId = seq;
    rememberCell(a);
    addHistory(Number.isFinite(seq) ? seq : 0, a);
    apply(a, Number.isFinite(seq) && seq <= state.baseSeq);
    scheduleRender();
  }

  // loadAlerts fetches the active alerts, retrying while the gateway
  // warms up; it throws HTTPError 401/403 for a login that will not do.
  async function loadAlerts(signal) {
    for (let wait = 1000; !signal.aborted; wait *= 2) {
      try {
        const list = await getJSON(withQuery('v1/alerts', {bbox: state.bbox}), signal, true);
        state.active.clear();
        for (const a of list.alerts || []) {
          state.active.set(a.id, a);
          rememberCell(a);
        }
        state.baseSeq = Number(list.seq) || 0;
        state.lastId = Math.max(0, state.baseSeq - HISTORY_SPAN);
        return;
      } catch (e) {
        if (signal.aborted) return;
        if (e instanceof HTTPError && (e.status === 401 || e.status === 403)) throw e;
        setConn('connecting', 'Waiting for the gateway: ' + e.message);
        await sleep(backoff(wait), signal);
      }
    }
  }

  // streamLoop follows v1/alerts/stream until the session ends,
  // reconnecting after a drop with Last-Event-ID.
  async function streamLoop(signal) {
    let wait = 2000;
    while (!signal.aborted) {
      const ctl = new AbortController();
      const stop = () => ctl.abort();
      signal.addEventListener('abort', stop, {once: true});
      let lastRead = Date.now();
      const watchdog = setInterval(() => {
        if (Date.now() - lastRead > STALL_MS) ctl.abort();
      }, 5000);
      let parser = null;
      try {
        const headers = authHeaders();
        headers.Accept = 'text/event-stream';
        if (state.lastId !== null) headers['Last-Event-ID'] = String(state.lastId);
        const res = await fetch(withQuery('v1/alerts/stream', {bbox: state.bbox}), {headers, cache: 'no-store', signal: ctl.signal});
        if (res.status === 401) {
          logout('The gateway no longer accepts this login.');
          return;
        }
        if (!res.ok || !res.body) throw new HTTPError(res.status, await errorText(res));
        setConn('live', '');
        wait = 2000;
        parser = new SSEParser(onStreamEvent);
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        for (;;) {
          const {value, done} = await reader.read();
          if (done) break;
          lastRead = Date.now();
          parser.push(value);
        }
      } catch (e) {
        if (signal.aborted) return;
        state.note = e instanceof HTTPError ? 'Alert stream: ' + e.message : '';
      } finally {
        clearInterval(watchdog);
        signal.removeEventListener('abort', stop);
      }
      if (signal.aborted) return;
      setConn('reconnecting', state.note);
      if (parser && parser.retry) wait = Math.max(wait, parser.retry);
      await sleep(backoff(wait), signal);
      wait *= 2;
    }
  }

  // ---------------------------------------------------------------- vehicles

  async function ensureCells(tokens, signal) {
    const missing = tokens.filter((t) => !state.cells.has(t));
    for (let i = 0; i < missing.length; i += CELL_CHUNK) {
      const chunk = missing.slice(i, i + CELL_CHUNK);
      const list = await getJSON(withQuery('page/cells', {tokens: chunk.join(',')}), signal, false);
      for (const c of list.cells || []) state.cells.set(c.token, c);
    }
  }

  // pruneCells forgets the geometry of cells nothing refers to any more,
  // so a page left open for days does not keep every cell it ever saw.
  function pruneCells() {
    const keep = new Set(state.vehicles.keys());
    for (const a of state.active.values()) keep.add(a.cell);
    for (const a of state.cleared.values()) keep.add(a.cell);
    for (const h of state.history.values()) keep.add(h.alert.cell);
    for (const token of state.cells.keys()) if (!keep.has(token)) state.cells.delete(token);
  }

  async function pollVehicles(signal) {
    while (!signal.aborted) {
      try {
        // counts per cell only: a fleet's whole vehicle list would be megabytes
        const list = await getJSON(withQuery('v1/cells', {bbox: state.bbox || WORLD}), signal, true);
        const counts = new Map();
        for (const c of list.cells || []) counts.set(c.cell, {n: c.vehicles, online: c.online});
        await ensureCells([...counts.keys()], signal);
        state.vehicles = counts;
        pruneCells();
        state.vehiclesAt = Date.now();
        setRole('operator');
      } catch (e) {
        if (signal.aborted) return;
        if (e instanceof HTTPError && e.status === 403) {
          setRole('traffic');
          state.vehicles = new Map();
          scheduleRender();
          return; // a traffic login sees the alerts only
        }
        if (e instanceof HTTPError && e.status === 401) {
          logout('The gateway no longer accepts this login.');
          return;
        }
        // 503 while the gateway catches up, or the network: next round
      }
      scheduleRender();
      await sleep(VEHICLE_POLL_MS, signal);
    }
  }

  // ---------------------------------------------------------------- session

  function setConn(conn, note) {
    state.conn = conn;
    if (note !== undefined) state.note = note;
    scheduleRender();
  }

  function setRole(role) {
    if (state.role === role) return;
    state.role = role;
    document.body.dataset.role = role;
    scheduleRender();
  }

  function resetData() {
    state.baseSeq = 0;
    state.lastId = null;
    state.active.clear();
    state.cleared.clear();
    state.history.clear();
    state.vehicles = new Map();
    state.role = '';
    document.body.dataset.role = '';
  }

  // begin starts a session with state.token; a refused login returns to
  // the form with the reason.
  async function begin() {
    if (state.session) state.session.abort();
    const session = new AbortController();
    state.session = session;
    resetData();
    document.body.dataset.auth = 'checking';
    setConn('connecting', '');
    hideLogin();
    try {
      await loadAlerts(session.signal);
    } catch (e) {
      if (session.signal.aborted) return;
      const msg = e.status === 403 ? `This user may not read alerts (${e.message}).` : 'Wrong user name or password.';
      logout(msg);
      return;
    }
    if (session.signal.aborted) return;
    sessionStorage.setItem(TOKEN_KEY, state.token);
    document.body.dataset.auth = 'ok';
    scheduleRender();
    streamLoop(session.signal);
    pollVehicles(session.signal);
  }

  function logout(message) {
    if (state.session) state.session.abort();
    state.session = null;
    state.token = '';
    sessionStorage.removeItem(TOKEN_KEY);
    resetData();
    document.body.dataset.auth = 'none';
    setConn('idle', '');
    showLogin(message || '');
  }

  function showLogin(message) {
    const err = $('#login-error');
    err.textContent = message;
    err.hidden = !message;
    $('#login').hidden = false;
    $('#login-name').focus();
  }

  function hideLogin() {
    $('#login').hidden = true;
  }

  function onLoginSubmit(e) {
    e.preventDefault();
    const name = $('#login-name').value.trim();
    const password = $('#login-password').value;
    if (!name || !password) return;
    $('#login-password').value = '';
    state.token = name + ':' + password;
    begin();
  }

  // ---------------------------------------------------------------- render

  const $ = (sel) => document.querySelector(sel);

  let renderTimer = 0;
  function scheduleRender() {
    if (!renderTimer) renderTimer = setTimeout(() => { renderTimer = 0; render(); }, 40);
  }

  function render() {
    pruneCleared();
    renderSession();
    renderMap();
    renderLists();
  }

  function pruneCleared() {
    const now = Date.now();
    for (const [id, a] of state.cleared) {
      if (now - Date.parse(a.published) > CLEARED_KEEP_MS) state.cleared.delete(id);
    }
  }

  const two = (n) => String(n).padStart(2, '0');
  function hms(iso) {
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return '--:--:--';
    return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
  }

  function hm(iso) {
    return hms(iso).slice(0, 5);
  }

  function plural(n, one, many) {
    return `${n} ${n === 1 ? one : many}`;
  }

  function alertTitle(a) {
    switch (a.kind) {
      case 'fog': return a.state === 'cleared' ? 'Fog' : `Fog · ${plural(a.count || 0, 'vehicle', 'vehicles')}`;
      case 'warning': return `Warning · ${a.lamp || 'lamp'}`;
      case 'breakdown': return 'Breakdown';
      default: return a.kind;
    }
  }

  // lasted says how long a cleared alert's episode was up, when the page
  // saw it raised.
  function lasted(a) {
    const raised = state.history.get(a.id + ':raised');
    if (!raised) return '';
    const s = Math.round((Date.parse(a.published) - Date.parse(raised.alert.published)) / 1000);
    if (!(s >= 0)) return '';
    return s < 120 ? `after ${s} s` : s < 7200 ? `after ${Math.round(s / 60)} min` : `after ${Math.round(s / 3600)} h`;
  }

  function alertDetail(a) {
    if (a.state === 'cleared') return a.kind === 'warning' && a.lamp ? `${a.lamp} ${lasted(a)}`.trim() : lasted(a);
    switch (a.kind) {
      case 'fog': {
        const c = a.corroboration;
        // No-break spaces keep a number with its unit on one line.
        return c ? `wipers\u00a0${Math.round(c.wipers * 100)}\u00a0% · below 50\u00a0km/h ${Math.round(c.low_speed * 100)}\u00a0%` : '';
      }
      case 'warning': return 'a vehicle reports its warning lamp on';
      case 'breakdown': return 'a vehicle stopped with hazard lights on';
      default: return '';
    }
  }

  function markerLabel(a) {
    switch (a.kind) {
      case 'fog': return a.count ? `Fog ${a.count}` : 'Fog';
      case 'warning': return a.lamp || 'Warning';
      case 'breakdown': return 'Breakdown';
      default: return a.kind;
    }
  }

  function renderSession() {
    const conn = $('#conn');
    const labels = {idle: 'offline', connecting: 'connecting…', live: 'live', reconnecting: 'reconnecting…'};
    conn.dataset.state = state.conn;
    conn.textContent = labels[state.conn] || state.conn;
    const who = $('#who');
    const name = state.token ? state.token.split(':')[0] : '';
    who.hidden = !name;
    who.textContent = state.role ? `${name} · ${state.role}` : name;
    $('#logout').hidden = !state.token;
    const note = $('#note');
    let text = state.note;
    if (!text && state.role === 'traffic') text = 'Vehicle counts need an operator login: this one sees the alerts.';
    note.textContent = text;
    note.hidden = !text;
    const byKind = {fog: 0, warning: 0, breakdown: 0};
    for (const a of state.active.values()) byKind[a.kind] = (byKind[a.kind] || 0) + 1;
    let vehicles = 0;
    for (const c of state.vehicles.values()) vehicles += c.n;
    const parts = [
      ['fog', plural(byKind.fog, 'fog cell', 'fog cells')],
      ['warning', plural(byKind.warning, 'warning', 'warnings')],
      ['breakdown', plural(byKind.breakdown, 'breakdown', 'breakdowns')],
    ];
    if (state.role === 'operator') parts.push(['vehicles', `${plural(vehicles, 'vehicle', 'vehicles')} in ${plural(state.vehicles.size, 'cell', 'cells')}`]);
    const summary = $('#summary');
    summary.replaceChildren(...parts.map(([kind, text]) => {
      const s = el('span', {class: 'stat ' + kind, 'data-stat': kind});
      s.textContent = text;
      return s;
    }));
    $('#updated').textContent = state.vehiclesAt ? 'vehicles at ' + hms(new Date(state.vehiclesAt).toISOString()) : '';
  }

  function el(tag, attrs, ns) {
    const e = ns ? document.createElementNS(ns, tag) : document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) if (v !== undefined && v !== null && v !== '') e.setAttribute(k, String(v));
    return e;
  }

  const svgEl = (tag, attrs) => el(tag, attrs, SVG_NS);

  function withTitle(node, text) {
    const t = svgEl('title');
    t.textContent = text;
    node.appendChild(t);
    return node;
  }

  // drawn returns what the map shows: cells with vehicles, and the active
  // and recently cleared alerts, each with the geometry of its cell.
  function drawn() {
    const cells = new Map();
    const add = (token) => {
      const g = state.cells.get(token);
      if (g && !cells.has(token)) cells.set(token, g);
      return g;
    };
    const vehicles = [];
    for (const [token, c] of state.vehicles) if (add(token)) vehicles.push({token, ...c});
    const active = [...state.active.values()].filter((a) => add(a.cell));
    const activeKinds = new Set(active.map((a) => a.kind + ':' + a.cell));
    const cleared = [...state.cleared.values()].filter((a) => !activeKinds.has(a.kind + ':' + a.cell) && add(a.cell));
    return {cells, vehicles, active, cleared};
  }

  function points(P, g) {
    return g.corners.map((p) => `${P.x(p.lon).toFixed(1)},${P.y(p.lat).toFixed(1)}`).join(' ');
  }

  function renderMap() {
    const svg = $('#map');
    const width = svg.clientWidth;
    const height = svg.clientHeight;
    const d = drawn();
    svg.dataset.cells = String(d.cells.size);
    const box = parseBBox(state.bbox);
    $('#empty').hidden = d.cells.size > 0 || !state.token;
    if (!width || !height) return;
    svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
    const b = box || boundsOf(d.cells.values());
    if (!b) {
      svg.replaceChildren();
      return;
    }
    const P = projection(b, width, height, {left: 64, right: 40, top: 44, bottom: 84});
    const layers = ['graticule', 'cells', 'cleared', 'alerts', 'labels', 'scale'].map((id) => svgEl('g', {id: 'layer-' + id}));
    const [grat, cellLayer, clearedLayer, alertLayer, labelLayer, scaleLayer] = layers;
    drawGraticule(grat, P, width, height);

    let max = 1;
    for (const v of d.vehicles) max = Math.max(max, v.n);
    for (const v of d.vehicles) {
      const g = state.cells.get(v.token);
      const poly = svgEl('polygon', {
        class: 'cell', points: points(P, g), 'data-cell': v.token, 'data-vehicles': v.n,
        'fill-opacity': (0.12 + 0.3 * (v.n / max)).toFixed(2),
      });
      cellLayer.appendChild(withTitle(poly, `cell ${v.token}: ${plural(v.n, 'vehicle', 'vehicles')} (${v.online} online)`));
    }
    const perCell = new Map();
    const mark = (a) => {
      if (!perCell.has(a.cell)) perCell.set(a.cell, []);
      perCell.get(a.cell).push(a);
    };
    for (const a of d.cleared) {
      mark(a);
      const g = state.cells.get(a.cell);
      const poly = svgEl('polygon', {
        class: `alert-cell cleared ${a.kind}`, points: points(P, g), 'data-alert-kind': a.kind,
        'data-state': 'cleared', 'data-cell': a.cell, 'data-alert-id': a.id,
      });
      clearedLayer.appendChild(withTitle(poly, `${alertTitle(a)} cleared ${hms(a.published)} · cell ${a.cell}`));
    }
    const sorted = [...d.active].sort((x, y) => (KIND_ORDER[y.kind] ?? 9) - (KIND_ORDER[x.kind] ?? 9));
    for (const a of sorted) {
      const g = state.cells.get(a.cell);
      const poly = svgEl('polygon', {
        class: `alert-cell raised ${a.kind}`, points: points(P, g), 'data-alert-kind': a.kind,
        'data-state': 'raised', 'data-cell': a.cell, 'data-alert-id': a.id, 'data-lamp': a.lamp,
      });
      alertLayer.appendChild(withTitle(poly, `${alertTitle(a)} since ${hms(a.published)} · cell ${a.cell}`));
      mark(a);
    }
    for (const v of d.vehicles) {
      const g = state.cells.get(v.token);
      drawCount(labelLayer, P.x(g.centre.lon), P.y(g.centre.lat), v);
    }
    for (const [token, list] of perCell) {
      const g = state.cells.get(token);
      const x = P.x(g.centre.lon);
      let y = P.y(g.centre.lat) - (state.vehicles.has(token) ? 30 : 0);
      // Bottom up: the active alerts nearest the centre, breakdowns first.
      const rank = (a) => (a.state === 'raised' ? 0 : 10) + (KIND_ORDER[a.kind] ?? 9);
      list.sort((p, q) => rank(p) - rank(q));
      for (const a of list) {
        drawMarker(labelLayer, x, y, a);
        y -= 26;
      }
    }
    drawScale(scaleLayer, P, width, height);
    svg.replaceChildren(...layers);
    highlight();
  }

  function drawCount(layer, x, y, v) {
    const g = svgEl('g', {class: 'count', 'data-cell': v.token, 'data-vehicles': v.n, transform: `translate(${x.toFixed(1)},${y.toFixed(1)})`});
    g.appendChild(svgEl('circle', {r: v.n > 99 ? 17 : 13}));
    const t = svgEl('text', {'text-anchor': 'middle', dy: '0.35em'});
    t.textContent = String(v.n);
    g.appendChild(t);
    layer.appendChild(withTitle(g, `${plural(v.n, 'vehicle', 'vehicles')} in cell ${v.token}`));
  }

  function drawMarker(layer, x, y, a) {
    const g = svgEl('g', {
      class: `marker ${a.kind} ${a.state}`, 'data-alert-kind': a.kind, 'data-state': a.state, 'data-cell': a.cell,
      'data-lamp': a.lamp, 'data-alert-id': a.id,
    });
    const label = a.state === 'cleared' ? `${KIND_NAME[a.kind] || a.kind} cleared ${hm(a.published)}` : markerLabel(a);
    const t = svgEl('text', {x: 24, y: 0, dy: '0.35em'});
    t.textContent = label;
    const w = 33 + textWidth(label, '600 12.5px');
    g.appendChild(svgEl('rect', {x: 0, y: -11, width: w.toFixed(1), height: 22, rx: 11}));
    g.appendChild(svgEl('use', {href: '#i-' + a.kind, x: 5, y: -8, width: 16, height: 16}));
    g.appendChild(t);
    g.setAttribute('transform', `translate(${(x - w / 2).toFixed(1)},${y.toFixed(1)})`);
    const when = a.state === 'cleared' ? `cleared ${hms(a.published)}` : `since ${hms(a.published)}`;
    layer.appendChild(withTitle(g, `${alertTitle(a)} · cell ${a.cell} · ${when}`));
  }

  // textWidth measures a label in the page's font, so a marker's pill
  // fits its text (the SVG is built off-screen, where text has no size).
  let measure = null;
  function textWidth(text, font) {
    if (!measure) measure = document.createElement('canvas').getContext('2d');
    measure.font = `${font} ${getComputedStyle(document.body).fontFamily}`;
    return measure.measureText(text).width;
  }

  // legendTop is the map's y where the legend starts: latitude labels
  // below it would hide behind it.
  function legendTop(svg) {
    const legend = $('#legend');
    if (!legend || legend.hidden) return Infinity;
    return legend.getBoundingClientRect().top - svg.getBoundingClientRect().top;
  }

  function drawGraticule(layer, P, width, height) {
    const lonMin = P.lon(0);
    const lonMax = P.lon(width);
    const latMax = P.lat(0);
    const latMin = P.lat(height);
    const step = niceStep(Math.max(latMax - latMin, (lonMax - lonMin) / 2), 8);
    const dec = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
    const fmt = (v, pos, neg) => `${Math.abs(v).toFixed(dec)}°${v >= 0 ? pos : neg}`;
    const labelsEnd = legendTop($('#map')) - 6;
    for (let lat = Math.ceil(latMin / step) * step; lat <= latMax; lat += step) {
      const y = P.y(lat);
      layer.appendChild(svgEl('line', {x1: 0, x2: width, y1: y.toFixed(1), y2: y.toFixed(1)}));
      if (y - 4 > labelsEnd || y < 28) continue;
      const t = svgEl('text', {x: 8, y: (y - 4).toFixed(1), class: 'grat-label'});
      t.textContent = fmt(lat, 'N', 'S');
      layer.appendChild(t);
    }
    const lonStep = step * 2 >= (lonMax - lonMin) / 4 ? step : step * 2;
    for (let lon = Math.ceil(lonMin / lonStep) * lonStep; lon <= lonMax; lon += lonStep) {
      const x = P.x(lon);
      layer.appendChild(svgEl('line', {x1: x.toFixed(1), x2: x.toFixed(1), y1: 0, y2: height}));
      const t = svgEl('text', {x: (x + 4).toFixed(1), y: 16, class: 'grat-label'});
      t.textContent = fmt(lon, 'E', 'W');
      layer.appendChild(t);
    }
  }

  function drawScale(layer, P, width, height) {
    const s = niceScale(P.metresPerPx, Math.min(180, width / 4));
    const x1 = width - 28;
    const x0 = x1 - s.px;
    const y = height - 28;
    layer.setAttribute('data-metres', String(s.metres));
    layer.appendChild(svgEl('path', {class: 'scale-bar', d: `M${x0.toFixed(1)},${y - 6}v6H${x1.toFixed(1)}v-6`}));
    const t = svgEl('text', {x: ((x0 + x1) / 2).toFixed(1), y: y - 12, 'text-anchor': 'middle', class: 'scale-label'});
    t.textContent = s.label;
    layer.appendChild(t);
  }

  function highlight() {
    for (const n of document.querySelectorAll('.hl')) n.classList.remove('hl');
    if (!state.hlCell) return;
    for (const n of document.querySelectorAll(`#map [data-cell="${CSS.escape(state.hlCell)}"]`)) n.classList.add('hl');
  }

  function alertItem(a, seq) {
    const li = el('li', {
      class: `alert ${a.kind} ${a.state}`, 'data-alert-kind': a.kind, 'data-state': a.state, 'data-cell': a.cell,
      'data-alert-id': a.id, 'data-lamp': a.lamp, 'data-seq': seq,
    });
    const icon = svgEl('svg', {class: 'icon ' + a.kind, 'aria-hidden': 'true'});
    icon.appendChild(svgEl('use', {href: '#i-' + a.kind}));
    const body = el('div', {class: 'body'});
    const title = el('div', {class: 'title'});
    title.textContent = alertTitle(a);
    const meta = el('div', {class: 'meta'});
    meta.textContent = [`cell ${a.cell || '—'}`, alertDetail(a)].filter(Boolean).join(' · ');
    body.append(title, meta);
    const time = el('time', {datetime: a.published, title: `vehicles reported ${a.first} to ${a.last}`});
    time.textContent = hms(a.published);
    if (seq === undefined) {
      li.append(icon, body, time);
    } else {
      const st = el('span', {class: 'state ' + a.state});
      st.textContent = a.state;
      li.append(time, st, icon, body);
    }
    return li;
  }

  function renderLists() {
    const active = [...state.active.values()].sort((x, y) =>
      (KIND_ORDER[x.kind] ?? 9) - (KIND_ORDER[y.kind] ?? 9) || Date.parse(y.published) - Date.parse(x.published));
    $('#active').replaceChildren(...active.map((a) => alertItem(a)));
    $('#active-count').textContent = String(active.length);
    $('#active-none').hidden = active.length > 0 || !state.token;
    const hist = [...state.history.values()].sort((x, y) => y.seq - x.seq);
    $('#history').replaceChildren(...hist.map((h) => alertItem(h.alert, h.seq)));
    $('#history-none').hidden = hist.length > 0 || !state.token;
  }

  function onHover(e) {
    const li = e.target.closest ? e.target.closest('li[data-cell]') : null;
    const cell = li ? li.dataset.cell : '';
    if (cell === state.hlCell) return;
    state.hlCell = cell;
    highlight();
  }

  // ---------------------------------------------------------------- start

  function start() {
    const frag = parseFragment(location.hash);
    state.bbox = parseBBox(frag.bbox) ? frag.bbox : '';
    if (frag.token) {
      // The fragment never reaches a server; take it off the address bar
      // too, so the password is not left on screen or in a copied link.
      history.replaceState(null, '', location.pathname + location.search + (frag.rest ? '#' + frag.rest : ''));
    }
    $('#login-form').addEventListener('submit', onLoginSubmit);
    $('#logout').addEventListener('click', () => logout(''));
    for (const id of ['#active', '#history']) {
      $(id).addEventListener('mouseover', onHover);
      $(id).addEventListener('mouseleave', onHover);
    }
    window.addEventListener('resize', scheduleRender);
    setInterval(scheduleRender, 30000); // cleared alerts fade out
    state.token = frag.token || sessionStorage.getItem(TOKEN_KEY) || '';
    if (state.token) begin();
    else showLogin('');
    scheduleRender();
  }

  // KanalPage exposes the page's pure parts for the browser tests.
  window.KanalPage = {SSEParser, parseFragment, niceScale, niceStep, projection, state};
  start();
})();
