// plate-resort web panel: the carousel and the fleet, live over MQTT 5 on
// the broker's own WebSocket listener. The contract it reads and writes is
// topics.md in the repository; the broker's roles decide what it may do.
//
// Rule for this file: every string that comes from MQTT reaches the page
// through textContent or a non-URL attribute, never as HTML (MDN:
// Node.textContent, "Security considerations" of Element.innerHTML).

import mqtt from './vendor/mqtt.esm.js';

const $ = (id) => document.getElementById(id);
const SVG = 'http://www.w3.org/2000/svg';

// el builds an element; string children become text nodes, never markup.
function el(tag, attrs, ...children) {
  const e = tag.startsWith('svg:') ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== undefined && v !== null && v !== false) e.setAttribute(k, String(v));
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    e.append(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
  }
  return e;
}

// Error codes of a reply in words (topics.md, "Error codes").
const CODE_WORDS = {
  bad_request: 'the device could not read the command',
  unknown_command: 'the device does not know this command',
  invalid_argument: 'a value is not allowed',
  not_connected: 'the servo is not connected',
  queue_full: 'the device is busy: too many commands waiting',
  estop_latched: 'the emergency stop is latched: press Reset first',
  estopped: 'stopped by the emergency stop',
  cancelled: 'cancelled',
  expired: 'expired before it could run',
  timeout: 'did not reach its target',
  hardware_error: 'the servo reports a hardware error',
  serial_error: 'no or a corrupt answer from the servo',
  internal: 'an internal error in the agent',
  interrupted: 'the agent stopped while this ran',
  locked: 'the carousel is locked by someone else',
};

// MQTT 5 reason codes a broker may answer a CONNECT or a PUBLISH with
// (MQTT 5.0 §3.2.2.2 CONNACK and §3.4.2.1 PUBACK reason codes).
const REASON_WORDS = {
  0x80: 'unspecified error',
  0x84: 'unsupported protocol version',
  0x85: 'this client id is not allowed',
  0x86: 'wrong user name or password',
  0x87: 'not authorized',
  0x88: 'the broker is unavailable',
  0x89: 'the broker is busy',
  0x8a: 'banned',
  0x90: 'topic name invalid',
  0x95: 'message too large',
  0x97: 'too many connections for this user',
  0x99: 'payload format invalid',
};

const LABELS = {
  activate_hotel: 'Turn to hotel', move_to_angle: 'Move', go_home: 'Go home', set_speed: 'Set speed',
  stop: 'Stop', reset: 'Reset', emergency_stop: 'Emergency stop', get_position: 'Position',
  get_events: 'Events',
};

const st = {
  prefix: 'plate-resort',
  client: null,
  user: '',            // '' when anonymous
  sid: Math.random().toString(36).slice(2, 10),
  seq: 0,
  devices: new Map(),  // id -> device record
  pending: new Map(),  // correlation -> {device, command, label, out, at}
  view: 'login',
  device: null,        // id shown on the device page
  dirty: false,
};

function device(id) {
  let d = st.devices.get(id);
  if (!d) {
    d = { id, availability: null, info: null, state: null, health: null, events: [], may: null, eventsAsked: false };
    st.devices.set(id, d);
  }
  return d;
}

// ---- connection -------------------------------------------------------

function responseOwner() { return st.user || 'anonymous'; }

