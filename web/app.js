// Entry point: wires the header, the filter, the tree and the details pane to the live API
// (or, in static mode, to the report embedded in the page as window.TESTRIG_REPORT).

import { h, clearElement, isFailureStatus, morphElement } from './util.js';
import { EventFeed, fetchConfig, fetchFullReport, fetchNode, runNode, runPlan, runSelection, cancelRuns, resetResults, reloadPlan, setEnvironment } from './api.js';
import { ReportModel } from './state.js';
import { STATUS_CHIPS, parseFilter, visibleUids, matchingTestcases, chipCounts } from './filter.js';
import { DriverLogs, adoptDriverLog } from './driverlog.js';
import { renderDetails, countsBar, MAX_CHILD_ROWS } from './details.js';
import { TreeView } from './tree.js';

// Group details (which list children) re-render at most this often while a run streams in.
const GROUP_DETAILS_INTERVAL_MS = 500;
// Received updates are folded in tasks of at most about this long (then the page paints).
const FOLD_SLICE_MS = 6;
// Repaints for a stream of updates are at least this far apart (see scheduleRepaint).
const REPAINT_INTERVAL_MS = 250;
// Toasts shown at once; older ones go, repeats of a shown one count up instead.
const TOAST_LIMIT = 2;
const TOAST_MS = { info: 4000, error: 8000 };

const ui = {
  model: null,
  seq: 0,
  staticMode: false,
  ctx: { editorUrl: null, sourceRoot: null, staticMode: false, failuresOnly: false, driverLogs: null },
  selected: null,
  chips: new Set(),
  filter: parseFilter('', new Set()),
  // Every node may have changed (a plan's end, a reset): the details pane is rendered again.
  dirtyAll: false,
  // The `hash` of the selected node when the details pane last looked at it.
  detailsHash: -1,
  frame: 0,
  frameTimer: 0,
  paintedAt: 0,
  detailsRenderedAt: 0,
  detailsTimer: 0,
  detailsSignature: '',
  headerSignature: '',
  // The chips the header shows, in order (their numbers change in place).
  headerLayout: '',
  // Updates received and not folded yet (onUpdates), from pendingIndex on.
  pending: [],
  pendingIndex: 0,
  // The compact message being folded: its items with seqs up to rangeEnd are folded unless
  // they are rangeFloor or older (see foldPending).
  rangeFloor: 0,
  rangeEnd: 0,
  folding: false,
  // The plan started or ended: render as soon as what was received is folded.
  flushWhenFolded: false,
  foldChannel: null,
  flushChannel: null,
  // The request for the shown node's entries in flight: { uid, again }.
  entriesFetch: null,
  resync: null,
  feed: null,
  tree: null,
  logs: null,
  elements: {},
};

function byTestId(id) {
  return document.querySelector(`[data-testid="${id}"]`);
}

// A message in the toast bar below the panes (never over them): at most TOAST_LIMIT at once,
// a repeat of a shown message counts up on it ("×3") and restarts its time.
export function showToast(message, rawKind) {
  const box = ui.elements.toasts;
  if (!box) return;
  const kind = rawKind === 'error' ? 'error' : 'info';
  const key = `${kind}\n${message}`;
  let toast = [...box.children].find((candidate) => candidate.dataset.key === key);
  if (toast) {
    const repeats = Number(toast.dataset.repeats) + 1;
    toast.dataset.repeats = String(repeats);
    toast.querySelector('.toast-count').textContent = `×${repeats}`;
    box.appendChild(toast);
  } else {
    toast = h('div', { class: `toast ${kind}`, role: kind === 'error' ? 'alert' : 'status', title: message, dataset: { testid: 'toast', kind, key, repeats: '1' } },
      h('span', { class: 'toast-text' }, message),
      h('span', { class: 'toast-count', dataset: { testid: 'toast-count' } }),
      h('button', { type: 'button', class: 'toast-close', 'aria-label': 'Dismiss', title: 'Dismiss', onclick: () => toast.remove() }, '×'));
    box.appendChild(toast);
  }
  while (box.children.length > TOAST_LIMIT) box.firstElementChild.remove();
  clearTimeout(Number(toast.dataset.timer));
  const shown = toast;
  shown.dataset.timer = String(setTimeout(() => shown.remove(), TOAST_MS[kind]));
}

