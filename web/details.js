// The right-hand pane: everything about the selected node.
//
// The pane is morphed in place on updates (util.js `morphElement`), so its controls carry
// no listeners of their own: they name what they do in `data-action` (`select`, `run`, `env`
// with `data-wanted`, `failures-only`) and `data-uid`, and app.js listens on the pane.
// `ctx.driverLogs`: the page's `DriverLogs` (driverlog.js), whose cache the driver logs show.

import { h, appendChildren, formatDuration, formatTime, formatDateTime, timerDuration, statusBadge, prettyJson, pluralize, isFailureStatus, displayStatus, passedLabel } from './util.js';
import { renderEntryList, renderLocation, entryFailed } from './entries.js';
import { driverLogBlock } from './driverlog.js';
import { connectionGraphBlock } from './drivergraph.js';

export const MAX_CHILD_ROWS = 300;

const KIND_LABELS = {
  plan: 'Plan',
  test: 'Test',
  suite: 'Suite',
  parametrization: 'Parametrized testcase',
  testcase: 'Testcase',
};

export function countsBar(counts, testid) {
  const total = counts.total || 0;
  const bar = h('div', { class: 'counts-bar', dataset: { testid: testid || 'counts-bar' }, title: countsText(counts) });
  if (total === 0) return bar;
  for (const [key] of COUNT_LABELS) {
    if (!counts[key]) continue;
    bar.appendChild(h('span', { class: `seg seg-${key}`, style: { 'flex-grow': counts[key] } }));
  }
  return bar;
}

// The buckets of the counts in the order and words of the console's summary line.
export const COUNT_LABELS = [['passed', 'passed'], ['failed', 'failed'], ['error', 'errored'], ['crashed', 'crashed'], ['xfail', 'xfail'], ['xpass', 'xpass'], ['incomplete', 'incomplete'], ['cancelled', 'cancelled'], ['skipped', 'skipped'], ['unknown', 'not run']];

export function countsText(counts) {
  const parts = [];
  for (const [key, label] of COUNT_LABELS) {
    if (counts[key]) parts.push(`${counts[key]} ${label}`);
  }
  return `${pluralize(counts.total || 0, 'testcase')}${parts.length ? `: ${parts.join(', ')}` : ''}`;
}

function runtimeBadge(node) {
  if (node.runtime_status === 'running') return h('span', { class: 'badge rt running', dataset: { testid: 'runtime-status' } }, 'running');
  if (node.runtime_status === 'waiting') return h('span', { class: 'badge rt waiting', dataset: { testid: 'runtime-status' } }, 'waiting');
  return null;
}

function breadcrumbs(model, uid) {
  const path = model.pathUp(uid).reverse().slice(0, -1);
  if (path.length === 0) return null;
  const crumbs = h('nav', { class: 'crumbs' });
  path.forEach((ancestor, index) => {
    const node = model.node(ancestor);
    if (index > 0) crumbs.appendChild(h('span', { class: 'sep' }, '›'));
    crumbs.appendChild(h('a', { href: '#', dataset: { uid: ancestor, action: 'select' } }, node.name));
  });
  return crumbs;
}

function header(model, node, ctx) {
  const buttons = h('div', { class: 'head-actions live-only' },
    h('button', { class: 'btn primary', type: 'button', dataset: { testid: 'details-run', uid: node.uid, action: 'run' }, title: `Run ${node.name}` }, '▶ Run'));
  const shown = displayStatus(node);
  return h('div', { class: 'details-head' },
    breadcrumbs(model, node.uid),
    h('div', { class: 'title-row' },
      h('span', { class: 'kind' }, KIND_LABELS[node.kind] || node.kind),
      h('h2', { dataset: { testid: 'details-title' } }, node.name),
      statusBadge(shown.status),
      // Badges that come and go sit in a holder that is always there, so the pane's
      // in-place morph (matched by position) never shifts the Run button after them.
      h('span', { class: 'title-badges', dataset: { testid: 'details-badges' } },
        shown.partial ? h('span', { class: 'note', dataset: { testid: 'details-partial' } }, `${node.counts.unknown} not run`) : null,
        runtimeBadge(node)),
      h('span', { class: 'spacer' }),
      ctx.staticMode ? null : buttons));
}

