// skiff dashboard: lists objects through the forwarded API and keeps them
// current with watches. Every request goes to /dashboard/api/..., which the
// server hands to the API server as the logged-in user.
'use strict';

const D = document.body.dataset;
const API = '/dashboard/api';
const HDR = { 'X-Skiff-Dashboard': '1' };

function showError(msg) {
  const e = document.getElementById('error');
  if (!e) return;
  e.textContent = msg;
  e.hidden = !msg;
}

async function call(path, opts = {}) {
  const r = await fetch(API + path, { credentials: 'same-origin', ...opts, headers: { ...HDR, ...(opts.headers || {}) } });
  if (r.status === 401) { location.href = '/dashboard/login'; throw new Error('unauthorized'); }
  if (!r.ok) {
    let msg = r.status + ' ' + r.statusText;
    try { const st = await r.json(); if (st.message) msg = st.message; } catch (_) { /* not a Status */ }
    throw new Error(msg);
  }
  return r;
}

function nsPath(group, resource, ns) {
  const base = group ? '/apis/' + group : '/api/v1';
  return ns ? base + '/namespaces/' + encodeURIComponent(ns) + '/' + resource : base + '/' + resource;
}

function sleep(ms) { return new Promise(r => setTimeout(r, ms)); }

// watchList lists path and then follows its watch, calling render with all
// objects after every change. When the watch ends it lists again.
async function watchList(path, query, render) {
  const items = new Map();
  const key = o => (o.metadata.namespace || '') + '/' + o.metadata.name;
  const emit = () => render([...items.values()].sort((a, b) => key(a).localeCompare(key(b))));
  const q = query ? query + '&' : '';
  for (;;) {
    try {
      const list = await (await call(path + '?' + q)).json();
      items.clear();
      for (const o of list.items || []) items.set(key(o), o);
      emit();
      showError('');
      let rv = list.metadata.resourceVersion;
      const r = await call(path + '?' + q + 'watch=true&allowWatchBookmarks=true&resourceVersion=' + encodeURIComponent(rv));
      const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let i;
        while ((i = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, i).trim();
          buf = buf.slice(i + 1);
          if (!line) continue;
          const ev = JSON.parse(line);
          if (ev.type === 'ERROR') throw new Error(ev.object.message || 'watch error');
          if (ev.type === 'BOOKMARK') continue;
          if (ev.type === 'DELETED') items.delete(key(ev.object)); else items.set(key(ev.object), ev.object);
          emit();
        }
      }
    } catch (e) {
      if (e.message === 'unauthorized') return;
      showError(path + ': ' + e.message);
      await sleep(2000); // back off before listing again
    }
  }
}

// el builds an element; children are nodes or text.
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function fillTable(id, head, rows, empty) {
  const t = document.getElementById(id);
  if (!t) return;
  t.replaceChildren(el('thead', {}, el('tr', {}, head.map(h => el('th', {}, h)))),
    el('tbody', {}, rows.length ? rows.map(r => el('tr', r.attrs || {}, r.cells.map(c => el('td', {}, c))))
      : [el('tr', {}, el('td', { class: 'empty', colspan: head.length }, empty || 'none'))]));
}

function age(ts) {
  if (!ts) return '';
  const s = Math.max(0, (Date.now() - Date.parse(ts)) / 1000);
  if (s < 120) return Math.floor(s) + 's';
  if (s < 7200) return Math.floor(s / 60) + 'm';
  if (s < 172800) return Math.floor(s / 3600) + 'h';
  return Math.floor(s / 86400) + 'd';
}

function nsQuery(ns) { return ns ? '?namespace=' + encodeURIComponent(ns) : ''; }

function yamlLink(o, group, version, resource) {
  const base = group ? '/apis/' + group + '/' + version : '/api/' + version;
  const p = o.metadata.namespace ? base + '/namespaces/' + o.metadata.namespace + '/' + resource + '/' + o.metadata.name
    : base + '/' + resource + '/' + o.metadata.name;
  return el('a', { href: '/dashboard/yaml?path=' + encodeURIComponent(p) }, 'yaml');
}

