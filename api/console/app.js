// The otinish console: one page per desk of a 109 centre, each a client of the public HTTP API with the user's
// own token (held in this tab's sessionStorage, sent as a bearer token). It can do nothing the token may not:
// every screen is built from what GET /v1/session says the role may do, and the server checks every call again.
import { LANGS, WORDS, ENUMS, COMMAND_FIELDS } from './i18n.js';

// ---- state, words ---------------------------------------------------------------------------------------------

const S = {
  token: sessionStorage.getItem('otinish.token') || '',
  session: null,
  lang: localStorage.getItem('otinish.lang') || 'ru',
  catalogue: null,
  cleanup: [],  // what the current page must stop when the user leaves it (live streams)
};
if (!LANGS.includes(S.lang)) S.lang = 'ru';
// What the page measured, for the console's benchmark and for people who ask "how fast was that".
window.otinish = { registerMs: null, queueRenderMs: null, queueRows: 0 };

function t(key, ...args) {
  const w = WORDS[S.lang][key] ?? WORDS.en[key] ?? key;
  return w.replace(/\{(\d)\}/g, (_, i) => String(args[Number(i)] ?? ''));
}
const e = (v) => (v == null || v === '' ? t('none') : ENUMS[S.lang][v] ?? ENUMS.en[v] ?? v);
const nameOf = (names) => (names ? names[S.lang] || names.ru || names.en : '');

function topicName(code) {
  const topic = S.catalogue?.byCode.get(code);
  return topic ? nameOf(topic.names) : code;
}
function agencyName(id) {
  const a = S.catalogue?.agencies.find((x) => x.id === id);
  return a ? nameOf(a.names) : id || t('none');
}
function districtName(id) {
  const d = S.catalogue?.districts.find((x) => x.id === id);
  return d ? nameOf(d.names) : id || t('none');
}
function when(iso) {
  if (!iso) return t('none');
  const d = new Date(iso);
  return d.toLocaleString(S.lang === 'kk' ? 'kk-KZ' : S.lang === 'ru' ? 'ru-RU' : 'en-GB',
    { dateStyle: 'short', timeStyle: 'short' });
}

// ---- DOM -------------------------------------------------------------------------------------------------------

// h('tag.class#id', {attributes, on*: handlers}, children...): text is always text, never HTML.
function h(spec, attrs, ...kids) {
  const [, tag, rest] = spec.match(/^([a-z0-9]+)(.*)$/);
  const el = document.createElement(tag);
  for (const m of rest.matchAll(/([.#])([\w-]+)/g)) {
    if (m[1] === '.') el.classList.add(m[2]); else el.id = m[2];
  }
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'value') el.value = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const k of kids.flat(Infinity)) if (k != null && k !== false) el.append(k instanceof Node ? k : String(k));
  return el;
}
const main = () => document.getElementById('main');
function say(text) {
  const live = document.getElementById('live');
  live.textContent = text;
}
function field(label, control, hint) {
  const id = control.id || `f-${Math.random().toString(36).slice(2)}`;
  control.id = id;
  return h('div.field', {}, h('label', { for: id }, label), control, hint ? h('small', {}, hint) : null);
}
function select(options, value, attrs = {}) {
  return h('select', attrs, options.map(([v, label]) => h('option', { value: v, selected: v === value }, label)));
}

// ---- the API -----------------------------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
  }
}

async function api(method, path, { body, headers = {}, text = false } = {}) {
  const h2 = { ...headers };
  if (S.token) h2.Authorization = `Bearer ${S.token}`;
  let payload;
  if (body !== undefined) {
    payload = typeof body === 'string' ? body : JSON.stringify(body);
    h2['Content-Type'] ??= typeof body === 'string' ? 'application/yaml' : 'application/json';
  }
  const res = await fetch(path, { method, headers: h2, body: payload, cache: 'no-store' });
  const type = res.headers.get('Content-Type') || '';
  const data = type.includes('json') ? await res.json() : await res.text();
  if (!res.ok) {
    if (res.status === 401 && path !== '/v1/session') signOut(t('bad_token'));
    throw new ApiError(res.status, typeof data === 'object' ? data : { detail: data });
  }
  return text ? { data, headers: res.headers, status: res.status } : data;
}
const idempotencyKey = () => (crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random()}`);

// Server-Sent Events through fetch, so that the token travels in a header (EventSource cannot send one).
// Resumes from the last id it saw after a network failure.
function stream(path, onEvent, onState) {
  const ctl = { stopped: false, abort: new AbortController(), last: null };
  (async () => {
    while (!ctl.stopped) {
      try {
        const headers = { Authorization: `Bearer ${S.token}` };
        if (ctl.last) headers['Last-Event-ID'] = ctl.last;
        const res = await fetch(path, { headers, signal: ctl.abort.signal });
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
        onState(true);
        const reader = res.body.getReader();
        const dec = new TextDecoder();
        let buf = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += dec.decode(value, { stream: true });
          let cut;
          while ((cut = buf.indexOf('\n\n')) >= 0) {
            const block = buf.slice(0, cut);
            buf = buf.slice(cut + 2);
            const ev = { id: null, type: 'message', data: '' };
            for (const line of block.split('\n')) {
              if (line.startsWith('id: ')) ev.id = line.slice(4);
              else if (line.startsWith('event: ')) ev.type = line.slice(7);
              else if (line.startsWith('data: ')) ev.data += line.slice(6);
            }
            if (ev.id) ctl.last = ev.id;
            if (ev.data) onEvent(ev);
          }
        }
      } catch (err) {
        if (ctl.stopped) return;
      }
      onState(false);
      await new Promise((r) => setTimeout(r, 1000));
    }
  })();
  return () => { ctl.stopped = true; ctl.abort.abort(); };
}

async function loadCatalogue() {
  if (S.catalogue) return S.catalogue;
  try {
    const c = await api('GET', '/v1/catalogue');
    c.byCode = new Map(c.topics.map((x) => [x.code, x]));
    // Search keys: every name in the three languages and the code, lower-cased, ё as е.
    for (const x of c.topics) x.key = norm(`${x.code} ${x.names.kk} ${x.names.ru} ${x.names.en}`);
    S.catalogue = c;
  } catch (err) {
    S.catalogue = { topics: [], agencies: [], districts: [], byCode: new Map() };
  }
  return S.catalogue;
}
const norm = (s) => s.toLowerCase().replace(/ё/g, 'е');

// ---- session, navigation -------------------------------------------------------------------------------------

const PAGES = [
  ['desk', 'nav_desk', (p) => p.includes('register_appeals')],
  ['queue', 'nav_queue', (p) => p.includes('read_appeals')],
  ['admin', 'nav_admin', (p) => p.includes('write_rules')],
  ['calendars', 'nav_calendars', (p) => p.includes('read_rules')],
  ['audit', 'nav_audit', (p) => p.includes('read_evidence')],
  ['public', 'nav_public', (p) => p.includes('read_public_feed')],
];

function signOut(message) {
  S.token = '';
  S.session = null;
  sessionStorage.removeItem('otinish.token');
  location.hash = '#/login';
  if (message) say(message);
}

function renderChrome() {
  document.documentElement.lang = S.lang;
  document.getElementById('lang-label').textContent = t('language');
  const nav = document.getElementById('nav');
  nav.replaceChildren();
  const out = document.getElementById('signout');
  const who = document.getElementById('who');
  if (!S.session) {
    out.hidden = true;
    who.textContent = '';
    return;
  }
  const page = location.hash.split('/')[1];
  for (const [id, label, allowed] of PAGES) {
    if (!allowed(S.session.permissions)) continue;
    nav.append(h('a', { href: `#/${id}`, 'aria-current': page === id ? 'page' : null }, t(label)));
  }
  who.textContent = `${S.session.role}${S.session.agency ? ` · ${agencyName(S.session.agency)}` : ''}`;
  out.hidden = false;
  out.textContent = t('sign_out');
}