function metaGrid(node, ctx, extra) {
  const rows = [];
  const add = (key, value) => {
    if (value === null || value === undefined || value === '') return;
    rows.push(h('div', { class: 'k' }, key), h('div', { class: 'v' }, value));
  };
  add('UID', h('code', null, node.uid));
  const duration = timerDuration(node.timer);
  if (duration !== null) add('Duration', `${formatDuration(duration)} (started ${formatTime(node.timer.start)})`);
  else if (node.timer && node.timer.start) add('Started', formatTime(node.timer.start));
  if (node.tags.length) add('Tags', node.tags.map((tag) => h('span', { class: 'tag' }, tag)));
  add('Defined at', renderLocation(node.location, ctx));
  add('Description', node.description ? h('div', { class: 'description' }, node.description) : null);
  add(node.status === 'skipped' ? 'Skipped because' : 'Reason', node.reason);
  for (const [key, value] of extra || []) add(key, value);
  return h('div', { class: 'meta' }, rows);
}

function parametersTable(node) {
  if (!node.parameters.length) return null;
  return h('section', { class: 'panel' },
    h('h3', null, 'Parameters'),
    h('table', { class: 'data params', dataset: { testid: 'parameters' } },
      h('tbody', null, node.parameters.map(([name, value]) => h('tr', null, h('th', null, name), h('td', null, h('code', null, value)))))));
}

function errorBox(error, ctx, title, neutral) {
  if (!error) return null;
  return h('section', { class: `error-box${neutral ? ' neutral' : ''}`, dataset: { testid: 'node-error' } },
    h('div', { class: 'error-head' }, h('strong', null, title || 'Error'), h('span', { class: 'spacer' }), renderLocation(error.location, ctx)),
    h('pre', null, error.message));
}

function entriesSection(node, ctx, title) {
  // Entries the event stream left out are fetched when shown (app.js): a moment's note.
  const missing = node.entryCount > node.entries.length;
  if (!node.entries.length) {
    if (node.kind !== 'testcase' && !missing) return null;
    const note = missing ? 'Loading entries…' : node.runtime_status === 'running' ? 'No entries yet…' : node.status === 'unknown' ? 'Not run yet.' : 'No entries recorded.';
    return h('section', { class: 'panel' }, h('h3', null, title || 'Entries'), h('div', { class: 'empty', dataset: { testid: missing ? 'entries-loading' : 'entries-empty' } }, note));
  }
  const failed = node.entries.filter(entryFailed).length;
  const toggle = h('label', { class: 'toggle' },
    h('input', { type: 'checkbox', checked: ctx.failuresOnly, dataset: { testid: 'failures-only', action: 'failures-only' } }),
    ' failures only');
  const list = renderEntryList(node.entries, ctx);
  const count = Math.max(node.entryCount, node.entries.length);
  return h('section', { class: 'panel' },
    h('div', { class: 'panel-head' },
      h('h3', null, title || 'Entries'),
      h('span', { class: 'note' }, `${count} ${count === 1 ? 'entry' : 'entries'}${failed ? `, ${failed} failed` : ''}${missing ? ', loading…' : ''}`),
      h('span', { class: 'spacer' }),
      toggle),
    list.childNodes.length ? list : h('div', { class: 'empty' }, 'No failed assertions.'));
}