function setConnection(state) {
  const element = ui.elements.connection;
  const labels = {
    connecting: 'connecting…',
    connected: 'connected',
    reconnecting: 'reconnecting…',
    offline: 'offline — retrying…',
    static: 'static report',
  };
  element.dataset.state = state;
  element.querySelector('.conn-text').textContent = labels[state] || state;
  document.body.classList.toggle('disconnected', state !== 'connected' && state !== 'static');
}

// ---- model changes ----

function adoptModel(model) {
  const previous = ui.model;
  ui.model = model;
  if (previous && previous.shapeKey() === model.shapeKey()) ui.tree.swapModel(model);
  else ui.tree.setModel(model);
  populateTags();
  applyFilter();
  if (!ui.selected || !model.node(ui.selected)) selectNode(selectionFromHash() || model.plan.uid, false);
  else ui.tree.markSelected(ui.selected, false);
  renderHeader();
  renderSelectedDetails(true);
}

function onSnapshot(data) {
  if (!data || !data.report) return;
  dropPending();
  ui.resync = null;
  ui.seq = data.seq || 0;
  ui.rangeFloor = 0;
  ui.rangeEnd = 0;
  adoptModel(new ReportModel(data.report, ui.seq));
}

// A batch of updates (what one chunk of the event stream held) joins the queue of updates
// to fold. The queue is folded in slices of at most FOLD_SLICE_MS, each its own task, so a
// burst of thousands of updates never holds the page for long; what the slices changed is
// painted once per animation frame (flush).
function onUpdates(batch) {
  if (ui.pending.length === 0) ui.pending = batch;
  else for (const data of batch) ui.pending.push(data);
  if (ui.folding) return;
  ui.folding = true;
  ui.foldChannel.port2.postMessage(null);
}

function foldPending() {
  ui.folding = false;
  const deadline = performance.now() + FOLD_SLICE_MS;
  const pending = ui.pending;
  let index = ui.pendingIndex;
  while (index < pending.length) {
    const data = pending[index];
    index += 1;
    if (!ui.model) continue;
    if (data.range) {
      // A compact message's seqs: it follows the last one, or there is a gap. Its items are
      // then folded unless an earlier snapshot or full report holds them already.
      const [from, to] = data.range;
      if (to <= ui.seq) {
        ui.rangeFloor = ui.seq;
        ui.rangeEnd = to;
        continue;
      }
      if (from > ui.seq + 1) {
        dropPending();
        ui.feed.reopen();
        return;
      }
      ui.rangeFloor = ui.seq;
      ui.rangeEnd = to;
      ui.seq = to;
      continue;
    }
    const record = Array.isArray(data);
    const seq = record ? data[0] : data.seq;
    if (typeof seq !== 'number') continue;
    if (seq <= ui.rangeEnd) {
      // An item of the compact message being folded.
      if (seq <= ui.rangeFloor) continue;
    } else {
      if (seq <= ui.seq) continue;
      if (seq !== ui.seq + 1) {
        // A gap: start over from a new snapshot rather than show a wrong tree.
        dropPending();
        ui.feed.reopen();
        return;
      }
      ui.seq = seq;
    }
    if (ui.resync) ui.resync.buffer.push(data);
    if (record) {
      ui.model.applyRecord(data);
    } else {
      const event = data.event;
      if (ui.model.apply(event) === 'all') ui.dirtyAll = true;
      if (event) {
        // The start and the end of a run show at once, not after the stream's repaint
        // interval (nor the next animation frame: the page is rendered as soon as what was
        // received is folded).
        if (event.event === 'runtime_status' && event.uid === ui.model.plan.uid) ui.flushWhenFolded = true;
        if (event.event === 'driver_status_changed') ui.logs.driverChanged(event.uid);
        if (event.event === 'reset') startResync();
      }
    }
    scheduleRepaint();
    if ((index & 31) === 0 && index < pending.length && performance.now() > deadline) {
      ui.model.settle();
      ui.pendingIndex = index;
      ui.folding = true;
      ui.foldChannel.port2.postMessage(null);
      return;
    }
  }
  if (ui.model) ui.model.settle();
  dropPending();
  if (ui.flushWhenFolded && ui.model) {
    // Rendered in a task of its own, right after this one (not at the next animation
    // frame): the fold's task stays short.
    ui.flushWhenFolded = false;
    cancelAnimationFrame(ui.frame);
    clearTimeout(ui.frameTimer);
    ui.frameTimer = 0;
    ui.frame = -1;
    ui.flushChannel.port2.postMessage(null);
  }
}