function home() {
  const p = S.session.permissions;
  if (S.session.role === 'admin') return '#/admin';
  if (S.session.role === 'auditor') return '#/audit';
  if (p.includes('register_appeals') && S.session.role === 'operator') return '#/desk';
  if (p.includes('read_appeals')) return '#/queue';
  return '#/public';
}

async function route() {
  for (const stop of S.cleanup.splice(0)) stop();
  const parts = location.hash.replace(/^#\/?/, '').split('/');
  if (!S.token) parts[0] = 'login';
  if (S.token && !S.session) {
    try {
      S.session = await api('GET', '/v1/session');
      await loadCatalogue();
    } catch (err) {
      signOut(t('bad_token'));
      parts[0] = 'login';
    }
  }
  renderChrome();
  const m = main();
  m.replaceChildren(h('p.muted', {}, t('loading')));
  try {
    switch (parts[0]) {
      case 'login': return renderLogin(m);
      case 'desk': return await renderDesk(m);
      case 'appeal': return await renderAppeal(m, decodeURIComponent(parts[1] || ''));
      case 'queue': return await renderQueue(m);
      case 'admin': return await renderAdmin(m);
      case 'calendars': return await renderCalendars(m, parts[1]);
      case 'audit': return await renderAudit(m, decodeURIComponent(parts[1] || ''));
      case 'public': return await renderPublic(m);
      default: location.hash = S.session ? home() : '#/login';
    }
  } catch (err) {
    m.replaceChildren(problemBox(err));
  }
}

function problemBox(err) {
  const p = err.problem || {};
  return h('div.problem', { role: 'alert' }, h('strong', {}, `${t('error')} ${err.status || ''}: ${p.title || ''}`),
    h('p', {}, p.detail || err.message));
}

// ---- login -------------------------------------------------------------------------------------------------------

function renderLogin(m) {
  const input = h('input', { type: 'password', autocomplete: 'off', required: true, spellcheck: 'false' });
  const msg = h('p.problem-text', { role: 'alert' });
  const form = h('form.card.narrow', {
    onsubmit: async (ev) => {
      ev.preventDefault();
      S.token = input.value.trim();
      try {
        S.session = await api('GET', '/v1/session');
        sessionStorage.setItem('otinish.token', S.token);
        await loadCatalogue();
        location.hash = home();
      } catch (err) {
        S.token = '';
        msg.textContent = t('bad_token');
      }
    },
  }, h('h1', {}, t('sign_in')), field(t('token'), input, t('token_hint')), msg,
  h('button.primary', { type: 'submit' }, t('sign_in')));
  m.replaceChildren(form);
  input.focus();
}

// ---- desk: register while the resident is on the line ----------------------------------------------------------

const CATEGORIES = ['consultation', 'incident', 'proposal', 'complaint', 'gratitude'];
const CHANNELS = ['phone', 'whatsapp', 'telegram', 'facebook', 'instagram', 'web'];

// A combobox over the catalogue: a few letters of a topic's name in any of the three languages find it.
function topicPicker(onPick, initial) {
  const input = h('input', {
    type: 'text', role: 'combobox', 'aria-autocomplete': 'list', 'aria-expanded': 'false', autocomplete: 'off',
    placeholder: t('topic_search'), 'aria-controls': 'topic-list',
  });
  const list = h('ul.options#topic-list', { role: 'listbox', hidden: true });
  let matches = [];
  let active = -1;
  let chosen = initial || null;
  const show = () => {
    list.replaceChildren(...matches.map((x, i) => h('li', {
      role: 'option', id: `topic-opt-${i}`, 'aria-selected': i === active ? 'true' : 'false',
      class: x.dangerous ? 'dangerous' : null,
      onmousedown: (ev) => { ev.preventDefault(); pick(i); },
    }, h('span', {}, nameOf(x.names)), h('small', {}, ` ${x.code}`))));
    if (!matches.length && input.value) list.append(h('li.muted', {}, t('no_topics')));
    list.hidden = !input.value || document.activeElement !== input;
    input.setAttribute('aria-expanded', list.hidden ? 'false' : 'true');
    input.setAttribute('aria-activedescendant', active >= 0 ? `topic-opt-${active}` : '');
  };
  const pick = (i) => {
    chosen = matches[i];
    input.value = `${nameOf(chosen.names)} (${chosen.code})`;
    list.hidden = true;
    input.setAttribute('aria-expanded', 'false');
    onPick(chosen);
  };
  input.addEventListener('input', () => {
    const words = norm(input.value).split(/\s+/).filter(Boolean);
    matches = words.length ? S.catalogue.topics.filter((x) => words.every((w) => x.key.includes(w))).slice(0, 12) : [];
    active = matches.length ? 0 : -1;
    chosen = null;
    onPick(null);
    show();
  });
  input.addEventListener('keydown', (ev) => {
    if (ev.key === 'ArrowDown' && matches.length) { active = (active + 1) % matches.length; show(); ev.preventDefault(); }
    else if (ev.key === 'ArrowUp' && matches.length) { active = (active - 1 + matches.length) % matches.length; show(); ev.preventDefault(); }
    else if (ev.key === 'Enter' && !list.hidden && active >= 0) { pick(active); ev.preventDefault(); }
    else if (ev.key === 'Escape') { list.hidden = true; }
  });
  input.addEventListener('blur', () => { list.hidden = true; });
  if (initial) input.value = `${nameOf(initial.names)} (${initial.code})`;
  return { el: h('div.combo', {}, input, list), input, get: () => chosen };
}

async function renderDesk(m) {
  const cat = await loadCatalogue();
  const danger = h('div.danger', { role: 'alert', hidden: true });
  const repeat = h('div.repeat', { role: 'status', hidden: true });
  const category = select(CATEGORIES.map((c) => [c, e(c)]), 'consultation', { name: 'category' });
  const priority = select([['', t('priority_auto')], ...['low', 'normal', 'high', 'critical'].map((p) => [p, e(p)])], '',
    { name: 'priority' });
  const channel = select(CHANNELS.map((c) => [c, e(c)]), 'phone', { name: 'channel' });
  const centre = h('input', { name: 'centre', value: localStorage.getItem('otinish.centre') || 'SHY', size: 6 });
  const district = select([['', t('none')], ...cat.districts.map((d) => [d.id, nameOf(d.names)])], '', { name: 'district' });
  const street = h('input', { name: 'street', type: 'text' });
  const text = h('textarea', { name: 'text', rows: 3, required: true });
  const name = h('input', { name: 'name', type: 'text', autocomplete: 'off' });
  const phone = h('input', { name: 'phone', type: 'tel', autocomplete: 'off' });
  const address = h('input', { name: 'address', type: 'text', autocomplete: 'off' });
  const result = h('div.result', { role: 'status' });
  const picker = topicPicker((topic) => {
    danger.hidden = !(topic && topic.dangerous);
    if (topic) {
      category.value = topic.category;
      danger.textContent = topic.dangerous ? t('danger', nameOf(topic.names)) : '';
    }
    checkRepeat();
  });
  // Whether this resident asked about the same topic recently: asked as soon as the topic and a phone or
  // address are known, so the operator can say so while the resident is still on the line.
  let repeatSeq = 0;
  async function checkRepeat() {
    const topic = picker.get();
    const seq = ++repeatSeq;
    if (!topic || (!phone.value.trim() && !address.value.trim())) { repeat.hidden = true; return; }
    try {
      const r = await api('POST', '/v1/repeats/check', {
        body: { topic: topic.code, applicant: { name: name.value, phone: phone.value, address: address.value } },
      });
      if (seq !== repeatSeq) return;
      const first = r.repeats[0];
      repeat.hidden = !first;
      if (first) {
        repeat.replaceChildren(t('repeat_hint', when(first.registered_at), first.appeal_id, first.reason), ' ',
          h('a', { href: `#/appeal/${encodeURIComponent(first.appeal_id)}` }, t('go')));
      }
    } catch (err) { repeat.hidden = true; }
  }
  for (const x of [phone, address, name]) x.addEventListener('change', checkRepeat);

  const submit = h('button.primary', { type: 'submit' }, t('submit_register'));
  const form = h('form.card.desk', {
    onsubmit: async (ev) => {
      ev.preventDefault();
      const topic = picker.get();
      if (!topic) { picker.input.focus(); say(t('topic_search')); return; }
      localStorage.setItem('otinish.centre', centre.value);
      const body = { centre: centre.value, category: category.value, topic: topic.code, channel: channel.value,
        text: text.value };
      if (priority.value) body.priority = priority.value;
      if (district.value || street.value) body.location = { district: district.value, street: street.value };
      if (name.value || phone.value || address.value) {
        body.applicant = { name: name.value, phone: phone.value, address: address.value };
      }
      submit.disabled = true;
      const t0 = performance.now();
      try {
        const r = await api('POST', '/v1/appeals', { body, headers: { 'Idempotency-Key': idempotencyKey() } });
        const ms = Math.round(performance.now() - t0);
        window.otinish.registerMs = performance.now() - t0;
        say(t('registered', r.id, ms));
        sessionStorage.setItem('otinish.flash', t('registered', r.id, ms));
        location.hash = `#/appeal/${encodeURIComponent(r.id)}`;
      } catch (err) {
        result.replaceChildren(problemBox(err));
        const pointer = err.problem?.field;
        if (pointer === '/topic') picker.input.focus();
      } finally {
        submit.disabled = false;
      }
    },
  },
  h('h1', {}, t('register')),
  field(t('topic'), picker.input), picker.el.lastChild, danger, repeat,
  h('div.row', {}, field(t('category'), category), field(t('priority'), priority), field(t('channel'), channel),
    field(t('centre'), centre)),
  field(t('text'), text),
  h('fieldset', {}, h('legend', {}, t('applicant')),
    h('div.row', {}, field(t('name'), name), field(t('phone'), phone), field(t('address'), address))),
  h('div.row', {}, field(t('district'), district), field(t('street'), street)),
  submit, result);
  form.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) { ev.preventDefault(); form.requestSubmit(); }
  });
  m.replaceChildren(form, openByNumber());
  picker.input.focus();
}

