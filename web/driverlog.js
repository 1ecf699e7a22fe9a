// Log tails of the drivers in a test's environment panel.
//
// Live mode: `DriverLogs` fetches `GET drivers/<test>/<driver>/log?lines=30` for every driver
// of the displayed test when its panel is shown, then every DRIVER_LOG_INTERVAL_MS while the
// panel stays displayed and the page is visible, and at once when one of its drivers changes
// status. Fetched lines are cached (so a repaint of the details pane shows them at once) and
// painted in place, without re-rendering the pane. Static mode fetches nothing and shows the
// `log_tail` stored in the report.

import { h, clearElement, formatTime } from './util.js';
import { fetchDriverLog } from './api.js';

export const DRIVER_LOG_LINES = 30;
export const DRIVER_LOG_INTERVAL_MS = 2000;

// Log element → { fallback: the report's log_tail, note: its status element, staticMode, text,
// entry: the cached fetch it was rendered with }.
const driverLogParts = new WeakMap();
// Log elements whose scroll position is restored and followed (once per element).
const settledLogs = new WeakSet();

function driverLogKey(testUid, driverName) {
  return `${testUid}\n${driverName}`;
}

function logAtBottom(element) {
  return element.scrollHeight - element.scrollTop - element.clientHeight < 4;
}

// What a log element shows: fetched lines, else the report's log_tail, else a placeholder.
function driverLogView(parts, entry) {
  const fallback = parts.fallback;
  if (parts.staticMode) {
    return fallback.length
      ? { lines: fallback, state: 'static', note: 'stored in the report' }
      : { lines: [], state: 'static', note: '', placeholder: 'No log lines stored in the report.' };
  }
  if (!entry) {
    return fallback.length
      ? { lines: fallback, state: 'loading', note: 'loading…' }
      : { lines: [], state: 'loading', note: 'loading…', placeholder: 'Loading…' };
  }
  const lines = entry.lines && entry.lines.length ? entry.lines : fallback;
  const when = entry.fetchedAt ? `updated ${formatTime(entry.fetchedAt / 1000)}` : '';
  if (entry.error) {
    return { lines, state: 'error', note: `could not fetch: ${entry.error}`, placeholder: lines.length ? '' : `Could not fetch the log: ${entry.error}` };
  }
  return { lines, state: 'live', note: `live · ${when}`, placeholder: lines.length ? '' : 'No log output yet.' };
}

// Paints a log element (when its text changed); one that was scrolled to the bottom stays there.
export function paintDriverLog(element, entry) {
  const parts = driverLogParts.get(element);
  if (!parts) return;
  const view = driverLogView(parts, entry);
  element.dataset.state = view.state;
  element.dataset.lines = String(view.lines.length);
  if (parts.note) {
    parts.note.textContent = view.note;
    parts.note.classList.toggle('bad-text', view.state === 'error');
  }
  const text = view.lines.length ? view.lines.join('\n') : view.placeholder;
  if (parts.text === text) return;
  const stick = element.isConnected ? logAtBottom(element) : true;
  parts.text = text;
  clearElement(element);
  element.classList.toggle('placeholder', view.lines.length === 0);
  if (view.lines.length === 0) {
    element.textContent = text;
  } else {
    view.lines.forEach((line, index) => {
      const stream = /^\[(stdout|stderr)\]/.exec(line);
      element.appendChild(h('span', { class: stream ? `ln ln-${stream[1]}` : 'ln' }, line));
      if (index < view.lines.length - 1) element.appendChild(document.createTextNode('\n'));
    });
  }
  if (stick) element.scrollTop = element.scrollHeight;
}

// The log block of one driver. `logs`: the `DriverLogs` of the page (null in static mode).
export function driverLogBlock(testUid, driver, logs, staticMode) {
  const note = h('span', { class: 'driver-log-note', dataset: { testid: 'driver-log-note' } });
  const element = h('pre', {
    class: 'driver-log',
    tabindex: '0',
    'aria-label': `Log of ${driver.name}`,
    dataset: { testid: 'driver-log', driver: driver.name, test: testUid },
  });
  const entry = !staticMode && logs ? logs.entry(testUid, driver.name) : null;
  driverLogParts.set(element, { fallback: (driver.log_tail || []).map(String), note, staticMode: !!staticMode, text: null, entry });
  paintDriverLog(element, entry);
  const label = staticMode ? 'Last log lines' : `Log (last ${DRIVER_LOG_LINES} lines)`;
  return h('div', { class: 'driver-log-box' },
    h('div', { class: 'driver-log-head' }, h('span', null, label), note),
    element);
}