// An update or a testcase's record (see foldPending), folded into a model.
function itemSeq(item) {
  return Array.isArray(item) ? item[0] : item.seq;
}

function applyItem(model, item) {
  if (Array.isArray(item)) model.applyRecord(item);
  else model.apply(item.event);
}

// Updates not folded yet are dropped (a snapshot supersedes them).
function dropPending() {
  ui.pending = [];
  ui.pendingIndex = 0;
}

// Refetches the full report (after a reset); updates that arrive meanwhile are replayed on it.
function startResync() {
  const resync = { buffer: [] };
  ui.resync = resync;
  fetchFullReport()
    .then((data) => {
      if (ui.resync !== resync || !data || !data.report) return;
      ui.resync = null;
      const model = new ReportModel(data.report, data.seq);
      for (const update of resync.buffer) if (itemSeq(update) > data.seq) applyItem(model, update);
      model.settle();
      ui.seq = Math.max(ui.seq, data.seq);
      adoptModel(model);
    })
    .catch((problem) => {
      if (ui.resync === resync) ui.resync = null;
      showToast(`Could not reload the report: ${problem.message}`, 'error');
    });
}

// What changed is painted in the next animation frame, but not sooner than
// REPAINT_INTERVAL_MS after the last repaint: a stream of updates repaints four times a
// second, not sixty (each repaint's style, layout and paint is CPU the plan needs on a small
// machine), while a lone update still shows at the next frame.
function scheduleRepaint() {
  if (ui.frame || ui.frameTimer) return;
  const wait = ui.paintedAt + REPAINT_INTERVAL_MS - performance.now();
  if (wait <= 0) {
    ui.frame = requestAnimationFrame(flush);
    return;
  }
  ui.frameTimer = setTimeout(() => {
    ui.frameTimer = 0;
    ui.frame = requestAnimationFrame(flush);
  }, wait);
}

// The rows built (a few dozen) compare what they show with their node's; the details pane
// looks again when its node (or anything below it) changed.
function flush() {
  ui.frame = 0;
  ui.paintedAt = performance.now();
  const all = ui.dirtyAll;
  ui.dirtyAll = false;
  ui.model.settle();
  ui.tree.updateRows('all');
  if (ui.filter.statuses.size > 0) applyFilter(true);
  else updateChipCounts();
  renderHeader();
  const selected = ui.model.node(ui.selected);
  if (all || !selected || selected.hash !== ui.detailsHash) renderSelectedDetails(false);
}

// ---- header ----

// Sets an element's text only when it differs: writing the same text still replaces the text
// node, and the browser lays out and paints it again.
function setText(element, text) {
  if (element.textContent !== text) element.textContent = text;
}