function openByNumber() {
  const input = h('input', { type: 'text', inputmode: 'numeric', size: 12 });
  return h('form.inline', {
    onsubmit: (ev) => { ev.preventDefault(); if (input.value.trim()) location.hash = `#/appeal/${encodeURIComponent(input.value.trim())}`; },
  }, field(t('open_appeal'), input), h('button', { type: 'submit' }, t('go')));
}

// ---- one appeal: its state, timeline and the commands its stage allows -----------------------------------------

// The deadline of each clock as of `at` (ms since epoch, or Infinity), from the timeline's SLA decisions.
function deadlinesAsOf(entries, at) {
  const clocks = new Map();
  for (const x of entries) {
    if (Date.parse(x.at) > at || !x.sla) continue;
    const s = x.sla;
    if (s.kind === 'rebound') {
      for (const d of s.deadlines) if (d.new_deadline) clocks.set(d.clock, { deadline: d.new_deadline, rule: `rule set ${s.rule_set_hash.slice(0, 12)} (${s.policy})`, state: 'running' });
      continue;
    }
    if (s.kind === 'extension') {
      clocks.set('extension', { deadline: s.deadline, state: 'granted', rule: `APC art. 76, cap ${s.cap}` });
      continue;
    }
    if (!s.clock) continue;
    const c = clocks.get(s.clock) || { state: 'running' };
    if (s.deadline) c.deadline = s.deadline;
    if (s.kind === 'stopped') c.state = 'stopped';
    else if (s.kind === 'paused') c.state = 'paused';
    else if (s.kind === 'resumed' || s.kind === 'started') c.state = 'running';
    if (s.kind === 'warning') c.warned = s.label;
    if (s.kind === 'breached' || s.kind === 'escalated') c.breached = s.label;
    c.rule = `${s.rule_id} @ ${s.rule_where} · ${s.rule_set_hash.slice(0, 12)} · ${s.calendar}`;
    clocks.set(s.clock, c);
  }
  return clocks;
}