function wsURL() {
  // wss:// when the page came over TLS (mixed content is blocked: MDN,
  // "Mixed content"); the broker serves MQTT on any upgraded path.
  return (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/mqtt';
}

async function login(ev) {
  ev.preventDefault();
  const user = $('login-user').value.trim();
  const pass = $('login-pass').value;
  const err = $('login-error');
  err.textContent = '';
  if (/[+#/]/.test(user)) {
    err.textContent = 'A user name with "/", "+" or "#" cannot be used here (it names a topic level).';
    return;
  }
  try {
    const r = await fetch('config.json', { cache: 'no-store' });
    if (r.ok) st.prefix = (await r.json()).prefix || st.prefix;
  } catch (_) { /* keep the default prefix */ }
  $('login-submit').disabled = true;
  setConn('connecting…');
  st.user = user;
  const client = mqtt.connect(wsURL(), {
    protocolVersion: 5,
    clientId: 'panel-' + st.sid,
    username: user || undefined,
    password: user || pass ? pass : undefined,
    clean: true,
    connectTimeout: 10000,
    // No automatic retry until the first login worked: a wrong password
    // must end in a message, not in a loop of refused CONNECTs.
    reconnectPeriod: 0,
  });
  let connected = false;
  client.on('connect', () => {
    connected = true;
    client.options.reconnectPeriod = 2000;
    st.client = client;
    $('login-submit').disabled = false;
    $('login-pass').value = '';
    setConn('connected as ' + (user || 'anonymous'));
    $('logout').hidden = false;
    subscribe();
    for (const d of st.devices.values()) d.may = null;
    route();
  });
  client.on('error', (e) => {
    if (connected) return;
    const code = e && e.code;
    err.textContent = typeof code === 'number' && REASON_WORDS[code]
      ? 'The broker refused the login: ' + REASON_WORDS[code] + ' (0x' + code.toString(16) + ').'
      : 'Cannot log in: ' + ((e && e.message) || 'unknown error') + '.';
  });
  client.on('close', () => {
    if (!connected) {
      $('login-submit').disabled = false;
      if (!err.textContent) err.textContent = 'Cannot reach the broker at ' + wsURL() + '.';
      setConn('not connected');
      client.end(true);
      return;
    }
    setConn('connection lost: reconnecting…');
  });
  client.on('reconnect', () => setConn('reconnecting…'));
  client.on('message', onMessage);
}

function logout() {
  if (st.client) st.client.end(true);
  st.client = null;
  st.devices.clear();
  st.pending.clear();
  $('logout').hidden = true;
  setConn('not connected');
  location.hash = '#/';
  show('login');
}

function setConn(text) { $('conn').textContent = text; }

function subscribe() {
  const p = st.prefix;
  const filters = ['availability', 'info', 'state', 'health', 'event'].map((l) => `${p}/+/${l}`);
  filters.push(`${p}/responses/${responseOwner()}/+/panel-${st.sid}`);
  st.client.subscribe(filters, { qos: 1 }, (e, granted) => {
    const refused = (granted || []).filter((g) => g.qos >= 0x80);
    if (e || refused.length) setConn('connected, but the broker refused to show ' + (refused.map((g) => g.topic).join(', ') || 'the topics'));
  });
}

// ---- inbound ----------------------------------------------------------

function onMessage(topic, payload, packet) {
  const rest = topic.startsWith(st.prefix + '/') ? topic.slice(st.prefix.length + 1) : null;
  if (rest === null) return;
  const [id, level, ...more] = rest.split('/');
  if (id === 'responses') { onResponse(packet, payload); return; }
  // Device ids never start with "_": those are system topics (_fleet, _bridge).
  if (!id || id.startsWith('_') || more.length) return;
  const text = new TextDecoder().decode(payload);
  const d = device(id);
  if (level === 'availability') {
    d.availability = text;
  } else {
    let v;
    try { v = text === '' ? null : JSON.parse(text); } catch (_) { return; }
    if (level === 'event') {
      if (v && typeof v === 'object') addEvents(d, [v]);
    } else if (level === 'info' || level === 'state' || level === 'health') {
      d[level] = v && typeof v === 'object' ? v : null;
      if (level === 'info') d.hotelsKey = null;
    }
  }
  if (st.client && d.may === null && d.info) probe(d);
  maybeAskEvents(d);
  redraw();
}

function addEvents(d, list) {
  for (const e of list) {
    if (!e || typeof e !== 'object') continue;
    const key = [e.at, e.type, e.id, e.command].join('|');
    if (d.events.some((x) => x.key === key)) continue;
    d.events.push({ key, e });
  }
  d.events.sort((a, b) => String(a.e.at).localeCompare(String(b.e.at)));
  if (d.events.length > 50) d.events.splice(0, d.events.length - 50);
}

function onResponse(packet, payload) {
  const cd = packet.properties && packet.properties.correlationData;
  const corr = cd ? new TextDecoder().decode(cd) : '';
  const p = st.pending.get(corr);
  if (!p) return;
  if (!p.multi) st.pending.delete(corr);
  let r;
  try { r = JSON.parse(new TextDecoder().decode(payload)); } catch (_) { r = null; }
  if (p.onReply) p.onReply(r);
  if (p.line) say(p.line, replyText(p, r), r && r.status === 'ok' ? 'ok' : 'bad');
}

function num(v, digits = 1) { return typeof v === 'number' && isFinite(v) ? v.toFixed(digits) : '–'; }

function replyText(p, r) {
  const head = `${p.label} (${p.device})`;
  if (!r || typeof r !== 'object') return `${head}: unreadable reply.`;
  const res = r.result && typeof r.result === 'object' ? r.result : {};
  if (r.status === 'ok') {
    let detail = 'done';
    if (typeof res.final_angle === 'number') detail = `done, at ${num(res.final_angle)}°` + (res.hotel ? ` (hotel ${res.hotel})` : '');
    else if (p.command === 'emergency_stop') detail = 'torque off, latched until Reset';
    else if (p.command === 'reset') detail = res.was_latched ? 'emergency stop cleared' : 'nothing was latched';
    else if (p.command === 'set_speed' && res.speed) detail = `speed ${res.speed}`;
    else if (p.command === 'stop') detail = 'stopped, holding position';
    return `${head}: ${detail}${r.duplicate ? ' (repeat of an earlier command)' : ''}.`;
  }
  const e = r.error && typeof r.error === 'object' ? r.error : {};
  const code = String(e.code || 'error');
  const words = CODE_WORDS[code] || 'failed';
  return `${head}: ${words} [${code}]` + (e.message ? `: ${e.message}` : '.');
}

// Each command gets its own line in a short list (newest first), updated in
// place from "sent…" to its reply, so a reply that arrives later (the move an
// emergency stop interrupted) never hides another.
function line(out) {
  const o = typeof out === 'string' ? $(out) : out;
  const li = el('li', {});
  o.prepend(li);
  while (o.children.length > 4) o.lastChild.remove();
  return li;
}

function say(li, text, cls) {
  li.textContent = text;
  li.className = cls || '';
}

// ---- outbound ---------------------------------------------------------

// send publishes one command as an MQTT 5 request: Response Topic under
// <prefix>/responses/<user>/<device>/ (topics.md, "Response topics") and
// Correlation Data (MQTT 5.0 §4.10), QoS 1 so a refusal by the broker comes
// back as a PUBACK reason code (MQTT 5.0 §3.4.2.1, 0x87 Not authorized).
function send(deviceId, command, params, opts = {}) {
  const out = opts.out === undefined ? 'dev-reply' : opts.out;
  const label = opts.label || LABELS[command] || command;
  if (!st.client || !st.client.connected) {
    if (out) say(line(out), `${label} (${deviceId}): not connected to the broker.`, 'bad');
    return;
  }
  const n = ++st.seq;
  const corr = `${st.sid}-${n}`;
  const body = Object.assign({ id: `panel-${corr}` }, params || {});
  const p = { device: deviceId, command, label, line: out ? line(out) : null, onReply: opts.onReply };
  st.pending.set(corr, p);
  if (p.line) say(p.line, `${label} (${deviceId}): sent…`, '');
  const topic = `${st.prefix}/${deviceId}/cmd/${command}`;
  st.client.publish(topic, JSON.stringify(body), {
    qos: 1,
    properties: {
      responseTopic: `${st.prefix}/responses/${responseOwner()}/${deviceId}/panel-${st.sid}`,
      correlationData: new TextEncoder().encode(corr),
      contentType: 'application/json',
    },
  }, (e) => {
    if (!e) return;
    st.pending.delete(corr);
    const code = e.code;
    const why = REASON_WORDS[code] ? `${REASON_WORDS[code]} (0x${code.toString(16)})` : e.message;
    if (opts.onRefused) opts.onRefused(code);
    if (p.line) say(p.line, `${label} (${deviceId}): refused by the broker: ${why}.`, 'bad');
  });
  setTimeout(() => {
    if (st.pending.delete(corr) && p.line) say(p.line, `${label} (${deviceId}): no reply within ${opts.timeoutS || 90} s (is the agent online?).`, 'bad');
  }, (opts.timeoutS || 90) * 1000);
}

// probe asks the broker whether this user may command a device: the broker
// does not tell a client its role, but it answers every QoS 1 publish with a
// reason code. A get_position moves nothing, and its reply is the position.
function probe(d) {
  d.may = 'checking';
  send(d.id, 'get_position', {}, {
    out: null, timeoutS: 30,
    onReply: () => { d.may = true; redraw(); },
    onRefused: () => { d.may = false; redraw(); },
  });
  // A broker with no agent listening still acknowledges (0x10 No matching
  // subscribers is a success): the publish was allowed.
  setTimeout(() => { if (d.may === 'checking') { d.may = true; redraw(); } }, 3000);
}

function maybeAskEvents(d) {
  if (d.eventsAsked || !st.client || !d.info || !Array.isArray(d.info.commands)) return;
  if (!d.info.commands.some((c) => c && c.name === 'get_events')) return;
  d.eventsAsked = true;
  send(d.id, 'get_events', { limit: 20 }, {
    out: null,
    onReply: (r) => {
      const ev = r && r.result && Array.isArray(r.result.events) ? r.result.events : [];
      addEvents(d, ev);
      redraw();
    },
  });
}

function estop() {
  // When the stop was pressed, in the page's clock (ms since the epoch), for
  // the browser test's click → torque-off split.
  window.plateResortPanel.lastEStopAt = performance.timeOrigin + performance.now();
  if (st.view === 'device' && st.device) {
    send(st.device, 'emergency_stop', {}, { out: 'dev-reply' });
    return;
  }
  // Fleet-wide stop: one publish on <prefix>/_fleet/cmd/emergency_stop, which
  // every agent obeys on its urgent path (topics.md, "Fleet commands"). The
  // Response Topic <prefix>/responses/<user>/panel-<sid> makes each agent
  // answer on <prefix>/responses/<user>/<device>/panel-<sid>, which the
  // panel's subscription already covers, with our Correlation Data; the
  // replies are counted as they come.
  const ids = [...st.devices.keys()].sort();
  const li = line('fleet-reply');
  if (!st.client || !st.client.connected) { say(li, 'Stop all: not connected to the broker.', 'bad'); return; }
  let ok = 0; let bad = 0;
  const done = () => say(li, `Stop all: sent to ${ids.length} device(s); ${ok} stopped` + (bad ? `, ${bad} failed` : '') + '.', bad ? 'bad' : 'ok');
  const corr = `${st.sid}-${++st.seq}`;
  // multi: the entry stays for every device's answer (onResponse).
  st.pending.set(corr, { multi: true, line: null, onReply: (r) => { if (r && r.status === 'ok') ok++; else bad++; done(); } });
  setTimeout(() => st.pending.delete(corr), 90 * 1000);
  st.client.publish(`${st.prefix}/_fleet/cmd/emergency_stop`, JSON.stringify({ id: `panel-${corr}` }), {
    qos: 1,
    properties: {
      responseTopic: `${st.prefix}/responses/${responseOwner()}/panel-${st.sid}`,
      correlationData: new TextEncoder().encode(corr),
      contentType: 'application/json',
    },
  }, (e) => {
    if (!e) return;
    st.pending.delete(corr);
    const why = REASON_WORDS[e.code] ? `${REASON_WORDS[e.code]} (0x${e.code.toString(16)})` : e.message;
    say(li, `Stop all: refused by the broker: ${why}.`, 'bad');
  });
  say(li, `Stop all: sent to ${ids.length} device(s)…`, '');
}

// ---- views ------------------------------------------------------------

function show(view) {
  st.view = view;
  $('login-view').hidden = view !== 'login';
  $('fleet-view').hidden = view !== 'fleet';
  $('device-view').hidden = view !== 'device';
  $('estop').hidden = view === 'login';
  redraw();
}

function route() {
  if (!st.client) { show('login'); return; }
  const m = /^#\/device\/(.+)$/.exec(location.hash);
  if (m) {
    st.device = decodeURIComponent(m[1]);
    show('device');
  } else {
    st.device = null;
    show('fleet');
  }
}

function redraw() {
  if (st.dirty) return;
  st.dirty = true;
  requestAnimationFrame(() => {
    st.dirty = false;
    if (st.view === 'fleet') drawFleet();
    if (st.view === 'device') drawDevice();
    drawEStop();
  });
}

function mayText(may) {
  if (may === false) return 'Read-only: the broker refuses commands from this user (viewer).';
  if (may === 'checking' || may === null) return 'Checking what this user may do…';
  return '';
}

function drawEStop() {
  const b = $('estop');
  let may = false;
  if (st.view === 'device') {
    const d = st.devices.get(st.device);
    may = !!d && d.may !== false;
    $('estop-sub').textContent = st.device || '';
    b.setAttribute('aria-label', 'Emergency stop ' + (st.device || '') + ': torque off at once');
  } else {
    may = [...st.devices.values()].some((d) => d.may !== false);
    $('estop-sub').textContent = 'all devices';
    b.setAttribute('aria-label', 'Emergency stop of every listed device');
  }
  b.disabled = !may;
}

const fleetRows = new Map();

function drawFleet() {
  const body = $('fleet-body');
  const ids = [...st.devices.keys()].sort();
  $('fleet-empty').hidden = ids.length > 0;
  const mays = [...st.devices.values()].map((d) => d.may);
  $('fleet-role').textContent = mays.length && mays.every((m) => m === false) ? mayText(false) : '';
  for (const id of ids) {
    const d = st.devices.get(id);
    let r = fleetRows.get(id);
    if (!r) {
      const link = el('a', { href: '#/device/' + encodeURIComponent(id) }, id);
      r = { tr: el('tr', {}), cells: [] };
      r.tr.append(el('th', { scope: 'row' }, link));
      for (let i = 0; i < 5; i++) { const c = el('td', {}); r.cells.push(c); r.tr.append(c); }
      fleetRows.set(id, r);
    }
    body.append(r.tr); // keeps the rows sorted
    const s = d.state || {};
    const online = d.availability === 'online';
    const warns = d.health && Array.isArray(d.health.warnings) ? d.health.warnings : [];
    const cells = [
      [online ? 'online' : (d.availability || 'unknown'), online ? 'ok' : 'bad'],
      [typeof s.position_deg === 'number' ? num(s.position_deg) + '°' + (s.moving ? ' (moving)' : '') : '–', ''],
      [s.active_hotel ? String(s.active_hotel) : '–', 'wrap'],
      [s.estop ? 'LATCHED' : 'no', s.estop ? 'bad' : ''],
      [warns.length ? warns.map(String).join('; ') : 'none', warns.length ? 'warn wrap' : ''],
    ];
    cells.forEach(([t, cls], i) => { r.cells[i].textContent = t; r.cells[i].className = cls; });
  }
  for (const [id, r] of fleetRows) if (!st.devices.has(id)) { r.tr.remove(); fleetRows.delete(id); }
}

// clip shortens a label for the dial; the buttons show the whole name.
function clip(str, n) { return str.length > n ? str.slice(0, n - 1) + '…' : str; }

function polar(deg, r) {
  const a = deg * Math.PI / 180; // 0° at the top, clockwise, like the dial of a clock
  return [r * Math.sin(a), -r * Math.cos(a)];
}

function drawDial(d) {
  const ticks = $('dial-ticks');
  if (!ticks.firstChild) {
    for (let a = 0; a < 360; a += 30) {
      const [x1, y1] = polar(a, 94); const [x2, y2] = polar(a, 100);
      ticks.append(el('svg:line', { x1, y1, x2, y2, class: 'tick' }));
    }
  }
  const hotels = d.info && Array.isArray(d.info.hotels) ? d.info.hotels : [];
  const s = d.state || {};
  const key = JSON.stringify(hotels) + '|' + s.active_hotel;
  if (d.hotelsKey !== key || $('dial-hotels').dataset.device !== d.id) {
    d.hotelsKey = key;
    const g = $('dial-hotels');
    g.dataset.device = d.id;
    g.replaceChildren();
    for (const h of hotels) {
      if (!h || typeof h.angle !== 'number') continue;
      const active = s.active_hotel === h.name;
      const [x, y] = polar(h.angle, 100); const [tx, ty] = polar(h.angle, 116);
      g.append(el('svg:circle', { cx: x, cy: y, r: active ? 9 : 7, class: active ? 'hotel active' : 'hotel' }));
      g.append(el('svg:text', { x: tx, y: ty, class: 'hotel-label', 'text-anchor': 'middle', 'dominant-baseline': 'central' }, clip(String(h.name), 10)));
    }
  }
  const pos = typeof s.position_deg === 'number' ? s.position_deg : null;
  $('dial-needle').setAttribute('transform', `rotate(${pos === null ? 0 : pos})`);
  $('dial-needle').setAttribute('visibility', pos === null ? 'hidden' : 'visible');
  const t = s.target && typeof s.target.angle === 'number' ? s.target.angle : null;
  $('dial-target').setAttribute('visibility', t === null ? 'hidden' : 'visible');
  if (t !== null) $('dial-target').setAttribute('transform', `rotate(${t})`);
  $('dial-desc').textContent = `Carousel ${d.id}: ` + (pos === null ? 'position unknown' : `at ${num(pos)}°`) +
    (s.active_hotel ? `, hotel ${s.active_hotel}` : '') + (t !== null ? `, target ${num(t)}°` : '');
}

function drawDevice() {
  const d = st.device && st.devices.get(st.device);
  $('dev-title').textContent = st.device || '';
  if (!d) { $('dev-online').textContent = 'unknown device'; return; }
  const online = d.availability === 'online';
  $('dev-online').textContent = online ? 'online' : (d.availability || 'unknown');
  $('dev-online').className = 'badge ' + (online ? 'ok' : 'bad');
  const s = d.state || {};
  $('dev-estop').hidden = !s.estop;
  drawDial(d);
  $('ro-angle').textContent = typeof s.position_deg === 'number' ? num(s.position_deg) + '°' : '–';
  $('ro-hotel').textContent = s.active_hotel ? String(s.active_hotel) : 'between hotels';
  $('ro-hotel').className = s.active_hotel ? 'big' : 'big none';
  // Start the speed field at the present speed, unless someone is typing.
  if (typeof s.speed === 'number' && s.speed > 0 && !$('speed-input').value && document.activeElement !== $('speed-input')) $('speed-input').value = String(s.speed);
  $('ro-target').textContent = s.target ? (s.target.hotel ? `hotel ${s.target.hotel}, ` : '') + num(s.target.angle) + '°' : '–';
  $('ro-moving').textContent = s.moving ? 'yes' : 'no';
  $('ro-speed').textContent = typeof s.speed === 'number' ? String(s.speed) : '–';
  $('ro-busy').textContent = s.busy ? String(s.busy.command) + (s.queue ? ` (+${s.queue} queued)` : '') : 'idle';

  // Hotel buttons: rebuilt only when the hotels or the active one change,
  // so keyboard focus stays put while the state streams at 10 Hz.
  const hotels = d.info && Array.isArray(d.info.hotels) ? d.info.hotels : [];
  const hb = $('hotel-buttons');
  const hkey = d.id + '|' + JSON.stringify(hotels.map((h) => h && h.name));
  if (hb.dataset.key !== hkey) {
    hb.dataset.key = hkey;
    hb.replaceChildren(...hotels.filter((h) => h && h.name !== undefined).map((h) => {
      const b = el('button', { type: 'button', class: 'hotel-btn', 'data-hotel': String(h.name),
        'aria-label': `Turn to hotel ${h.name} (${num(h.angle)}°)` }, String(h.name));
      b.addEventListener('click', () => send(d.id, 'activate_hotel', { hotel: String(h.name) }, { label: `Turn to hotel ${h.name}` }));
      return b;
    }));
  }
  for (const b of hb.children) b.setAttribute('aria-pressed', String(b.dataset.hotel === s.active_hotel));

  const spec = d.info && Array.isArray(d.info.commands) ? d.info.commands.find((c) => c && c.name === 'set_speed') : null;
  const max = spec && spec.params && spec.params.properties && spec.params.properties.speed && spec.params.properties.speed.maximum;
  if (typeof max === 'number') $('speed-input').max = String(max);

  const may = d.may;
  for (const b of document.querySelectorAll('#device-view .controls button, #device-view .controls input')) b.disabled = may !== true;
  $('dev-role').textContent = mayText(may);

  const h = d.health || {};
  $('h-temp').textContent = typeof h.temperature_c === 'number' ? num(h.temperature_c) + ' °C' : '–';
  $('h-volt').textContent = typeof h.voltage_v === 'number' ? num(h.voltage_v) + ' V' : '–';
  $('h-curr').textContent = typeof h.current_ma === 'number' ? num(h.current_ma) + ' mA' : '–';
  const ser = h.serial || {};
  $('h-serial').textContent = ser.port === undefined ? '–' : `${ser.connected ? 'connected' : 'DOWN'}, ${ser.port}` +
    (ser.stats ? `, ${ser.stats.errors || 0} errors, ${ser.stats.timeouts || 0} timeouts, ${ser.stats.reconnects || 0} reconnects` : '');
  const flags = h.hardware_error && Array.isArray(h.hardware_error.flags) ? h.hardware_error.flags : [];
  $('h-hw').textContent = flags.length ? flags.map(String).join(', ') : 'no error';
  const warns = Array.isArray(h.warnings) ? h.warnings : [];
  $('h-warnings').replaceChildren(...warns.map((w) => el('li', {}, String(w))));

  const evs = d.events.slice().reverse();
  $('events-empty').hidden = evs.length > 0;
  $('events').replaceChildren(...evs.slice(0, 20).map(({ e }) => {
    const at = typeof e.at === 'string' ? e.at.replace(/^.*T/, '').replace(/\.\d+/, '').replace('Z', '') : '';
    const what = [e.type, e.command, e.outcome && e.outcome !== 'ok' ? (CODE_WORDS[e.outcome] || e.outcome) : e.outcome,
      e.user ? 'by ' + e.user : '', e.message].filter(Boolean).map(String).join(' · ');
    return el('li', {}, el('time', {}, at), ' ', what);
  }));
}

// ---- wiring -----------------------------------------------------------

function init() {
  $('login-form').addEventListener('submit', login);
  $('logout').addEventListener('click', logout);
  window.addEventListener('hashchange', route);
  const b = $('estop');
  // pointerdown acts on the touch itself, not on the release (MDN:
  // Element: pointerdown event); click still serves Enter/Space.
  let byPointer = false;
  b.addEventListener('pointerdown', (e) => { if (e.button === 0 && !b.disabled) { byPointer = true; estop(); } });
  b.addEventListener('click', () => { if (byPointer) { byPointer = false; return; } estop(); });
  $('angle-form').addEventListener('submit', (e) => {
    e.preventDefault();
    send(st.device, 'move_to_angle', { angle: Number($('angle-input').value) }, { label: `Move to ${$('angle-input').value}°` });
  });
  $('speed-form').addEventListener('submit', (e) => {
    e.preventDefault();
    send(st.device, 'set_speed', { speed: Number($('speed-input').value) });
  });
  $('go-home').addEventListener('click', () => send(st.device, 'go_home', {}));
  $('stop').addEventListener('click', () => send(st.device, 'stop', {}));
  $('reset').addEventListener('click', () => send(st.device, 'reset', {}));
  show('login');
  $('login-user').focus();
}

// For a console (and the browser tests): send any command over this page's
// own connection. It grants nothing: the broker checks every publish.
window.plateResortPanel = { send: (dev, cmd, params) => send(dev, cmd, params, { out: st.view === 'fleet' ? 'fleet-reply' : 'dev-reply' }) };

init();