function renderHeader() {
  const model = ui.model;
  if (!model) return;
  const plan = model.plan;
  setText(ui.elements.planName, plan.name);
  const title = `${plan.name} · testrig`;
  if (document.title !== title) document.title = title;
  const counts = plan.counts;
  renderReload(model.report.reload);
  // Many frames of a run change nothing the header shows (a testcase started).
  const signature = JSON.stringify([counts, model.running.size, plan.runtime_status, !!model.report.interrupted]);
  if (signature === ui.headerSignature) return;
  ui.headerSignature = signature;
  // One chip per bucket of the report's counts (the JSON counts, the summary line's words);
  // the rarer ones only when they are not zero. While the same chips show, their numbers
  // change in place (a run changes them ten times a second; a rebuild repaints the header).
  const chips = [];
  for (const [key, label, always] of HEADER_COUNTS) {
    if (always || counts[key]) chips.push([key, label, counts[key] || 0, '']);
  }
  if (!ui.staticMode) chips.push(['running', 'running', model.running.size, model.running.size ? 'active' : '']);
  const layout = `${chips.map(([key]) => key).join(' ')} ${!!model.report.interrupted}`;
  const totals = ui.elements.totals;
  if (layout !== ui.headerLayout) {
    ui.headerLayout = layout;
    clearElement(totals);
    for (const [key, label] of chips) {
      totals.appendChild(h('span', { dataset: { testid: `count-${key}` } }, h('b'), h('span', { class: 'total-label' }, ` ${label}`)));
    }
    if (model.report.interrupted) totals.appendChild(h('span', { class: 'total t-interrupted', dataset: { testid: 'interrupted' } }, 'interrupted'));
  }
  chips.forEach(([key, label, value, extra], index) => {
    const chip = totals.children[index];
    const className = `total t-${key}${value ? '' : ' zero'}${extra ? ` ${extra}` : ''}`;
    if (chip.className !== className) chip.className = className;
    const title = `${value} ${HEADER_TITLES[key] || label}`;
    if (chip.title !== title) chip.title = title;
    setText(chip.firstChild, String(value));
  });
  updateCountsBar(ui.elements.progress, counts);
  ui.elements.progress.classList.toggle('running', plan.runtime_status === 'running' || model.running.size > 0);
}

// The header's progress bar: its segments grow in place while the same buckets show.
function updateCountsBar(progress, counts) {
  const fresh = countsBar(counts, 'progress-bar');
  const bar = progress.firstElementChild;
  const sameSegments = bar && bar.children.length === fresh.children.length
    && [...bar.children].every((segment, index) => segment.className === fresh.children[index].className);
  if (!sameSegments) {
    clearElement(progress);
    progress.appendChild(fresh);
    return;
  }
  if (bar.title !== fresh.title) bar.title = fresh.title;
  [...fresh.children].forEach((segment, index) => {
    const grow = segment.style.getPropertyValue('flex-grow');
    if (bar.children[index].style.getPropertyValue('flex-grow') !== grow) bar.children[index].style.setProperty('flex-grow', grow);
  });
}

const RELOAD_TITLES = {
  rebuilding: 'Rebuilding…',
  failed: 'Reload failed: the previous code keeps running',
  reloading: 'Reloading…',
  reloaded: 'Reloaded',
};