function state(text, cls) { return el('span', { class: cls }, text); }

function condition(o, type) { return ((o.status || {}).conditions || []).find(c => c.type === type); }

function selectorString(sel) {
  if (!sel) return '';
  const parts = Object.entries(sel.matchLabels || {}).map(([k, v]) => k + '=' + v);
  for (const e of sel.matchExpressions || []) {
    const vals = (e.values || []).join(',');
    if (e.operator === 'In') parts.push(e.key + ' in (' + vals + ')');
    else if (e.operator === 'NotIn') parts.push(e.key + ' notin (' + vals + ')');
    else if (e.operator === 'Exists') parts.push(e.key);
    else if (e.operator === 'DoesNotExist') parts.push('!' + e.key);
  }
  return parts.join(',');
}

function podsLink(o, sel, text) {
  const s = typeof sel === 'string' ? sel : selectorString(sel);
  return el('a', { href: '/dashboard/pods?namespace=' + encodeURIComponent(o.metadata.namespace) + '&selector=' + encodeURIComponent(s) }, text);
}

// Quantities of the metrics API and of node capacity.
function parseQty(q) {
  if (q === undefined || q === null) return 0;
  const m = /^([0-9.]+)([a-zA-Z]*)$/.exec(String(q));
  if (!m) return 0;
  const mult = { n: 1e-9, u: 1e-6, m: 1e-3, '': 1, k: 1e3, K: 1e3, M: 1e6, G: 1e9, T: 1e12, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4 };
  return parseFloat(m[1]) * (mult[m[2]] ?? 1);
}

function gauge(used, total, text) {
  const pct = total > 0 ? Math.min(100, 100 * used / total) : 0;
  const bar = el('span', { class: 'bar-gauge' }, el('span', {}));
  bar.firstChild.style.width = pct.toFixed(1) + '%';
  return el('span', {}, bar, text);
}

function bytes(n) {
  if (n >= 1024 ** 3) return (n / 1024 ** 3).toFixed(1) + 'Gi';
  if (n >= 1024 ** 2) return (n / 1024 ** 2).toFixed(0) + 'Mi';
  return (n / 1024).toFixed(0) + 'Ki';
}

// ---- pages

function clusterPage() {
  let nodes = [];
  const usage = new Map();
  const render = () => fillTable('nodes', ['Name', 'Ready', 'Conditions', 'CPU', 'Memory', 'Kubelet', 'Age'], nodes.map(n => {
    const ready = condition(n, 'Ready');
    const problems = ((n.status || {}).conditions || []).filter(c => c.type !== 'Ready' && c.status === 'True').map(c => c.type);
    if (n.spec.unschedulable) problems.push('SchedulingDisabled');
    const alloc = (n.status || {}).allocatable || {};
    const u = usage.get(n.metadata.name);
    const cpu = u ? gauge(parseQty(u.cpu), parseQty(alloc.cpu), (parseQty(u.cpu) * 1000).toFixed(0) + 'm / ' + alloc.cpu) : '—';
    const mem = u ? gauge(parseQty(u.memory), parseQty(alloc.memory), bytes(parseQty(u.memory)) + ' / ' + bytes(parseQty(alloc.memory))) : '—';
    return {
      attrs: { 'data-node': n.metadata.name },
      cells: [n.metadata.name, ready && ready.status === 'True' ? state('Ready', 'ok') : state('NotReady', 'bad'),
        problems.length ? state(problems.join(', '), 'warn') : 'no pressure', cpu, mem,
        ((n.status || {}).nodeInfo || {}).kubeletVersion || '', age(n.metadata.creationTimestamp)],
    };
  }));
  watchList('/api/v1/nodes', '', items => { nodes = items; render(); });
  // The metrics API has no watch: usage alone is read on a timer.
  const readUsage = async () => {
    try {
      const list = await (await call('/apis/metrics.k8s.io/v1beta1/nodes')).json();
      usage.clear();
      for (const m of list.items || []) usage.set(m.metadata.name, m.usage);
      render();
    } catch (_) { /* no metrics yet */ }
  };
  readUsage();
  setInterval(readUsage, 15000);
  watchList('/api/v1/namespaces', '', items => fillTable('namespaces', ['Name', 'Status', 'Age'], items.map(n => ({
    cells: [el('a', { href: '/dashboard/workloads?namespace=' + encodeURIComponent(n.metadata.name) }, n.metadata.name),
      n.status.phase === 'Active' ? state('Active', 'ok') : state(n.status.phase, 'warn'), age(n.metadata.creationTimestamp)],
  }))));
}