// For util.js `morphElement`: the log in the page stays (its lines, its scroll position) and
// takes the freshly rendered one's data, e.g. a `log_tail` stored when its driver failed.
export function adoptDriverLog(live, fresh) {
  if (live.dataset.testid !== 'driver-log') return false;
  const parts = driverLogParts.get(fresh);
  const kept = driverLogParts.get(live);
  if (!parts || !kept) return false;
  driverLogParts.set(live, { ...parts, note: kept.note, text: kept.text });
  paintDriverLog(live, parts.entry);
  return true;
}

// Polls the log tails of the test whose environment panel is displayed.
export class DriverLogs {
  constructor(staticMode) {
    this.staticMode = !!staticMode;
    this.cache = new Map();
    this.scroll = new Map();
    this.pane = null;
    this.test = null;
    this.drivers = [];
    this.timer = 0;
    this.inFlight = false;
    this.again = false;
    this.generation = 0;
    if (!this.staticMode) document.addEventListener('visibilitychange', () => this.onVisibility());
  }

  entry(testUid, driverName) {
    return this.cache.get(driverLogKey(testUid, driverName)) || null;
  }

  // After every render of the details pane: restores the log scroll positions, then polls the
  // test whose log elements the pane shows, or stops polling when it shows none.
  show(pane) {
    this.pane = pane;
    const elements = [...pane.querySelectorAll('[data-testid="driver-log"]')];
    for (const element of elements) this.settle(element);
    if (this.staticMode || elements.length === 0) {
      this.stop();
      return;
    }
    const test = elements[0].dataset.test;
    this.drivers = elements.map((element) => element.dataset.driver);
    if (this.test === test) return;
    this.stop();
    this.test = test;
    this.refresh();
  }

  stop() {
    clearTimeout(this.timer);
    this.timer = 0;
    this.test = null;
    this.inFlight = false;
    this.again = false;
    this.generation += 1;
  }

  // A driver of `testUid` changed status: fetch now when that test is displayed.
  driverChanged(testUid) {
    if (this.test !== null && this.test === testUid) this.refresh();
  }

  onVisibility() {
    if (document.visibilityState === 'hidden') {
      clearTimeout(this.timer);
      this.timer = 0;
    } else if (this.test !== null) {
      this.refresh();
    }
  }

  refresh() {
    clearTimeout(this.timer);
    this.timer = 0;
    if (this.test === null || document.visibilityState === 'hidden') return;
    if (this.inFlight) {
      this.again = true;
      return;
    }
    const test = this.test;
    const generation = this.generation;
    this.inFlight = true;
    const requests = this.drivers.map((name) => fetchDriverLog(test, name, DRIVER_LOG_LINES).then(
      (data) => ({ name, lines: Array.isArray(data && data.lines) ? data.lines.map(String) : [] }),
      (problem) => ({ name, error: (problem && problem.message) || String(problem) })));
    Promise.all(requests).then((results) => {
      const fetchedAt = Date.now();
      for (const result of results) {
        const key = driverLogKey(test, result.name);
        const previous = this.cache.get(key);
        // A failed fetch keeps the lines of the last good one.
        this.cache.set(key, result.error
          ? { lines: previous ? previous.lines : [], error: result.error, fetchedAt: previous ? previous.fetchedAt : 0 }
          : { lines: result.lines, error: null, fetchedAt });
      }
      if (generation !== this.generation) return;
      this.inFlight = false;
      this.paint();
      if (this.again) {
        this.again = false;
        this.refresh();
      } else {
        this.schedule();
      }
    });
  }

  schedule() {
    clearTimeout(this.timer);
    this.timer = 0;
    if (this.test === null || document.visibilityState === 'hidden') return;
    this.timer = setTimeout(() => {
      this.timer = 0;
      this.refresh();
    }, DRIVER_LOG_INTERVAL_MS);
  }

  paint() {
    if (!this.pane || this.test === null) return;
    for (const element of this.pane.querySelectorAll('[data-testid="driver-log"]')) {
      if (element.dataset.test !== this.test) continue;
      paintDriverLog(element, this.entry(this.test, element.dataset.driver));
    }
  }

  // A freshly rendered log element: back to where the reader left it (the bottom by default).
  settle(element) {
    if (settledLogs.has(element)) return;
    settledLogs.add(element);
    const key = driverLogKey(element.dataset.test, element.dataset.driver);
    const memory = this.scroll.get(key);
    element.scrollTop = memory && !memory.bottom ? memory.top : element.scrollHeight;
    element.addEventListener('scroll', () => {
      this.scroll.set(key, { bottom: logAtBottom(element), top: element.scrollTop });
    });
  }
}
