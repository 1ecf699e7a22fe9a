// Small helpers shared by every module: element building, formatting, statuses, globs.
// Part of the inlining contract (see README.md): named exports on top-level declarations only,
// one-line imports, no default exports, top-level names unique across all modules.

// Builds an element. `props`: `class`, `text`, `dataset` (object), `style` (string), `on<event>`
// handlers, boolean and string attributes; children: nodes, strings, numbers, arrays, null.
export function h(tag, props, ...children) {
  const element = document.createElement(tag);
  if (props) {
    for (const [key, value] of Object.entries(props)) {
      if (value === undefined || value === null || value === false) continue;
      if (key === 'class') element.className = value;
      else if (key === 'text') element.textContent = value;
      else if (key === 'dataset') Object.assign(element.dataset, value);
      else if (key.startsWith('on') && typeof value === 'function') element.addEventListener(key.slice(2), value);
      else if (value === true) element.setAttribute(key, '');
      else element.setAttribute(key, String(value));
    }
  }
  appendChildren(element, children);
  return element;
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
  unknown: 'not run',
};

// Testplan's severity order; the parent's status is the most severe of its children.
export const STATUS_PRECEDENCE = {
  error: 8,
  failed: 7,
  xpass_strict: 7,
  incomplete: 6,
  unknown: 5,
  passed: 3,
  xpass: 3,
  xfail: 2,
  skipped: 1,
};

export function combineStatus(a, b) {
  return (STATUS_PRECEDENCE[b] || 0) > (STATUS_PRECEDENCE[a] || 0) ? b : a;
}

export function isFailureStatus(status) {
  return status === 'failed' || status === 'error' || status === 'xpass_strict' || status === 'incomplete';
}

export function statusLabel(status) {
  return STATUS_LABELS[status] || status || 'not run';
}

export function statusBadge(status, extra) {
  return h('span', { class: `badge st-${status || 'unknown'}${extra ? ` ${extra}` : ''}`, dataset: { status: status || 'unknown' } }, statusLabel(status));
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