function deploymentRollout(d) {
  const s = d.status || {};
  if ((s.observedGeneration || 0) < d.metadata.generation) return state('pending', 'warn');
  const p = condition(d, 'Progressing');
  if (p && p.reason === 'ProgressDeadlineExceeded') return state('stalled', 'bad');
  const want = d.spec.replicas ?? 1;
  if ((s.updatedReplicas || 0) === want && (s.replicas || 0) === want && (s.availableReplicas || 0) === want) return state('complete', 'ok');
  return state('progressing', 'warn');
}

async function scale(o, group, resource, replicas) {
  const path = nsPath(group, resource, o.metadata.namespace) + '/' + encodeURIComponent(o.metadata.name) + '/scale';
  try {
    await call(path, { method: 'PATCH', headers: { 'Content-Type': 'application/merge-patch+json' },
      body: JSON.stringify({ spec: { replicas: replicas } }) });
    showError('');
  } catch (e) { showError('scale ' + o.metadata.name + ': ' + e.message); }
}

function scaleControl(o, group, resource) {
  const id = o.metadata.namespace + '/' + o.metadata.name;
  const input = el('input', { type: 'number', min: '0', class: 'replicas', 'data-scale': id, value: String(o.spec.replicas ?? 1) });
  const button = el('button', { type: 'button', 'data-scale-apply': id, onclick: () => scale(o, group, resource, parseInt(input.value, 10)) }, 'Scale');
  return el('span', {}, input, ' ', button);
}

// keepInputs re-renders a table without losing what is being typed into
// a scale field.
function keepInputs(id, fn) {
  const t = document.getElementById(id);
  const active = document.activeElement;
  const typing = active && t && t.contains(active) && active.dataset.scale ? [active.dataset.scale, active.value] : null;
  fn();
  if (typing) {
    const i = t.querySelector('input[data-scale="' + CSS.escape(typing[0]) + '"]');
    if (i) { i.value = typing[1]; i.focus(); }
  }
}