// The state of the last code reload: progress, the compiler's errors, or what changed.
function renderReload(reload) {
  // While a reload builds, the server refuses runs and environment requests (409).
  const building = Boolean(reload) && !ui.staticMode && (reload.phase === 'rebuilding' || reload.phase === 'reloading');
  document.body.classList.toggle('reloading', building);
  const box = ui.elements.reloadStatus;
  clearElement(box);
  box.hidden = !reload || ui.staticMode || ui.reloadDismissed === reload.time;
  if (box.hidden) return;
  box.dataset.phase = reload.phase;
  box.appendChild(h('b', { dataset: { testid: 'reload-phase' } }, RELOAD_TITLES[reload.phase] || reload.phase));
  if (reload.message) box.appendChild(h('pre', { dataset: { testid: 'reload-message' } }, reload.message));
  const stale = ui.model ? [...ui.model.nodes.values()].filter((node) => node.kind === 'testcase' && node.stale).map((node) => node.uid) : [];
  if (reload.phase === 'reloaded' && stale.length > 0) {
    box.appendChild(h('button', {
      type: 'button',
      class: 'btn small primary',
      dataset: { testid: 'run-stale' },
      title: 'Run the testcases this reload affects: their own code changed, or code they ran did (as `cargo testrig affected` recorded it)',
      onclick: () => notifyOutcome(runSelection(stale), `Queued ${stale.length} affected testcase(s)`),
    }, `▶ Run ${stale.length} affected`));
  }
  if (reload.phase === 'failed' || reload.phase === 'reloaded') {
    box.appendChild(h('button', { type: 'button', class: 'btn small', onclick: () => { ui.reloadDismissed = reload.time; box.hidden = true; } }, 'Dismiss'));
  }
}

// [bucket of the counts, label, shown when zero].
const HEADER_COUNTS = [
  ['passed', 'passed', true],
  ['failed', 'failed', true],
  ['error', 'error', true],
  ['crashed', 'crashed', false],
  ['xfail', 'xfail', false],
  ['xpass', 'xpass', false],
  ['incomplete', 'incomplete', false],
  ['cancelled', 'cancelled', false],
  ['skipped', 'skipped', false],
  ['unknown', 'not run', true],
];

const HEADER_TITLES = {
  failed: 'failed (strict xpass included)',
  xfail: 'expected failures that failed',
  xpass: 'expected failures that passed',
  cancelled: 'cancelled while running',
  crashed: 'crashed: their worker process died',
};

function updateSelectedButton() {
  const count = ui.tree ? ui.tree.checked.size : 0;
  const button = ui.elements.runSelected;
  button.querySelector('.count').textContent = `(${count})`;
  button.disabled = count === 0;
  button.dataset.count = String(count);
}

// ---- details ----

function renderSelectedDetails(force) {
  if (!ui.model) return;
  const node = ui.model.node(ui.selected);
  const now = performance.now();
  if (!force && node && node.kind !== 'testcase' && now - ui.detailsRenderedAt < GROUP_DETAILS_INTERVAL_MS) {
    if (!ui.detailsTimer) {
      ui.detailsTimer = setTimeout(() => {
        ui.detailsTimer = 0;
        renderSelectedDetails(true);
      }, GROUP_DETAILS_INTERVAL_MS);
    }
    return;
  }
  ui.detailsRenderedAt = now;
  ui.detailsHash = node ? node.hash : -1;
  const pane = ui.elements.details;
  const sameNode = pane.dataset.uid === (ui.selected || '');
  const signature = detailsSignature(node);
  // An update that changed nothing the pane shows leaves it alone.
  if (!force && sameNode && signature === ui.detailsSignature) return;
  ui.detailsSignature = signature;
  const fresh = renderDetails(ui.model, ui.selected, ui.ctx);
  const current = pane.firstElementChild;
  if (sameNode && current && current.tagName === fresh.tagName && current.dataset.uid === fresh.dataset.uid) {
    // In place: what the reader points at, and its scroll position, stay.
    morphElement(current, fresh, adoptDriverLog);
  } else {
    clearElement(pane);
    pane.appendChild(fresh);
    pane.scrollTop = 0;
  }
  pane.dataset.uid = ui.selected || '';
  // Polls the driver logs the pane now shows (a test's environment panel), or stops polling.
  ui.logs.show(pane);
  if (node) fetchMissingEntries(node);
}

// The entries of the shown node that the event stream left out: one request at a time,
// again (ENTRIES_REFETCH_MS later) while a running node records more.
const ENTRIES_REFETCH_MS = 250;