function childrenSection(node) {
  if (!node.children.length) return null;
  const rows = node.children.slice(0, MAX_CHILD_ROWS).map((child) => {
    const duration = timerDuration(child.timer);
    const shown = displayStatus(child);
    const passed = passedLabel(child.counts);
    return h('tr', { class: `st-${shown.status} rt-${child.runtime_status} k-${child.kind}`, dataset: { uid: child.uid, testid: 'child-row' } },
      h('td', { class: 'status-cell' }, h('span', { class: 'dot' })),
      h('td', null, h('a', { href: '#', dataset: { uid: child.uid, action: 'select' } }, child.name)),
      h('td', null, statusBadge(shown.status)),
      h('td', { class: 'num', dataset: { testid: 'child-passed' }, title: 'passed of all testcases (xfail and xpass count as passed)' }, passed.text),
      h('td', { class: 'num' }, duration === null ? '' : formatDuration(duration)));
  });
  // The heading counts testcases as the rest of the UI does: a parametrization is one row
  // here but several testcases.
  const groups = node.children.filter((child) => child.kind !== 'testcase' && child.kind !== 'parametrization');
  const heading = groups.length === node.children.length ? `${KIND_LABELS[node.children[0].kind] || 'Children'}s` : 'Testcases';
  const count = groups.length === node.children.length ? node.children.length : node.counts.total;
  const rowsNote = count !== node.children.length ? ` · ${pluralize(node.children.length, 'row')} (parametrizations grouped)` : '';
  return h('section', { class: 'panel' },
    h('h3', { dataset: { testid: 'children-heading' } }, heading, h('span', { class: 'note' }, ` ${count}${rowsNote}`)),
    h('table', { class: 'data children-table' },
      h('thead', null, h('tr', null, h('th'), h('th', null, 'Name'), h('th', null, 'Status'), h('th', { class: 'num' }, 'Passed'), h('th', { class: 'num' }, 'Duration'))),
      h('tbody', null, rows)),
    node.children.length > MAX_CHILD_ROWS ? h('div', { class: 'note' }, `${node.children.length - MAX_CHILD_ROWS} more not shown; use the tree.`) : null);
}

function summarySection(node) {
  return h('section', { class: 'panel summary' },
    countsBar(node.counts),
    h('div', { class: 'summary-text', dataset: { testid: 'details-counts' } }, countsText(node.counts)));
}

// When a driver started (local time, with the date), how long it took to be ready, and when it
// stopped.
function driverTimes(driver) {
  const start = driver.start || {};
  const stop = driver.stop || {};
  const parts = [];
  if (start.start !== undefined && start.start !== null && isFinite(start.start)) {
    const date = new Date(start.start * 1000);
    let zone = '';
    try {
      zone = Intl.DateTimeFormat().resolvedOptions().timeZone || '';
    } catch (problem) {
      zone = '';
    }
    parts.push(h('span', null, 'started ', h('time', {
      datetime: date.toISOString(),
      title: `${formatDateTime(start.start)}.${String(date.getMilliseconds()).padStart(3, '0')} local time${zone ? ` (${zone})` : ''} · ${date.toISOString()}`,
      dataset: { testid: 'driver-started' },
    }, formatDateTime(start.start))));
    const ready = timerDuration(start);
    if (ready !== null) parts.push(`ready after ${formatDuration(ready)}`);
  } else {
    parts.push('never started');
  }
  if (stop.start !== undefined && stop.start !== null) {
    const took = timerDuration(stop);
    parts.push(`stopped ${formatTime(stop.start)}${took === null ? ' …' : ` (${formatDuration(took)})`}`);
  }
  const note = h('span', { class: 'note driver-times' });
  parts.forEach((part, index) => {
    if (index > 0) note.appendChild(document.createTextNode(' · '));
    appendChildren(note, [part]);
  });
  return note;
}

function renderDriver(test, driver, ctx) {
  const attributes = Object.entries(driver.attributes || {});
  return h('div', { class: `driver drv-${driver.status}`, dataset: { testid: 'driver', driver: driver.name, status: driver.status } },
    h('div', { class: 'driver-head' },
      h('span', { class: `drv-dot drv-${driver.status}` }),
      h('strong', null, driver.name),
      h('span', { class: 'kind' }, driver.kind),
      h('span', { class: `badge drv drv-${driver.status}`, dataset: { testid: 'driver-state' } }, driver.status.replace('_', ' ')),
      h('span', { class: 'spacer' }),
      driverTimes(driver)),
    attributes.length
      ? h('table', { class: 'data attrs' }, h('tbody', null, attributes.map(([key, value]) => h('tr', null,
        h('th', null, key),
        h('td', null, h('code', null, typeof value === 'string' ? value : prettyJson(value)))))))
      : null,
    driver.error ? h('div', { class: 'error-box small' }, h('pre', null, driver.error.message)) : null,
    driverLogBlock(test.uid, driver, ctx.driverLogs || null, ctx.staticMode));
}