function workloadsPage() {
  const ns = D.namespace;
  watchList(nsPath('apps/v1', 'deployments', ns), '', items => keepInputs('deployments', () => fillTable('deployments',
    ['Name', 'Namespace', 'Ready', 'Up to date', 'Available', 'Rollout', 'Replicas', 'Age', ''], items.map(d => {
      const s = d.status || {};
      return {
        attrs: { 'data-deployment': d.metadata.namespace + '/' + d.metadata.name },
        cells: [podsLink(d, d.spec.selector, d.metadata.name), d.metadata.namespace, (s.readyReplicas || 0) + '/' + (d.spec.replicas ?? 1),
          s.updatedReplicas || 0, s.availableReplicas || 0, deploymentRollout(d), scaleControl(d, 'apps/v1', 'deployments'),
          age(d.metadata.creationTimestamp), yamlLink(d, 'apps', 'v1', 'deployments')],
      };
    }))));
  watchList(nsPath('apps/v1', 'statefulsets', ns), '', items => keepInputs('statefulsets', () => fillTable('statefulsets',
    ['Name', 'Namespace', 'Ready', 'Rollout', 'Replicas', 'Age', ''], items.map(o => {
      const s = o.status || {};
      const want = o.spec.replicas ?? 1;
      const done = s.currentRevision === s.updateRevision && (s.readyReplicas || 0) === want;
      return {
        cells: [podsLink(o, o.spec.selector, o.metadata.name), o.metadata.namespace, (s.readyReplicas || 0) + '/' + want,
          done ? state('complete', 'ok') : state('rolling to ' + (s.updateRevision || '?'), 'warn'),
          scaleControl(o, 'apps/v1', 'statefulsets'), age(o.metadata.creationTimestamp), yamlLink(o, 'apps', 'v1', 'statefulsets')],
      };
    }))));
  watchList(nsPath('apps/v1', 'daemonsets', ns), '', items => fillTable('daemonsets',
    ['Name', 'Namespace', 'Desired', 'Ready', 'Up to date', 'Rollout', 'Age', ''], items.map(o => {
      const s = o.status || {};
      const done = (s.updatedNumberScheduled || 0) === (s.desiredNumberScheduled || 0) && (s.numberReady || 0) === (s.desiredNumberScheduled || 0);
      return {
        cells: [podsLink(o, o.spec.selector, o.metadata.name), o.metadata.namespace, s.desiredNumberScheduled || 0, s.numberReady || 0,
          s.updatedNumberScheduled || 0, done ? state('complete', 'ok') : state('progressing', 'warn'),
          age(o.metadata.creationTimestamp), yamlLink(o, 'apps', 'v1', 'daemonsets')],
      };
    })));
  watchList(nsPath('apps/v1', 'replicasets', ns), '', items => fillTable('replicasets',
    ['Name', 'Namespace', 'Desired', 'Current', 'Ready', 'Owner', 'Age', ''], items.map(o => {
      const s = o.status || {};
      const owner = (o.metadata.ownerReferences || []).map(r => r.kind + '/' + r.name).join(', ');
      return {
        cells: [podsLink(o, o.spec.selector, o.metadata.name), o.metadata.namespace, o.spec.replicas ?? 1, s.replicas || 0,
          s.readyReplicas || 0, owner, age(o.metadata.creationTimestamp), yamlLink(o, 'apps', 'v1', 'replicasets')],
      };
    })));
  watchList(nsPath('batch/v1', 'jobs', ns), '', items => fillTable('jobs',
    ['Name', 'Namespace', 'Completions', 'Active', 'Failed', 'State', 'Age', ''], items.map(o => {
      const s = o.status || {};
      const c = condition(o, 'Complete'), f = condition(o, 'Failed');
      const st = c && c.status === 'True' ? state('complete', 'ok') : f && f.status === 'True' ? state('failed: ' + (f.reason || ''), 'bad')
        : o.spec.suspend ? state('suspended', 'warn') : state('running', 'warn');
      return {
        cells: [podsLink(o, 'batch.kubernetes.io/job-name=' + o.metadata.name, o.metadata.name), o.metadata.namespace,
          (s.succeeded || 0) + '/' + (o.spec.completions ?? 1), s.active || 0, s.failed || 0, st,
          age(o.metadata.creationTimestamp), yamlLink(o, 'batch', 'v1', 'jobs')],
      };
    })));
  watchList(nsPath('batch/v1', 'cronjobs', ns), '', items => fillTable('cronjobs',
    ['Name', 'Namespace', 'Schedule', 'Suspended', 'Active', 'Last schedule', 'Age', ''], items.map(o => {
      const s = o.status || {};
      return {
        cells: [o.metadata.name, o.metadata.namespace, o.spec.schedule, o.spec.suspend ? 'yes' : 'no', (s.active || []).length,
          s.lastScheduleTime ? age(s.lastScheduleTime) + ' ago' : 'never', age(o.metadata.creationTimestamp), yamlLink(o, 'batch', 'v1', 'cronjobs')],
      };
    })));
}