function timelineTable(entries) {
  return h('table.timeline', {},
    h('thead', {}, h('tr', {}, h('th', {}, t('when')), h('th', {}, t('who')), h('th', {}, t('stage')),
      h('th', {}, t('what')), h('th', {}, t('rule')))),
    h('tbody', {}, entries.map((x) => h('tr', { 'data-version': x.version },
    h('td', {}, h('time', { datetime: x.at, title: x.at_local || x.at }, when(x.at))),
    h('td', {}, `${x.actor?.role || ''} ${x.actor?.agency || ''}`.trim() || x.actor?.user || ''),
    h('td', {}, x.from === x.to ? e(x.to) : `${e(x.from)} → ${e(x.to)}`),
    h('td', {}, x.summary),
    h('td.rule', {}, x.rule || '')))));
}

function commandForm(appeal, kind, onDone) {
  const inputs = {};
  const fields = (COMMAND_FIELDS[kind] || []).map(([name, type]) => {
    const optional = type.endsWith('?');
    const base = type.replace('?', '');
    let control;
    if (base === 'text') control = h('textarea', { rows: 2, required: !optional });
    else if (base === 'category') control = select(CATEGORIES.map((c) => [c, e(c)]), appeal.category);
    else if (base === 'outcome') control = select(['done', 'explained', 'not_confirmed', 'proposal_accepted', 'proposal_declined'].map((c) => [c, e(c)]), 'done');
    else if (base === 'bool') control = select([['true', '✓'], ['false', '✗']], 'true');
    else if (base === 'agency') control = select([...(optional ? [['', t('none')]] : []), ...S.catalogue.agencies.map((a) => [a.id, nameOf(a.names)])], optional ? '' : appeal.agency);
    else if (base === 'topic') control = h('input', { type: 'text', value: appeal.topic, required: true, list: 'topic-codes' });
    else if (base === 'datetime') control = h('input', { type: 'datetime-local', required: true });
    else control = h('input', { type: 'text', required: !optional });
    inputs[name] = [control, base];
    return field(name, control);
  });
  const msg = h('div');
  const form = h('form.command', {
    onsubmit: async (ev) => {
      ev.preventDefault();
      const body = {};
      for (const [name, [control, base]] of Object.entries(inputs)) {
        if (control.value === '') continue;
        if (base === 'bool') body[name] = control.value === 'true';
        else if (base === 'datetime') body[name] = new Date(control.value).toISOString().replace(/\.\d+Z$/, 'Z');
        else body[name] = control.value;
      }
      try {
        await api('POST', `/v1/appeals/${encodeURIComponent(appeal.id)}/${kind}`, {
          body, headers: { 'If-Match': `"${appeal.version}"`, 'Idempotency-Key': idempotencyKey() },
        });
        onDone();
      } catch (err) {
        if (err.status === 409 && err.problem.type?.endsWith('version-conflict')) return renderConflict(appeal, kind, body);
        msg.replaceChildren(problemBox(err));
      }
    },
  }, h('h3', {}, kind.replace(/_/g, ' ')), fields, h('button.primary', { type: 'submit' }, t('run')),
  h('button', { type: 'button', onclick: () => form.remove() }, t('cancel')), msg);
  return form;
}

// The 409 screen: what changed since the page was loaded, then decide again on the new version.
async function renderConflict(stale, kind, body) {
  const id = stale.id;
  const [fresh, tl] = await Promise.all([
    api('GET', `/v1/appeals/${encodeURIComponent(id)}`),
    api('GET', `/v1/appeals/${encodeURIComponent(id)}/timeline`),
  ]);
  // Timeline entries carry stream versions: everything appended since the page was read, SLA facts included.
  const changed = tl.entries.filter((x) => x.version > stale.stream_version);
  const again = h('button.primary', { type: 'button', onclick: () => route() }, t('decide_again'));
  main().replaceChildren(h('section.card.conflict', { role: 'alertdialog', 'aria-labelledby': 'conflict-title' },
    h('h1#conflict-title', {}, t('conflict_title')),
    h('p', {}, t('conflict_text', id, fresh.version, stale.version)),
    h('p', {}, `${t('stage')}: ${e(stale.stage)} → ${e(fresh.stage)}; ${kind}: ${JSON.stringify(body)}`),
    h('h2', {}, t('changed')), timelineTable(changed), again));
  again.focus();
}

