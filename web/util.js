// Small helpers shared by every module: element building, formatting, statuses, globs.
// Part of the inlining contract (see README.md): named exports on top-level declarations only,
// one-line imports, no default exports, top-level names unique across all modules.

// Builds an element. `props`: `class`, `text`, `dataset` (object), `style` (an object of CSS
// properties, `--custom` ones too, set through the CSSOM: the UI's Content-Security-Policy
// refuses `style` attributes), `on<event>` handlers, boolean and string attributes; children:
// nodes, strings, numbers, arrays, null.
export function h(tag, props, ...children) {
  const element = document.createElement(tag);
  if (props) {
    for (const [key, value] of Object.entries(props)) {
      if (value === undefined || value === null || value === false) continue;
      if (key === 'class') element.className = value;
      else if (key === 'text') element.textContent = value;
      else if (key === 'dataset') Object.assign(element.dataset, value);
      else if (key === 'style') setStyles(element, value);
      else if (key.startsWith('on') && typeof value === 'function') element.addEventListener(key.slice(2), value);
      else if (value === true) element.setAttribute(key, '');
      else element.setAttribute(key, String(value));
    }
  }
  appendChildren(element, children);
  return element;
}

export function setStyles(element, styles) {
  for (const [name, value] of Object.entries(styles)) element.style.setProperty(name, String(value));
}

export function appendChildren(element, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) appendChildren(element, child);
    else if (child instanceof Node) element.appendChild(child);
    else element.appendChild(document.createTextNode(String(child)));
  }
}

export function clearElement(element) {
  while (element.firstChild) element.removeChild(element.firstChild);
}

// Seconds → "12.3 ms", "1.24 s", "2 m 05 s".
export function formatDuration(seconds) {
  if (seconds === undefined || seconds === null || !isFinite(seconds)) return '';
  if (seconds < 0) seconds = 0;
  if (seconds < 1) return `${(seconds * 1000).toFixed(seconds < 0.01 ? 2 : 1)} ms`;
  if (seconds < 60) return `${seconds.toFixed(2)} s`;
  const minutes = Math.floor(seconds / 60);
  const rest = Math.round(seconds - minutes * 60);
  if (minutes < 60) return `${minutes} m ${String(rest).padStart(2, '0')} s`;
  return `${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, '0')} m`;
}

export function timerDuration(timer) {
  if (!timer || timer.start === undefined || timer.start === null) return null;
  if (timer.end === undefined || timer.end === null) return null;
  return timer.end - timer.start;
}