// podStatus words a pod's state as kubectl get pods does.
function podStatus(p) {
  const s = p.status || {};
  if (p.metadata.deletionTimestamp) return state('Terminating', 'warn');
  let reason = s.reason || s.phase || 'Unknown';
  for (const c of s.containerStatuses || []) {
    if (c.state && c.state.waiting && c.state.waiting.reason) reason = c.state.waiting.reason;
    else if (c.state && c.state.terminated && c.state.terminated.reason) reason = c.state.terminated.reason;
  }
  const cls = reason === 'Running' || reason === 'Succeeded' || reason === 'Completed' ? 'ok'
    : reason === 'Pending' || reason === 'ContainerCreating' || reason === 'PodInitializing' ? 'warn' : 'bad';
  return state(reason, cls);
}

function podReady(p) {
  const cs = (p.status || {}).containerStatuses || [];
  return cs.filter(c => c.ready).length + '/' + p.spec.containers.length;
}

function podsPage() {
  const ns = D.namespace;
  const q = D.selector ? 'labelSelector=' + encodeURIComponent(D.selector) : '';
  watchList(nsPath('', 'pods', ns), q, items => fillTable('pods', ['Name', 'Namespace', 'Ready', 'Status', 'Restarts', 'Node', 'IP', 'Age', ''],
    items.map(p => ({
      attrs: { 'data-pod': p.metadata.namespace + '/' + p.metadata.name },
      cells: [el('a', { href: '/dashboard/pod?namespace=' + encodeURIComponent(p.metadata.namespace) + '&name=' + encodeURIComponent(p.metadata.name) }, p.metadata.name),
        p.metadata.namespace, podReady(p), podStatus(p),
        ((p.status || {}).containerStatuses || []).reduce((n, c) => n + (c.restartCount || 0), 0),
        p.spec.nodeName || '', (p.status || {}).podIP || '', age(p.metadata.creationTimestamp), yamlLink(p, '', 'v1', 'pods')],
    })), 'no pods'));
}