async function renderAppeal(m, id) {
  const [a, tl] = await Promise.all([
    api('GET', `/v1/appeals/${encodeURIComponent(id)}`),
    api('GET', `/v1/appeals/${encodeURIComponent(id)}/timeline`),
  ]);
  const flash = sessionStorage.getItem('otinish.flash');
  sessionStorage.removeItem('otinish.flash');
  const mine = new Set(S.session.commands);
  const cmds = a.allowed_commands.filter((c) => mine.has(c));
  const forms = h('div.forms');
  const clocks = deadlinesAsOf(tl.entries, Infinity);
  const topic = S.catalogue.byCode.get(a.topic);
  const rows = [
    [t('stage'), e(a.stage)], [t('category'), e(a.category)], [t('topic'), `${topicName(a.topic)} (${a.topic})`],
    [t('priority'), e(a.priority)], [t('channel'), e(a.channel)], [t('agency'), agencyName(a.agency)],
    [t('district'), `${districtName(a.location?.district)} ${a.location?.street || ''}`],
    [t('registered_at'), when(a.registered_at)], [t('due'), a.due_at ? when(a.due_at) : t('none')],
    [t('outcome'), e(a.outcome)], [t('result'), a.result || t('none')], [t('version'), a.version],
  ];
  const applicantBox = h('div');
  const canRead = S.session.permissions.includes('read_personal_data');
  m.replaceChildren(
    flash ? h('p.flash', { role: 'status' }, flash) : '',
    h('h1', {}, `${id} · ${e(a.stage)}`, a.sla_alert ? h('span', { class: `badge ${a.sla_alert}` }, t(a.sla_alert)) : ''),
    topic?.dangerous && a.category === 'incident' ? h('div.danger', { role: 'alert' }, t('danger', topicName(a.topic))) : '',
    a.repeat_of ? h('div.repeat', { role: 'status' }, `${t('repeat_of')}: `,
      a.repeat_of.map((r) => h('a', { href: `#/appeal/${encodeURIComponent(r.appeal_id)}` }, `${r.appeal_id} (${r.reason}) `))) : '',
    h('dl.facts', {}, rows.map(([k, v]) => [h('dt', {}, k), h('dd', {}, String(v))])),
    clocks.size ? h('table.clocks', {}, h('tbody', {}, [...clocks].map(([name, c]) => h('tr', {},
      h('th', {}, name), h('td', {}, c.deadline ? when(c.deadline) : t('none')), h('td', {}, c.state),
      h('td.rule', {}, c.rule || ''))))) : '',
    canRead ? h('button', { type: 'button', onclick: async () => {
      const purpose = prompt(t('purpose'), 'callback');
      if (!purpose) return;
      try {
        const p = await api('GET', `/v1/appeals/${encodeURIComponent(id)}/applicant`, { headers: { 'Access-Purpose': purpose } });
        applicantBox.replaceChildren(h('p.pd', {}, `${p.name} · ${p.phone} · ${p.address}`));
      } catch (err) { applicantBox.replaceChildren(err.status === 410 ? h('p', {}, t('erased')) : problemBox(err)); }
    } }, t('applicant_show')) : '', applicantBox,
    h('h2', {}, t('commands')),
    cmds.length ? h('div.commands', { role: 'group', 'aria-label': t('commands') }, cmds.map((c) => h('button', {
      type: 'button', 'data-command': c,
      onclick: () => { forms.replaceChildren(commandForm(a, c, () => route())); forms.querySelector('input,textarea,select,button')?.focus(); },
    }, c.replace(/_/g, ' ')))) : h('p.muted', {}, t('no_commands')),
    forms,
    h('h2', {}, t('timeline')), timelineTable(tl.entries));
}

// ---- the queue: open appeals by deadline, live ------------------------------------------------------------------

const OPEN = new Set(['registered', 'under_review', 'returned_to_operator', 'assigned', 'accepted', 'in_progress',
  'on_hold', 'reopened']);

async function renderQueue(m) {
  const agency = S.session.role === 'agency' ? S.session.agency : '';
  const rows = new Map();
  let cursor = '';
  let checkpoint = 0;
  do {
    const q = new URLSearchParams({ limit: '10000' });
    if (agency) q.set('agency', agency);
    if (cursor) q.set('after', cursor);
    const page = await api('GET', `/v1/appeals?${q}`);
    for (const r of page.appeals) if (OPEN.has(r.stage)) rows.set(r.id, r);
    checkpoint = Math.max(checkpoint, page.checkpoint || 0);
    cursor = page.next_after || '';
  } while (cursor);
  const t0 = performance.now();
  const status = h('span.badge.live-state', {}, t('live_off'));
  const count = h('span.muted');
  const tbody = h('tbody');
  const table = h('table.queue', {},
    h('thead', {}, h('tr', {}, h('th', {}, '#'), h('th', {}, t('due')), h('th', {}, t('stage')), h('th', {}, t('priority')),
      h('th', {}, t('topic')), h('th', {}, t('district')), agency ? null : h('th', {}, t('agency')))),
    tbody);
  // Only the rows in sight are in the page (a queue holds thousands): rows have one height, and two spacer rows
  // stand for the rest, so the scroll bar is the whole queue's.
  const ROW = 33;
  const box = h('div.vscroll', { tabindex: 0, role: 'region', 'aria-label': t('queue') }, table);
  let list = [];
  const spacer = (n) => {
    const tr = document.createElement('tr');
    tr.className = 'spacer';
    tr.style.height = `${n * ROW}px`;
    return tr;
  };
  const paint = () => {
    const now = Date.now();
    const first = Math.max(0, Math.floor(box.scrollTop / ROW) - 10);
    const shown = list.slice(first, first + Math.ceil((box.clientHeight || 800) / ROW) + 20);
    const frag = document.createDocumentFragment();
    if (first) frag.append(spacer(first));
    for (const r of shown) {
      const overdue = r.due_at && Date.parse(r.due_at) < now;
      const mark = overdue || r.sla_alert === 'breached' ? 'overdue' : r.sla_alert === 'warned' ? 'warned' : '';
      const tr = document.createElement('tr');
      tr.dataset.id = r.id;
      if (mark) tr.className = mark;
      const a = document.createElement('a');
      a.href = `#/appeal/${encodeURIComponent(r.id)}`;
      a.textContent = r.id;
      const cells = [a, `${r.due_at ? when(r.due_at) : t('none')}${mark ? ` · ${t(mark)}` : ''}`, e(r.stage), e(r.priority),
        topicName(r.topic), districtName(r.district)];
      if (!agency) cells.push(agencyName(r.agency));
      for (const c of cells) {
        const td = document.createElement('td');
        td.append(c);
        tr.append(td);
      }
      frag.append(tr);
    }
    const rest = list.length - first - shown.length;
    if (rest > 0) frag.append(spacer(rest));
    tbody.replaceChildren(frag);
  };
  let painting = false;
  box.addEventListener('scroll', () => {
    if (painting) return;
    painting = true;
    requestAnimationFrame(() => { painting = false; paint(); });
  });
  const draw = () => {
    const due = (x) => (x.due_at ? Date.parse(x.due_at) : Infinity);
    list = [...rows.values()].sort((x, y) => due(x) - due(y) || (x.id < y.id ? -1 : x.id > y.id ? 1 : 0));
    paint();
    count.textContent = t('shown', list.length);
    window.otinish.queueRows = list.length;
  };
  m.replaceChildren(h('h1', {}, agency ? t('queue_agency', agencyName(agency)) : t('queue'), ' ', status, ' ', count), box);
  draw();
  window.otinish.queueRenderMs = performance.now() - t0;
  // Live: every event of an appeal in view (an agency's stream carries only its own) refreshes that appeal's row.
  const pending = new Set();
  let timer = null;
  const refresh = async () => {
    timer = null;
    const ids = [...pending];
    pending.clear();
    await Promise.all(ids.map(async (id) => {
      try {
        const a = await api('GET', `/v1/appeals/${encodeURIComponent(id)}`);
        const visible = OPEN.has(a.stage) && (!agency || a.agency === agency);
        if (!visible) { rows.delete(id); return; }
        rows.set(id, { id, stage: a.stage, priority: a.priority, topic: a.topic, district: a.location?.district,
          agency: a.agency, due_at: a.due_at, sla_alert: a.sla_alert });
      } catch (err) { if (err.status === 404) rows.delete(id); }
    }));
    draw();
  };
  const stop = stream(`/v1/events/stream?from=${checkpoint + 1}`, (ev) => {
    let d;
    try { d = JSON.parse(ev.data); } catch { return; }
    if (!d.stream || !d.stream.startsWith('appeal-')) return;
    pending.add(d.stream.slice(7));
    timer ??= setTimeout(refresh, 150);
  }, (on) => { status.textContent = on ? t('live_on') : t('live_off'); status.classList.toggle('on', on); });
  S.cleanup.push(stop);
}