function fetchMissingEntries(node) {
  if (ui.staticMode || !ui.model || !ui.model.entriesMissing(node)) return;
  if (ui.entriesFetch) {
    ui.entriesFetch.again = true;
    return;
  }
  const fetch = { uid: node.uid, again: false };
  ui.entriesFetch = fetch;
  const model = ui.model;
  const epoch = node.entriesEpoch;
  fetchNode(node.uid, node === model.plan)
    .then((data) => {
      if (ui.model === model && data && model.adoptEntries(node.uid, data.entries, epoch) && ui.selected === node.uid) renderSelectedDetails(true);
    })
    .catch(() => {
      // Shown as "loading" until the next update of the node tries again.
    })
    .finally(() => {
      ui.entriesFetch = null;
      const shown = ui.model && ui.model.node(ui.selected);
      if (shown && ui.model.entriesMissing(shown) && (fetch.again || shown.uid !== fetch.uid || shown.runtime_status === 'running')) {
        setTimeout(() => {
          const still = ui.model && ui.model.node(ui.selected);
          if (still) fetchMissingEntries(still);
        }, ENTRIES_REFETCH_MS);
      }
    });
}

// What the details pane of a node shows, as a string: the node without its children, and
// the columns of the children table.
function detailsSignature(node) {
  if (!node) return '';
  const { children, hash, ...own } = node;
  const rows = children.slice(0, MAX_CHILD_ROWS).map((child) => [child.uid, child.status, child.runtime_status, child.counts, child.timer, child.stale]);
  return JSON.stringify([own, rows, children.length, !!ui.model.report.interrupted]);
}

function selectNode(uid, reveal) {
  if (!ui.model || !ui.model.node(uid)) return;
  ui.selected = uid;
  ui.tree.markSelected(uid, reveal);
  const hash = `#node=${encodeURIComponent(uid)}`;
  if (window.location.hash !== hash) {
    try {
      history.replaceState(null, '', hash);
    } catch (problem) {
      // file:// pages may refuse; the selection still works.
    }
  }
  renderSelectedDetails(true);
}

function selectionFromHash() {
  const match = /^#node=(.*)$/.exec(window.location.hash);
  if (!match) return null;
  try {
    return decodeURIComponent(match[1]);
  } catch (problem) {
    return null;
  }
}

// ---- actions ----

function notifyOutcome(promise, success) {
  return promise
    .then((data) => {
      if (success) showToast(typeof success === 'function' ? success(data) : success, 'info');
      return data;
    })
    .catch((problem) => showToast(problem.message, 'error'));
}

function runUid(uid) {
  const node = ui.model && ui.model.node(uid);
  const request = ui.model && uid === ui.model.plan.uid ? runPlan() : runNode(uid);
  notifyOutcome(request, (data) => `Queued ${node ? node.name : uid}${data && data.queued ? ` (${data.queued} testcase${data.queued === 1 ? '' : 's'})` : ''}`);
}

function setEnv(uid, wanted) {
  const node = ui.model && ui.model.node(uid);
  notifyOutcome(setEnvironment(uid, wanted), `${wanted === 'started' ? 'Starting' : 'Stopping'} the environment of ${node ? node.name : uid}`);
}

// The pane's controls say what they do in data-action (see details.js).
function wireDetailActions(pane) {
  pane.addEventListener('click', (event) => {
    const target = event.target.closest('[data-action]');
    if (!target || !pane.contains(target)) return;
    const { action, uid } = target.dataset;
    if (action === 'select') {
      event.preventDefault();
      selectNode(uid, true);
    } else if (action === 'run') {
      runUid(uid);
    } else if (action === 'env') {
      setEnv(uid, target.dataset.wanted);
    }
  });
  pane.addEventListener('change', (event) => {
    if (event.target.dataset.action !== 'failures-only') return;
    ui.ctx.failuresOnly = event.target.checked;
    renderSelectedDetails(true);
  });
}