function podPage() {
  const ns = D.namespace, name = D.name;
  const podPath = nsPath('', 'pods', ns) + '/' + encodeURIComponent(name);
  let containers = null;
  watchList(nsPath('', 'pods', ns), 'fieldSelector=' + encodeURIComponent('metadata.name=' + name), items => {
    const p = items[0];
    const dl = document.getElementById('pod-summary');
    if (!p) { dl.replaceChildren(el('dt', {}, 'Status'), el('dd', {}, 'deleted')); return; }
    const s = p.status || {};
    const pairs = [['Status', podStatus(p)], ['Ready', podReady(p)], ['Node', p.spec.nodeName || '—'], ['IP', s.podIP || '—'],
      ['Started', s.startTime ? age(s.startTime) + ' ago' : '—'],
      ['Conditions', (s.conditions || []).map(c => c.type + '=' + c.status).join(', ')]];
    dl.replaceChildren(...pairs.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]));
    fillTable('containers', ['Container', 'Image', 'State', 'Ready', 'Restarts'], p.spec.containers.map(c => {
      const cs = (s.containerStatuses || []).find(x => x.name === c.name) || {};
      const st = cs.state ? Object.keys(cs.state)[0] + (Object.values(cs.state)[0].reason ? ': ' + Object.values(cs.state)[0].reason : '') : 'pending';
      return { cells: [c.name, c.image, st, cs.ready ? 'yes' : 'no', cs.restartCount || 0] };
    }));
    if (!containers) {
      containers = p.spec.containers.map(c => c.name);
      const sel = document.getElementById('log-container');
      sel.replaceChildren(...containers.map(c => el('option', { value: c }, c)));
      followLogs();
    }
  });
  watchList(nsPath('', 'events', ns), 'fieldSelector=' + encodeURIComponent('involvedObject.name=' + name), items => fillTable('events',
    ['Type', 'Reason', 'Age', 'From', 'Message'], items.filter(e => e.involvedObject.kind === 'Pod')
      .sort((a, b) => Date.parse(a.lastTimestamp || a.eventTime || a.metadata.creationTimestamp) - Date.parse(b.lastTimestamp || b.eventTime || b.metadata.creationTimestamp))
      .map(e => ({
        cells: [e.type === 'Warning' ? state('Warning', 'warn') : e.type, e.reason, age(e.lastTimestamp || e.eventTime || e.metadata.creationTimestamp),
          (e.source || {}).component || e.reportingComponent || '', e.message + (e.count > 1 ? ' (×' + e.count + ')' : '')],
      })), 'no events'));

  let logAbort = null;
  async function followLogs() {
    if (logAbort) logAbort.abort();
    const abort = new AbortController();
    logAbort = abort;
    const pre = document.getElementById('logs');
    pre.textContent = '';
    const container = document.getElementById('log-container').value;
    const follow = document.getElementById('log-follow').checked;
    try {
      const r = await call(podPath + '/log?tailLines=1000&container=' + encodeURIComponent(container) + (follow ? '&follow=true' : ''), { signal: abort.signal });
      const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
        pre.append(value);
        if (atEnd) pre.scrollTop = pre.scrollHeight;
      }
      if (follow) pre.append('\n[the log stream ended: choose the container again to follow anew]\n');
    } catch (e) {
      if (!abort.signal.aborted) pre.append('\n[logs: ' + e.message + ']\n');
    }
  }
  document.getElementById('log-container').addEventListener('change', followLogs);
  document.getElementById('log-follow').addEventListener('change', followLogs);

  // The shell: exec over WebSocket (v5.channel.k8s.io, v4 as a fallback),
  // on a terminal (which carries stderr too: the runtime refuses both);
  // the browser sends the cookie, the server adds the bearer token.
  let ws = null;
  const out = document.getElementById('shell');
  const input = document.getElementById('shell-input');
  const stateEl = document.getElementById('shell-state');
  const enc = new TextEncoder(), dec = new TextDecoder();
  const send = (ch, data) => {
    if (!ws || ws.readyState !== WebSocket.OPEN) return;
    const b = typeof data === 'string' ? enc.encode(data) : data;
    const m = new Uint8Array(b.length + 1);
    m[0] = ch;
    m.set(b, 1);
    ws.send(m);
  };
  document.getElementById('shell-open').addEventListener('click', () => {
    if (ws) return;
    const container = document.getElementById('log-container').value || (containers || [''])[0];
    const url = 'wss://' + location.host + API + podPath + '/exec?command=sh&stdin=true&stdout=true&tty=true&container=' + encodeURIComponent(container);
    out.textContent = '';
    ws = new WebSocket(url, ['v5.channel.k8s.io', 'v4.channel.k8s.io']);
    ws.binaryType = 'arraybuffer';
    ws.onopen = () => {
      stateEl.textContent = 'connected (' + ws.protocol + ')';
      input.disabled = false;
      document.getElementById('shell-close').disabled = false;
      send(4, JSON.stringify({ Width: 120, Height: 40 }));
      input.focus();
    };
    ws.onmessage = ev => {
      const b = new Uint8Array(ev.data);
      if (b.length < 1) return;
      const text = dec.decode(b.subarray(1), { stream: true });
      if (b[0] === 1 || b[0] === 2) {
        // A terminal's colours and cursor moves have no place in a <pre>.
        out.append(text.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/\x1b\][^\x07]*\x07/g, '').replace(/\r/g, ''));
        out.scrollTop = out.scrollHeight;
      } else if (b[0] === 3) {
        try { const st = JSON.parse(text); if (st.status !== 'Success') out.append('\n[' + (st.message || st.status) + ']\n'); } catch (_) { /* partial */ }
      }
    };
    ws.onclose = () => {
      stateEl.textContent = 'closed';
      input.disabled = true;
      document.getElementById('shell-close').disabled = true;
      ws = null;
    };
    ws.onerror = () => { stateEl.textContent = 'connection failed'; };
  });
  document.getElementById('shell-close').addEventListener('click', () => { if (ws) ws.close(); });
  input.addEventListener('keydown', ev => {
    if (ev.key === 'Enter') { send(0, input.value + '\r'); input.value = ''; ev.preventDefault(); }
    else if (ev.key === 'c' && ev.ctrlKey) { send(0, '\x03'); ev.preventDefault(); }
    else if (ev.key === 'd' && ev.ctrlKey) { send(0, '\x04'); ev.preventDefault(); }
  });
}