// ---- admin: rules with server-side validation, what-if, publishing ----------------------------------------------

function lineEditor(value) {
  const gutter = h('pre.gutter', { 'aria-hidden': 'true' });
  const area = h('textarea.code', { spellcheck: 'false', wrap: 'off', 'aria-label': t('rules_editor') });
  area.value = value;
  const marks = new Map();
  const draw = () => {
    const n = area.value.split('\n').length;
    gutter.replaceChildren();
    for (let i = 1; i <= n; i++) {
      const msg = marks.get(i);
      gutter.append(h('span', { class: msg ? 'err' : null, title: msg || null, 'data-line': i }, String(i)), '\n');
    }
  };
  area.addEventListener('input', draw);
  area.addEventListener('scroll', () => { gutter.scrollTop = area.scrollTop; });
  draw();
  return {
    el: h('div.editor', {}, gutter, area), area,
    mark(errors) { marks.clear(); for (const x of errors) if (x.line) marks.set(x.line, `${x.column}: ${x.detail}`); draw(); },
    goTo(line, column) {
      const lines = area.value.split('\n');
      let offset = 0;
      for (let i = 0; i < line - 1 && i < lines.length; i++) offset += lines[i].length + 1;
      offset += Math.max(0, (column || 1) - 1);
      area.focus();
      area.setSelectionRange(offset, offset);
      const lh = area.scrollHeight / Math.max(1, lines.length);
      area.scrollTop = Math.max(0, (line - 5) * lh);
    },
  };
}

function barChart(groups, keys, labels) {
  // Grouped horizontal bars, one row per group, drawn in SVG (no library).
  const names = Object.keys(groups);
  const max = Math.max(1, ...names.flatMap((n) => keys.map((k) => groups[n][k] || 0)));
  const rowH = 12 * keys.length + 10;
  const W = 640;
  const left = 200;
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  svg.setAttribute('viewBox', `0 0 ${W} ${rowH * names.length + 30}`);
  svg.setAttribute('role', 'img');
  svg.setAttribute('class', 'chart');
  const mk = (tag, attrs, text) => {
    const n = document.createElementNS('http://www.w3.org/2000/svg', tag);
    for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v);
    if (text != null) n.textContent = text;
    svg.append(n);
    return n;
  };
  names.forEach((n, i) => {
    const y = i * rowH;
    mk('text', { x: 0, y: y + 14, class: 'label' }, agencyName(n).slice(0, 32));
    keys.forEach((k, j) => {
      const v = groups[n][k] || 0;
      mk('rect', { x: left, y: y + j * 12, width: Math.max(1, ((W - left - 50) * v) / max), height: 10, class: `bar k${j}` });
      mk('text', { x: left + ((W - left - 50) * v) / max + 4, y: y + j * 12 + 9, class: 'value' }, String(v));
    });
  });
  keys.forEach((k, j) => {
    mk('rect', { x: left + j * 180, y: rowH * names.length + 10, width: 10, height: 10, class: `bar k${j}` });
    mk('text', { x: left + j * 180 + 14, y: rowH * names.length + 19, class: 'label' }, labels[j]);
  });
  svg.setAttribute('aria-label', labels.join(' / '));
  return svg;
}