// ---- filter ----

function applyFilter(liveRefresh) {
  if (!ui.model) return;
  const visible = visibleUids(ui.model, ui.filter);
  ui.tree.setVisible(visible, !!liveRefresh);
  updateChipCounts();
  const summary = ui.elements.filterSummary;
  if (visible === null) {
    summary.textContent = `${ui.model.testcaseCount} testcase${ui.model.testcaseCount === 1 ? '' : 's'}`;
  } else {
    summary.textContent = `${visible.matched} of ${ui.model.testcaseCount} testcases match`;
  }
}

function onFilterInput() {
  ui.filter = parseFilter(ui.elements.filter.value, ui.chips);
  applyFilter();
}

function populateTags() {
  const select = ui.elements.tagSelect;
  const tags = [...ui.model.tags].sort();
  const key = tags.join('\n');
  if (select.dataset.key === key) return;
  select.dataset.key = key;
  clearElement(select);
  select.appendChild(h('option', { value: '' }, tags.length ? 'Tag…' : 'No tags'));
  for (const tag of tags) select.appendChild(h('option', { value: tag }, tag));
  select.disabled = tags.length === 0;
}

function buildChips() {
  const box = ui.elements.chips;
  for (const chip of STATUS_CHIPS) {
    box.appendChild(h('button', {
      type: 'button',
      class: `chip chip-${chip.key}`,
      'aria-pressed': 'false',
      hidden: !!chip.optional,
      dataset: { testid: `chip-${chip.key}`, chip: chip.key },
      onclick: (event) => {
        const button = event.currentTarget;
        if (ui.chips.has(chip.key)) ui.chips.delete(chip.key);
        else ui.chips.add(chip.key);
        button.setAttribute('aria-pressed', String(ui.chips.has(chip.key)));
        onFilterInput();
      },
    }, h('span', { class: 'chip-label' }, chip.label), ' ', h('span', { class: 'chip-count', dataset: { testid: 'chip-count' } }, '0')));
  }
}

// Each chip says how many testcases it would show with the filter words as they are.
function updateChipCounts() {
  if (!ui.model) return;
  const counts = chipCounts(ui.model, ui.filter);
  for (const chip of STATUS_CHIPS) {
    const button = ui.elements.chips.querySelector(`[data-chip="${chip.key}"]`);
    const count = counts.get(chip.key) || 0;
    const text = String(count);
    const label = button.querySelector('.chip-count');
    if (label.textContent !== text) label.textContent = text;
    button.dataset.count = text;
    button.title = `${count} ${chip.label.toLowerCase()}`;
    button.hidden = !!chip.optional && count === 0 && !ui.chips.has(chip.key);
  }
}

// ---- start ----