// Epoch seconds → local "HH:MM:SS.mmm" (with the date when it is not today).
export function formatTime(epochSeconds) {
  if (epochSeconds === undefined || epochSeconds === null) return '';
  const date = new Date(epochSeconds * 1000);
  const pad = (n, w = 2) => String(n).padStart(w, '0');
  const time = `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`;
  const today = new Date();
  if (date.toDateString() === today.toDateString()) return time;
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${time}`;
}

// Epoch seconds → local "YYYY-MM-DD HH:MM:SS" (always with the date).
export function formatDateTime(epochSeconds) {
  if (epochSeconds === undefined || epochSeconds === null || !isFinite(epochSeconds)) return '';
  const date = new Date(epochSeconds * 1000);
  const pad = (n) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

export function formatBytes(bytes) {
  if (bytes === undefined || bytes === null) return '';
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

// A glob (`*` any run, `?` one character) as an anchored, case-insensitive RegExp.
export function globToRegExp(glob) {
  let source = '';
  for (const ch of glob) {
    if (ch === '*') source += '.*';
    else if (ch === '?') source += '.';
    else source += ch.replace(/[.+^${}()|[\]\\/]/g, '\\$&');
  }
  return new RegExp(`^${source}$`, 'i');
}

export const STATUS_LABELS = {
  passed: 'passed',
  failed: 'failed',
  error: 'error',
  skipped: 'skipped',
  xfail: 'xfail',
  xpass: 'xpass',
  xpass_strict: 'xpass (strict)',
  incomplete: 'incomplete',
  cancelled: 'cancelled',
  crashed: 'crashed',
  unknown: 'not run',
};

// Testplan's severity order; the parent's status is the most severe of its children.
export const STATUS_PRECEDENCE = {
  error: 8,
  crashed: 8,
  failed: 7,
  xpass_strict: 7,
  incomplete: 6,
  unknown: 5,
  cancelled: 4,
  passed: 3,
  xpass: 3,
  xfail: 2,
  skipped: 1,
};

// Statuses that win a tie of precedence (the model's `Status::combine`): `error` over
// `crashed`, `failed` over `xpass_strict`, `passed` over `xpass`, so a parent's status does
// not depend on the order of its children.
const PLAIN_STATUSES = new Set(['error', 'failed', 'passed']);

export function combineStatus(a, b) {
  const rankA = (STATUS_PRECEDENCE[a] || 0) * 2 + (PLAIN_STATUSES.has(a) ? 1 : 0);
  const rankB = (STATUS_PRECEDENCE[b] || 0) * 2 + (PLAIN_STATUSES.has(b) ? 1 : 0);
  return rankB > rankA ? b : a;
}

export function isFailureStatus(status) {
  return status === 'failed' || status === 'error' || status === 'crashed' || status === 'xpass_strict' || status === 'incomplete';
}

export function statusLabel(status) {
  return STATUS_LABELS[status] || status || 'not run';
}

export function statusBadge(status, extra) {
  return h('span', { class: `badge st-${status || 'unknown'}${extra ? ` ${extra}` : ''}`, dataset: { status: status || 'unknown' } }, statusLabel(status));
}

// The status a group shows. The report folds "not run" above "passed", so a test whose
// testcases are partly run reads `unknown`; shown so it would read NOT RUN at 906 of 1000
// done. Once some testcase below has a result, the group shows the most severe result,
// marked partial.
export function displayStatus(node) {
  const counts = node.counts || {};
  if (node.kind === 'testcase' || node.status !== 'unknown' || !counts.total || counts.unknown >= counts.total) {
    return { status: node.status || 'unknown', partial: false };
  }
  let status = node.error ? 'error' : null;
  for (const bucket of ['passed', 'failed', 'error', 'crashed', 'skipped', 'xfail', 'xpass', 'incomplete', 'cancelled']) {
    if (counts[bucket] > 0) status = status === null ? bucket : combineStatus(status, bucket);
  }
  return { status: status || 'unknown', partial: true };
}

// "passed of total" by the closing line's rule: expected failures (xfail, xpass) count as
// passed. A testcase counts itself.
export function passedLabel(counts) {
  const passed = (counts.passed || 0) + (counts.xfail || 0) + (counts.xpass || 0);
  return { passed, total: counts.total || 0, text: `${passed}/${counts.total || 0}` };
}

// What a row or badge says about a group that is partly run: "passed · 94 not run".
export function displayLabel(node) {
  const shown = displayStatus(node);
  if (!shown.partial) return statusLabel(shown.status);
  return `${statusLabel(shown.status)} · ${node.counts.unknown} not run`;
}

// Brings `live` (in the page) to look like `fresh` (just rendered, detached) while keeping
// every element whose place and kind did not change: a reader's hover, focus, selection and
// scroll positions, and a test's element handles, survive an update. Elements are paired by
// position and by tag and key (data-testid, data-uid, data-driver, data-test); any other difference
// replaces the subtree. Listeners are not carried over, so morphed markup takes its actions
// from data attributes (see details.js). `adopt(live, fresh)` may take over an element
// itself and return true (the driver logs, painted by their own poller).
export function morphElement(live, fresh, adopt) {
  if (adopt && adopt(live, fresh)) return;
  for (const name of live.getAttributeNames()) {
    if (name !== 'style' && !fresh.hasAttribute(name)) live.removeAttribute(name);
  }
  for (const name of fresh.getAttributeNames()) {
    if (name === 'style') continue;
    const value = fresh.getAttribute(name);
    if (live.getAttribute(name) !== value) live.setAttribute(name, value);
  }
  // Styles go through the CSSOM: copying the attribute would trip the CSP.
  const styles = new Set([...live.style, ...fresh.style]);
  for (const name of styles) {
    const value = fresh.style.getPropertyValue(name);
    if (!value) live.style.removeProperty(name);
    else if (live.style.getPropertyValue(name) !== value) live.style.setProperty(name, value);
  }
  if (live instanceof HTMLInputElement) {
    live.checked = fresh.checked;
    live.indeterminate = fresh.indeterminate;
  }
  const liveChildren = [...live.childNodes];
  const freshChildren = [...fresh.childNodes];
  freshChildren.forEach((child, index) => {
    const current = liveChildren[index];
    if (current && sameKind(current, child)) {
      if (child.nodeType === Node.ELEMENT_NODE) morphElement(current, child, adopt);
      else if (current.nodeValue !== child.nodeValue) current.nodeValue = child.nodeValue;
    } else if (current) {
      live.replaceChild(child, current);
    } else {
      live.appendChild(child);
    }
  });
  for (let index = freshChildren.length; index < liveChildren.length; index += 1) liveChildren[index].remove();
}

function sameKind(a, b) {
  if (a.nodeType !== b.nodeType) return false;
  if (a.nodeType !== Node.ELEMENT_NODE) return true;
  if (a.tagName !== b.tagName) return false;
  for (const key of ['testid', 'uid', 'driver', 'test']) if (a.dataset[key] !== b.dataset[key]) return false;
  return true;
}

export function prettyJson(value) {
  try {
    return JSON.stringify(value, null, 2);
  } catch (problem) {
    return String(value);
  }
}

export function pluralize(count, word) {
  return `${count} ${word}${count === 1 ? '' : 's'}`;
}