function networkPage() {
  const ns = D.namespace;
  watchList(nsPath('', 'services', ns), '', items => fillTable('services',
    ['Name', 'Namespace', 'Type', 'Cluster IP', 'External', 'Ports', 'Selector', 'Age', ''], items.map(s => ({
      cells: [s.metadata.name, s.metadata.namespace, s.spec.type, (s.spec.clusterIPs || [s.spec.clusterIP]).join(', '),
        (((s.status || {}).loadBalancer || {}).ingress || []).map(i => i.ip || i.hostname).join(', ') || (s.spec.externalIPs || []).join(', '),
        (s.spec.ports || []).map(p => p.port + (p.nodePort ? ':' + p.nodePort : '') + '/' + p.protocol).join(', '),
        s.spec.selector ? podsLink(s, Object.entries(s.spec.selector).map(([k, v]) => k + '=' + v).join(','), Object.entries(s.spec.selector).map(([k, v]) => k + '=' + v).join(',')) : '',
        age(s.metadata.creationTimestamp), yamlLink(s, '', 'v1', 'services')],
    }))));
  watchList(nsPath('networking.k8s.io/v1', 'ingresses', ns), '', items => fillTable('ingresses',
    ['Name', 'Namespace', 'Class', 'Hosts', 'Address', 'Backends', 'Age', ''], items.map(i => {
      const rules = i.spec.rules || [];
      const backends = rules.flatMap(r => ((r.http || {}).paths || []).map(p => (r.host || '*') + (p.path || '/') + ' → ' +
        (p.backend.service ? p.backend.service.name + ':' + (p.backend.service.port.number || p.backend.service.port.name) : 'resource')));
      return {
        cells: [i.metadata.name, i.metadata.namespace, i.spec.ingressClassName || '', rules.map(r => r.host || '*').join(', '),
          (((i.status || {}).loadBalancer || {}).ingress || []).map(x => x.ip || x.hostname).join(', '), backends.join('; '),
          age(i.metadata.creationTimestamp), yamlLink(i, 'networking.k8s.io', 'v1', 'ingresses')],
      };
    })));
}

function yamlPage() {
  const button = document.getElementById('apply');
  if (!button) return;
  button.addEventListener('click', async () => {
    const result = document.getElementById('apply-result');
    const force = document.getElementById('apply-force').checked;
    result.textContent = 'applying…';
    try {
      const r = await call(D.path + '?fieldManager=skiff-dashboard' + (force ? '&force=true' : ''), {
        method: 'PATCH', headers: { 'Content-Type': 'application/apply-patch+yaml', Accept: 'application/json' },
        body: document.getElementById('yaml').value,
      });
      const o = await r.json();
      result.textContent = 'applied (resourceVersion ' + o.metadata.resourceVersion + ')';
      result.className = 'ok';
    } catch (e) {
      result.textContent = e.message;
      result.className = 'bad';
    }
  });
}

// The namespace selector lists the namespaces the user may see.
async function namespaces() {
  const sel = document.getElementById('namespace');
  if (!sel) return;
  sel.addEventListener('change', () => {
    const u = new URL(location.href);
    if (D.page === 'pod' || D.page === 'yaml') u.pathname = '/dashboard/workloads';
    u.search = sel.value ? '?namespace=' + encodeURIComponent(sel.value) : '';
    location.href = u.toString();
  });
  try {
    const list = await (await call('/api/v1/namespaces')).json();
    sel.replaceChildren(el('option', { value: '' }, 'all'), ...list.items.map(n => {
      const o = el('option', { value: n.metadata.name }, n.metadata.name);
      if (n.metadata.name === D.namespace) o.selected = true;
      return o;
    }));
  } catch (_) { /* the user may not list namespaces: keep the current one */ }
}

namespaces();
({ cluster: clusterPage, workloads: workloadsPage, pods: podsPage, pod: podPage, network: networkPage, yaml: yamlPage }[D.page] || (() => {}))();