async function renderAdmin(m) {
  const cur = await api('GET', '/v1/rules', { text: true }).catch((err) => (err.status === 404 ? null : Promise.reject(err)));
  const version = cur ? cur.headers.get('ETag') : null;
  const hash = cur ? cur.headers.get('X-Content-Hash') || '' : '';
  const ed = lineEditor(cur ? cur.data : '');
  const file = h('input', { type: 'text', value: (cur && cur.headers.get('X-File')) || 'rules.yaml', size: 14 });
  const policy = select(['keep', 'reevaluate', 'stricter'].map((p) => [p, p]), 'keep');
  const from = h('input', { type: 'date' });
  const to = h('input', { type: 'date' });
  const out = h('div.out', { role: 'status' });
  const showErrors = (err) => {
    const errs = err.problem?.errors || [];
    ed.mark(errs);
    out.replaceChildren(h('div.problem', { role: 'alert' }, h('strong', {}, `${err.status} ${err.problem?.title || ''}: ${t('errors', errs.length)}`),
      h('ul.errors', {}, errs.map((x) => h('li', {}, h('button.linkish', { type: 'button', 'data-line': x.line, onclick: () => ed.goTo(x.line, x.column) },
        `${file.value}:${x.line}:${x.column}`), ` ${x.code || ''} ${x.detail}`))),
      errs.length ? '' : h('p', {}, err.problem?.detail || '')));
    if (errs[0]?.line) ed.goTo(errs[0].line, errs[0].column);
  };
  const simulate = async () => {
    const q = new URLSearchParams();
    if (from.value) q.set('from', `${from.value}T00:00:00Z`);
    if (to.value) q.set('to', `${to.value}T00:00:00Z`);
    out.replaceChildren(h('p.muted', {}, t('loading')));
    try {
      const r = await api('POST', `/v1/rules/simulate?${q}`, { body: ed.area.value });
      ed.mark([]);
      out.replaceChildren(h('div.whatif', {},
        h('p', {}, t('whatif_result', r.appeals, r.appeals_changed)),
        h('p', {}, `${t('breaches_before')}: ${r.total.breaches_before} → ${t('breaches_after')}: ${r.total.breaches_after}`),
        h('p', {}, t('deadlines_moved', r.deadlines_moved, r.deadlines_earlier, r.deadlines_later)),
        h('h3', {}, t('by_agency')),
        barChart(r.by_agency, ['breaches_before', 'breaches_after'], [t('breaches_before'), t('breaches_after')])));
    } catch (err) { showErrors(err); }
  };
  const publish = async () => {
    try {
      const headers = { 'Content-Type': 'application/yaml' };
      if (version) headers['If-Match'] = version;
      const r = await api('PUT', `/v1/rules?policy=${policy.value}&file=${encodeURIComponent(file.value)}`, { body: ed.area.value, headers });
      ed.mark([]);
      say(t('published', r.version));
      sessionStorage.setItem('otinish.flash', t('published', r.version));
      route();
    } catch (err) { showErrors(err); }
  };
  const flash = sessionStorage.getItem('otinish.flash');
  sessionStorage.removeItem('otinish.flash');
  m.replaceChildren(
    flash ? h('p.flash', { role: 'status' }, flash) : '',
    h('h1', {}, t('rules_editor')),
    version ? h('p.muted', {}, t('in_force', version.replace(/"/g, ''), hash.slice(0, 16))) : '',
    h('div.row', {}, field('file', file), field(t('from'), from), field(t('to'), to), field(t('policy'), policy)),
    ed.el,
    h('div.row.actions', {}, h('button', { type: 'button', onclick: simulate }, t('what_if')),
      h('button.primary', { type: 'button', onclick: publish }, t('publish'))),
    out);
}

// ---- calendars: a year of working days and days off --------------------------------------------------------------

async function renderCalendars(m, which) {
  const list = (await api('GET', '/v1/calendars')).calendars;
  if (!list.length) { m.replaceChildren(h('p', {}, t('none'))); return; }
  const cal = list.find((c) => c.name === which) || list[0];
  const yearNow = new Date().getFullYear();
  const yearSel = select([yearNow - 1, yearNow, yearNow + 1].map((y) => [String(y), String(y)]), String(yearNow));
  const grid = h('div.year');
  const drawYear = async () => {
    const y = await api('GET', `/v1/calendars/${encodeURIComponent(cal.name)}/days?year=${yearSel.value}`);
    const byMonth = Array.from({ length: 12 }, () => []);
    for (const d of y.days) byMonth[Number(d.date.slice(5, 7)) - 1].push(d);
    const provisional = y.days.some((d) => d.provisional);
    grid.replaceChildren(h('p', {}, t('working_days', y.working_days), provisional ? h('span.badge.warned', {}, ` ${t('provisional')}`) : ''),
      h('div.months', {}, byMonth.map((days, i) => {
        const first = days.length ? (new Date(`${days[0].date}T00:00:00Z`).getUTCDay() + 6) % 7 : 0;
        return h('div.month', {}, h('h3', {}, new Date(Date.UTC(Number(yearSel.value), i, 1)).toLocaleString(S.lang, { month: 'long', timeZone: 'UTC' })),
          h('div.days', {}, Array.from({ length: first }, () => h('span.pad', {})),
            days.map((d) => h('span', {
              class: `${d.working ? 'work' : 'off'}${d.provisional ? ' prov' : ''}`, 'data-date': d.date,
              title: `${d.date}: ${d.working ? t('working_day') : t('day_off')}${d.reason ? ` (${d.reason})` : ''}${d.provisional ? ` · ${t('provisional')}` : ''}`,
            }, String(Number(d.date.slice(8)))))));
      })));
  };
  yearSel.addEventListener('change', drawYear);
  m.replaceChildren(h('h1', {}, t('calendars')),
    h('div.row', {}, h('nav.tabs', {}, list.map((c) => h('a', { href: `#/calendars/${encodeURIComponent(c.name)}`, 'aria-current': c.name === cal.name ? 'page' : null }, c.name))),
      field(t('year'), yearSel)),
    h('p', {}, `${cal.name} ${cal.version} · ${cal.time_zone} · ${cal.first_day} … ${cal.last_day}`,
      cal.provisional_years.map((p) => h('span.badge.warned', {}, ` ${p.year} ${t('provisional')}: ${p.missing.join(', ')}`))),
    grid,
    h('h2', {}, t('publications')),
    h('table', {}, h('tbody', {}, cal.publications.map((p) => h('tr', {}, h('td', {}, `#${p.version}`), h('td', {}, p.label),
      h('td', {}, when(p.published_at)), h('td', {}, p.policy), h('td.rule', {}, p.content_hash.slice(0, 16)))))));
  await drawYear();
}

// ---- audit: one appeal as of any moment, the log's verification, the evidence bundle -----------------------------

async function renderAudit(m, id) {
  const input = h('input', { type: 'text', value: id, size: 14 });
  const verifyBox = h('div.verify', { role: 'status' });
  const body = h('div');
  const showVerify = (v) => {
    if (v.state === 'never') verifyBox.replaceChildren(t('verify_never'));
    else if (v.state === 'running') verifyBox.replaceChildren(t('verify_running', v.progress));
    else if (v.ok) verifyBox.replaceChildren(h('span.ok', {}, t('verify_ok', v.events, (v.tree_root || '').slice(0, 16))),
      v.checkpoint ? h('small', {}, ` · checkpoint ${v.checkpoint.origin} #${v.checkpoint.size}`) : '');
    else verifyBox.replaceChildren(h('strong.bad', {}, t('verify_bad', v.bad_position ?? '', v.problem || v.error || '')));
    return v.state === 'running';
  };
  const pollVerify = async () => {
    const v = await api('GET', '/v1/log/verify');
    if (showVerify(v)) setTimeout(pollVerify, 500);
  };
  const run = h('button', { type: 'button', onclick: async () => {
    try { await api('POST', '/v1/log/verify'); } catch (err) { if (err.status !== 409) throw err; }
    pollVerify();
  } }, t('verify_run'));
  m.replaceChildren(h('h1', {}, t('audit')),
    h('section.card', {}, h('h2', {}, t('verify')), verifyBox, run),
    h('form.inline', { onsubmit: (ev) => { ev.preventDefault(); location.hash = `#/audit/${encodeURIComponent(input.value.trim())}`; } },
      field(t('appeal_number'), input), h('button', { type: 'submit' }, t('load'))),
    body);
  pollVerify();
  if (!id) { input.focus(); return; }
  const [a, tl] = await Promise.all([
    api('GET', `/v1/appeals/${encodeURIComponent(id)}`),
    api('GET', `/v1/appeals/${encodeURIComponent(id)}/timeline`),
  ]);
  const entries = tl.entries;
  const slider = h('input', { type: 'range', min: 0, max: entries.length - 1, value: entries.length - 1, step: 1,
    'aria-label': t('as_of') });
  const asOf = h('p.asof', { role: 'status' });
  const clocksBox = h('div');
  const tlBox = h('div');
  const draw = () => {
    const i = Number(slider.value);
    const at = Date.parse(entries[i].at);
    const stage = entries[i].to;
    asOf.textContent = t('as_of_state', `${entries[i].at_local || entries[i].at} (v${entries[i].version})`, e(stage));
    const clocks = deadlinesAsOf(entries.slice(0, i + 1), at);
    clocksBox.replaceChildren(h('h3', {}, t('deadlines_as_of')), h('table.clocks', {}, h('tbody', {}, [...clocks].map(([name, c]) => h('tr', { 'data-clock': name },
      h('th', {}, name), h('td.deadline', { 'data-deadline': c.deadline || '' }, c.deadline ? when(c.deadline) : t('none')),
      h('td', {}, `${c.state}${c.warned ? ` · ${t('warned')} ${c.warned}` : ''}${c.breached ? ` · ${t('breached')} ${c.breached}` : ''}`),
      h('td.rule', {}, c.rule || ''))))));
    tlBox.replaceChildren(timelineTable(entries.slice(0, i + 1)));
  };
  slider.addEventListener('input', draw);
  const download = h('button', { type: 'button', onclick: async () => {
    try {
      const res = await api('GET', `/v1/appeals/${encodeURIComponent(id)}/evidence`, { text: true });
      const blob = new Blob([typeof res.data === 'string' ? res.data : JSON.stringify(res.data)], { type: 'application/json' });
      const link = h('a', { href: URL.createObjectURL(blob), download: `evidence-${id}.json` });
      document.body.append(link);
      link.click();
      link.remove();
    } catch (err) { body.append(err.status === 404 ? h('p.problem-text', { role: 'alert' }, t('no_evidence')) : problemBox(err)); }
  } }, t('evidence'));
  body.replaceChildren(h('h2', {}, `${id} · ${e(a.stage)} · ${topicName(a.topic)}`),
    h('div.slider', {}, h('label', {}, t('as_of'), ' ', slider), asOf), clocksBox, download, tlBox);
  draw();
}

// ---- public: scorecards, the anonymised feed, status by number ---------------------------------------------------

async function renderPublic(m) {
  const cards = S.session.permissions.includes('read_scorecards')
    ? await api('GET', '/v1/scorecards?min_sample=30').catch(() => null) : null;
  const health = await fetch('/healthz').then((r) => r.json()).catch(() => ({ head_position: 0 }));
  const after = Math.max(0, (health.head_position || 0) - 5000);
  const feed = await api('GET', `/v1/public/feed?after=${after}&limit=1000`).catch(() => ({ entries: [] }));
  const items = (feed.entries || feed.feed || []).slice(-40).reverse();
  const num = h('input', { type: 'text', inputmode: 'numeric', size: 14 });
  const statusBox = h('div', { role: 'status' });
  const lookup = h('form.inline.card', {
    onsubmit: async (ev) => {
      ev.preventDefault();
      try {
        const a = await api('GET', `/v1/public/appeals/${encodeURIComponent(num.value.trim())}`);
        statusBox.replaceChildren(h('dl.facts', {}, [[t('stage'), e(a.stage)], [t('topic'), topicName(a.topic)], [t('agency'), agencyName(a.agency)],
          [t('registered_at'), when(a.registered_at)], [t('due'), when(a.due_at)], [t('outcome'), e(a.outcome)]].map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)])));
      } catch (err) { statusBox.replaceChildren(err.status === 404 ? t('not_found') : problemBox(err)); }
    },
  }, h('h2', {}, t('status_lookup')), field(t('appeal_number'), num), h('button', { type: 'submit' }, t('go')), statusBox);
  const pct = (x) => Math.round(x * 10) / 10;
  const section = [];
  if (cards) {
    const ranked = {};
    for (const c of cards.ranked) ranked[c.agency] = { on_time: pct(c.on_time_percent), satisfied: pct(c.satisfaction * 100), reopened: pct(c.reopen_rate * 100) };
    section.push(h('h2', {}, t('public_title')),
      Object.keys(ranked).length ? barChart(ranked, ['on_time', 'satisfied', 'reopened'], [t('on_time'), t('satisfaction'), t('reopen_rate')]) : '',
      h('table.cards', {}, h('thead', {}, h('tr', {}, h('th', {}, t('agency')), h('th', {}, t('on_time')), h('th', {}, t('satisfaction')),
        h('th', {}, t('reopen_rate')), h('th', {}, t('sample')))),
      h('tbody', {}, cards.ranked.map((c) => h('tr', {}, h('td', {}, agencyName(c.agency)), h('td', {}, pct(c.on_time_percent)),
        h('td', {}, pct(c.satisfaction * 100)), h('td', {}, pct(c.reopen_rate * 100)), h('td', {}, c.resolved))))),
      cards.too_small?.length ? h('p.muted', {}, t('too_small', 30), ': ', cards.too_small.map((c) => `${agencyName(c.agency)} (${c.resolved})`).join(', ')) : '');
  }
  m.replaceChildren(...section, lookup,
    h('h2', {}, t('feed')),
    h('table.feed', {}, h('tbody', {}, items.map((x) => h('tr', {}, h('td', {}, when(x.at)), h('td', {}, x.appeal_id), h('td', {}, x.what),
      h('td', {}, e(x.category)), h('td', {}, topicName(x.topic)), h('td', {}, districtName(x.district)), h('td', {}, agencyName(x.agency)),
      h('td', {}, e(x.stage)))))));
}

// ---- start -------------------------------------------------------------------------------------------------------

document.getElementById('lang').value = S.lang;
document.getElementById('lang').addEventListener('change', (ev) => {
  S.lang = ev.target.value;
  localStorage.setItem('otinish.lang', S.lang);
  route();
});
document.getElementById('signout').addEventListener('click', () => signOut());
// Alt+1..6 jump to the pages in the navigation; Alt+/ to the desk's topic search.
document.addEventListener('keydown', (ev) => {
  if (!ev.altKey) return;
  const links = [...document.querySelectorAll('#nav a')];
  const n = Number(ev.key);
  if (n >= 1 && n <= links.length) { ev.preventDefault(); location.hash = links[n - 1].getAttribute('href'); }
});
window.addEventListener('hashchange', route);
route();