function wireControls() {
  const e = ui.elements;
  let debounce = 0;
  e.filter.addEventListener('input', () => {
    clearTimeout(debounce);
    debounce = setTimeout(onFilterInput, 120);
  });
  e.filter.addEventListener('keydown', (event) => {
    if (event.key === 'Enter') {
      clearTimeout(debounce);
      onFilterInput();
    } else if (event.key === 'Escape') {
      e.filter.value = '';
      onFilterInput();
    }
  });
  e.tagSelect.addEventListener('change', () => {
    const tag = e.tagSelect.value;
    e.tagSelect.value = '';
    if (!tag) return;
    const token = `tag:${tag}`;
    const words = e.filter.value.split(/\s+/).filter(Boolean);
    if (!words.includes(token)) words.push(token);
    e.filter.value = words.join(' ');
    onFilterInput();
  });
  buildChips();
  byTestId('select-filtered').addEventListener('click', () => ui.model && ui.tree.replaceChecked(matchingTestcases(ui.model, ui.filter)));
  byTestId('select-failed').addEventListener('click', () => {
    if (!ui.model) return;
    const failed = [];
    for (const node of ui.model.nodes.values()) if (node.kind === 'testcase' && isFailureStatus(node.status)) failed.push(node.uid);
    ui.tree.replaceChecked(failed);
  });
  byTestId('select-none').addEventListener('click', () => ui.tree.replaceChecked([]));
  byTestId('expand-all').addEventListener('click', () => ui.tree.setAllExpanded(true));
  byTestId('collapse-all').addEventListener('click', () => ui.tree.setAllExpanded(false));
  byTestId('run-all').addEventListener('click', () => ui.model && runUid(ui.model.plan.uid));
  e.runSelected.addEventListener('click', () => {
    const uids = [...ui.tree.checked];
    if (uids.length) notifyOutcome(runSelection(uids), (data) => `Queued ${data && data.queued !== undefined ? data.queued : uids.length} selected testcase(s)`);
  });
  byTestId('cancel').addEventListener('click', () => notifyOutcome(cancelRuns(), 'Cancelled queued and running testcases'));
  byTestId('reset').addEventListener('click', () => notifyOutcome(resetResults(), 'Results cleared'));
  byTestId('reload').addEventListener('click', () => notifyOutcome(reloadPlan(), 'Rebuilding the plan'));
  e.planName.addEventListener('click', () => ui.model && selectNode(ui.model.plan.uid, true));
  window.addEventListener('hashchange', () => {
    const uid = selectionFromHash();
    if (uid && uid !== ui.selected) selectNode(uid, true);
  });
}

export function startApp() {
  ui.elements = {
    planName: byTestId('plan-name'),
    connection: byTestId('connection'),
    totals: byTestId('totals'),
    progress: byTestId('progress'),
    runSelected: byTestId('run-selected'),
    filter: byTestId('filter'),
    tagSelect: byTestId('tag-select'),
    chips: byTestId('status-chips'),
    filterSummary: byTestId('filter-summary'),
    details: byTestId('details-pane'),
    toasts: byTestId('toasts'),
    reloadStatus: byTestId('reload-status'),
  };
  const embedded = window.TESTRIG_REPORT;
  ui.staticMode = !!embedded;
  ui.ctx.staticMode = ui.staticMode;
  ui.logs = new DriverLogs(ui.staticMode);
  ui.ctx.driverLogs = ui.logs;
  document.body.classList.toggle('static', ui.staticMode);
  ui.tree = new TreeView(byTestId('tree'), {
    onSelect: (uid) => selectNode(uid, false),
    onRun: runUid,
    onEnv: setEnv,
    onCheckedChange: updateSelectedButton,
  }, ui.staticMode);
  wireControls();
  wireDetailActions(ui.elements.details);
  updateSelectedButton();
  if (ui.staticMode) {
    const config = window.TESTRIG_CONFIG || {};
    ui.ctx.editorUrl = config.editor_url || null;
    ui.ctx.sourceRoot = config.source_root || null;
    byTestId('static-badge').hidden = false;
    setConnection('static');
    const report = embedded.report && embedded.report.plan ? embedded.report : embedded;
    adoptModel(new ReportModel(report, embedded.seq || 0));
    return;
  }
  fetchConfig()
    .then((config) => {
      ui.ctx.editorUrl = (config && config.editor_url) || null;
      ui.ctx.sourceRoot = (config && config.source_root) || null;
      if (ui.model) renderSelectedDetails(true);
    })
    .catch((problem) => {
      if (problem.status === 401) showToast(problem.message, 'error');
    });
  ui.foldChannel = new MessageChannel();
  ui.foldChannel.port1.onmessage = foldPending;
  ui.flushChannel = new MessageChannel();
  ui.flushChannel.port1.onmessage = () => {
    if (ui.model) flush();
    else ui.frame = 0;
  };
  ui.feed = new EventFeed({ onSnapshot, onUpdates, onState: setConnection });
  ui.feed.open();
}

startApp();