function environmentSection(node, ctx) {
  const envStatus = node.env_status || 'stopped';
  const busy = envStatus === 'starting' || envStatus === 'stopping';
  const up = envStatus === 'started' || envStatus === 'starting';
  const controls = ctx.staticMode ? null : h('div', { class: 'env-controls' },
    h('button', { class: 'btn', type: 'button', disabled: busy || up, dataset: { testid: 'env-start', uid: node.uid, action: 'env', wanted: 'started' } }, 'Start environment'),
    h('button', { class: 'btn', type: 'button', disabled: busy || !up, dataset: { testid: 'env-stop', uid: node.uid, action: 'env', wanted: 'stopped' } }, 'Stop environment'));
  return h('section', { class: 'panel', dataset: { testid: 'environment' } },
    h('div', { class: 'panel-head' },
      h('h3', null, 'Environment'),
      h('span', { class: `badge env env-${envStatus}`, dataset: { testid: 'env-status' } }, envStatus),
      h('span', { class: 'spacer' }),
      controls),
    // Always there when the test has drivers, so the in-place morph keeps the drivers'
    // elements (and their logs) where they were when a graph arrives.
    node.drivers.length ? connectionGraphBlock(node) : null,
    node.drivers.length ? node.drivers.map((driver) => renderDriver(node, driver, ctx)) : h('div', { class: 'empty' }, 'This test has no drivers.'));
}

function planFacts(model) {
  const report = model.report;
  const facts = [['Host', report.host], ['PID', report.pid === undefined ? null : String(report.pid)], ['Runpath', report.runpath ? h('code', null, report.runpath) : null]];
  if (report.shuffle_seed !== undefined && report.shuffle_seed !== null) facts.push(['Shuffle seed', String(report.shuffle_seed)]);
  if (report.interrupted) facts.push(['Interrupted', h('span', { class: 'bad-text' }, 'yes: the run was cut short')]);
  return facts;
}

export function renderDetails(model, uid, ctx) {
  const node = model.node(uid);
  if (!node) return h('div', { class: 'empty big' }, 'Select a test, suite or testcase.');
  const pane = h('div', { class: `details kind-${node.kind}`, dataset: { testid: 'details', uid: node.uid, kind: node.kind } });
  if (node.kind === 'testcase') {
    const errorTitle = node.status === 'xpass_strict' ? 'Strict expected failure passed' : node.status === 'cancelled' ? 'Cancelled' : node.status === 'crashed' ? 'Crashed' : isFailureStatus(node.status) ? 'Error' : 'Note';
    appendChildren(pane, [
      header(model, node, ctx),
      metaGrid(node, ctx),
      errorBox(node.error, ctx, errorTitle, !isFailureStatus(node.status)),
      parametersTable(node),
      entriesSection(node, ctx),
    ]);
    return pane;
  }
  appendChildren(pane, [
    header(model, node, ctx),
    summarySection(node),
    metaGrid(node, ctx, node.kind === 'plan' ? planFacts(model) : null),
    errorBox(node.error, ctx, node.kind === 'suite' ? 'Suite error' : node.kind === 'test' ? 'Test error' : 'Error'),
    node.kind === 'test' && (node.drivers.length || node.env_status) ? environmentSection(node, ctx) : null,
    entriesSection(node, ctx, node.kind === 'suite' ? 'Hook entries' : 'Entries'),
    childrenSection(node),
  ]);
  return pane;
}
