// The interactive REST API and its server-sent event stream (same origin only).

export const API_BASE = '/api/v1/interactive';

// `?token=…` on the page URL: sent as `X-Testrig-Token` and as `?token=` where headers cannot be.
export function accessToken() {
  try {
    return new URLSearchParams(window.location.search).get('token');
  } catch (problem) {
    return null;
  }
}

// UIDs contain `/` and maybe spaces: each segment is encoded on its own.
export function encodePath(path) {
  return String(path).split('/').map(encodeURIComponent).join('/');
}

function withToken(url) {
  const token = accessToken();
  if (!token) return url;
  return `${url}${url.includes('?') ? '&' : '?'}token=${encodeURIComponent(token)}`;
}

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export async function apiRequest(method, path, body) {
  const headers = { Accept: 'application/json' };
  const token = accessToken();
  if (token) headers['X-Testrig-Token'] = token;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let response;
  try {
    response = await fetch(`${API_BASE}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
      cache: 'no-store',
    });
  } catch (problem) {
    throw new ApiError(0, `cannot reach the server (${problem.message || problem})`);
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch (problem) {
      data = { error: text };
    }
  }
  if (!response.ok) {
    const message = (data && data.error) || `${response.status} ${response.statusText}`;
    throw new ApiError(response.status, message);
  }
  return data;
}

export function fetchFullReport() {
  return apiRequest('GET', '/report/full');
}

// A node without its children (`GET nodes/<uid>`; the plan is `GET report`): its entries
// are what the event stream leaves out.
export function fetchNode(uid, isPlan) {
  return apiRequest('GET', isPlan ? '/report' : `/nodes/${encodePath(uid)}`);
}

export function fetchConfig() {
  return apiRequest('GET', '/config');
}

export function runNode(uid) {
  return apiRequest('PUT', `/nodes/${encodePath(uid)}`, { runtime_status: 'running' });
}

// The plan as a whole (Run all): `PUT /report`.
export function runPlan() {
  return apiRequest('PUT', '/report', { runtime_status: 'running' });
}

export function runSelection(uids) {
  return apiRequest('POST', '/run', { uids });
}

export function setEnvironment(uid, envStatus) {
  return apiRequest('PUT', `/nodes/${encodePath(uid)}`, { env_status: envStatus });
}

export function cancelRuns() {
  return apiRequest('POST', '/cancel');
}

export function resetResults() {
  return apiRequest('POST', '/reset');
}

// The last `lines` lines of a driver's logs: `{test, driver, lines}` (404 for an unknown test or
// driver). The test UID is one path segment here, so its `/` are encoded too.
export function reloadPlan() {
  return apiRequest('POST', '/reload');
}

export function fetchDriverLog(testUid, driverName, lines) {
  return apiRequest('GET', `/drivers/${encodeURIComponent(testUid)}/${encodeURIComponent(driverName)}/log?lines=${encodeURIComponent(lines)}`);
}

export function attachmentUrl(path) {
  return withToken(`${API_BASE}/attachments/${encodePath(path)}`);
}

// The event stream: `snapshot` first (on every (re)connection), then numbered updates, in
// `compact` messages (`?compact=true`: every update the server had waiting, a testcase's
// steps as one record, one parse for up to a thousand testcases) and without recorded
// entries (an `entry_recorded` step says only whether it failed; the page fetches the
// entries of the node it shows, see app.js). `update` and `updates` messages (the plain and
// the batched stream) are read too.
//
// Read with `fetch` and parsed here rather than through `EventSource`: Chromium's
// EventSource dispatches one DOM event per message, which costs about 40 µs each (1.3 s for
// the 30,000 updates of a run of 10,000 testcases, before any of them is folded). Here each
// network chunk is split into messages by hand and its updates go to `onUpdates` in
// batches, each parsed with one `JSON.parse`. A dropped stream, or a server out of reach, is
// tried again after FEED_RETRY_MS, doubling up to FEED_OFFLINE_RETRY_MS while it keeps
// failing (`reconnecting`); a refused one (401, 403, not an event stream) after
// FEED_OFFLINE_RETRY_MS (`offline`).
export const FEED_RETRY_MS = 500;
export const FEED_OFFLINE_RETRY_MS = 3000;
// Updates parsed and handed on together (well under a millisecond's work).
export const FEED_BATCH = 250;

export class EventFeed {
  constructor({ onSnapshot, onUpdates, onState }) {
    this.onSnapshot = onSnapshot;
    this.onUpdates = onUpdates;
    this.onState = onState;
    this.controller = null;
    this.retryTimer = null;
    this.everConnected = false;
    this.retryMs = FEED_RETRY_MS;
    this.failures = 0;
  }

  open() {
    this.close();
    this.onState(this.everConnected ? 'reconnecting' : 'connecting');
    const controller = new AbortController();
    this.controller = controller;
    this.read(controller).then(
      () => this.ended(controller, false),
      (problem) => this.ended(controller, !!(problem && problem.refused)),
    );
  }

  // The stream ended or failed: a new one after a pause (longer after each failure in a
  // row, and after a refusal), unless this one was closed.
  ended(controller, refused) {
    if (this.controller !== controller) return;
    this.controller = null;
    this.failures += 1;
    this.onState(refused ? 'offline' : 'reconnecting');
    const delay = refused ? FEED_OFFLINE_RETRY_MS : Math.min(FEED_OFFLINE_RETRY_MS, this.retryMs * 2 ** (this.failures - 1));
    this.retryTimer = setTimeout(() => this.open(), delay);
  }

  async read(controller) {
    const headers = { Accept: 'text/event-stream' };
    const token = accessToken();
    if (token) headers['X-Testrig-Token'] = token;
    const response = await fetch(`${API_BASE}/events?compact=true`, { headers, credentials: 'same-origin', cache: 'no-store', signal: controller.signal });
    const type = response.headers.get('Content-Type') || '';
    if (!response.ok || !response.body || !type.startsWith('text/event-stream')) {
      if (response.body) response.body.cancel().catch(() => {});
      throw Object.assign(new Error(`${response.status}`), { refused: true });
    }
    // Bytes decoded here rather than through a TextDecoderStream: one stream and its
    // promises less per network chunk.
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    const parser = new EventStreamParser();
    for (;;) {
      const { value, done } = await reader.read();
      if (done || this.controller !== controller) return;
      await this.dispatch(controller, parser.push(decoder.decode(value, { stream: true })));
    }
  }

  // Hands a chunk's messages on in order: an `updates` message (the server's batch, a JSON
  // array) or consecutive `update`s (in batches of at most FEED_BATCH) in one parse each, a
  // parse in a task of its own (a chunk read after the page was busy can hold thousands).
  async dispatch(controller, messages) {
    let updates = [];
    let parsed = 0;
    const handOn = async (batch) => {
      if (parsed > 0) await nextTask();
      parsed += 1;
      if (this.controller !== controller) return;
      if (batch.length) this.onUpdates(batch);
    };
    const flush = async () => {
      for (let start = 0; start < updates.length; start += FEED_BATCH) {
        await handOn(parseAll(updates.slice(start, start + FEED_BATCH)));
      }
      updates = [];
    };
    for (const message of messages) {
      if (this.controller !== controller) return;
      if (message.retry !== undefined) this.retryMs = message.retry;
      if (message.event === 'update') {
        updates.push(message.data);
      } else if (message.event === 'updates') {
        await flush();
        await handOn(parseBatch(message.data));
      } else if (message.event === 'compact') {
        await flush();
        await handOn(parseCompact(message.data));
      } else if (message.event === 'snapshot') {
        await flush();
        let data = null;
        try {
          data = JSON.parse(message.data);
        } catch (problem) {
          continue;
        }
        // The parse of a large report and the page built from it: two tasks.
        await nextTask();
        if (this.controller !== controller) return;
        this.everConnected = true;
        this.failures = 0;
        this.onState('connected');
        this.onSnapshot(data);
      }
    }
    await flush();
  }

  // A fresh snapshot (used when the stream has a gap).
  reopen() {
    this.open();
  }

  close() {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    const controller = this.controller;
    this.controller = null;
    if (controller) controller.abort();
  }
}

// Resolves in a task of its own (a message to itself: no timer clamping), so the page can
// paint in between. One channel for every wait (a channel each costs tens of microseconds).
const taskWaiters = [];
let taskChannel = null;
function nextTask() {
  if (!taskChannel) {
    taskChannel = new MessageChannel();
    taskChannel.port1.onmessage = () => {
      const waiter = taskWaiters.shift();
      if (waiter) waiter();
    };
  }
  return new Promise((resolve) => {
    taskWaiters.push(resolve);
    taskChannel.port2.postMessage(null);
  });
}

// The server's batch of updates, a JSON array (nothing if it does not parse: the next
// update's seq shows the gap).
function parseBatch(text) {
  try {
    const batch = JSON.parse(text);
    return Array.isArray(batch) ? batch : [];
  } catch (problem) {
    return [];
  }
}

// A `compact` message: `{from, to, updates}`, handed on as its updates after a marker
// `{range: [from, to]}` (the seqs the message stands for; an item is an update, or a
// testcase's record `[seq, uid, start, end, status, entries, failed, error]`, see
// ReportModel.applyRecord). Nothing if it does not parse: the next message shows the gap.
function parseCompact(text) {
  try {
    const message = JSON.parse(text);
    if (!message || !Array.isArray(message.updates)) return [];
    const items = message.updates;
    items.unshift({ range: [message.from, message.to] });
    return items;
  } catch (problem) {
    return [];
  }
}

// Many messages' JSON in one parse; one by one (skipping what does not parse) if that fails.
function parseAll(texts) {
  try {
    return JSON.parse(`[${texts.join(',')}]`);
  } catch (problem) {
    const parsed = [];
    for (const text of texts) {
      try {
        parsed.push(JSON.parse(text));
      } catch (ignored) {
        // A malformed message is dropped; the next update's seq shows the gap.
      }
    }
    return parsed;
  }
}

// The text/event-stream format, fed chunk by chunk: `push` returns the messages the chunk
// completed, `{event, data, retry?}` (`event` defaults to `message`; comments are skipped).
export class EventStreamParser {
  constructor() {
    // The text after the last complete message, in the chunks it came in: joined once a
    // message ends (appending to one string would copy a snapshot of megabytes once per
    // chunk).
    this.parts = [];
    this.endsWithNewline = false;
    this.afterCR = false;
  }

  push(chunk) {
    // Lines may end in CRLF, LF or CR; a CRLF may be split between two chunks.
    if (this.afterCR && chunk[0] === '\n') chunk = chunk.slice(1);
    this.afterCR = chunk.endsWith('\r');
    if (chunk.includes('\r')) chunk = chunk.replace(/\r\n?/g, '\n');
    if (chunk === '') return [];
    // A message ends at a blank line: in the chunk, or across the end of the last one.
    const ended = chunk.includes('\n\n') || (this.endsWithNewline && chunk[0] === '\n');
    this.endsWithNewline = chunk[chunk.length - 1] === '\n';
    this.parts.push(chunk);
    if (!ended) return [];
    const pending = this.parts.length === 1 ? chunk : this.parts.join('');
    const end = pending.lastIndexOf('\n\n');
    const rest = pending.slice(end + 2);
    this.parts = rest === '' ? [] : [rest];
    const messages = [];
    for (const block of pending.slice(0, end).split('\n\n')) {
      let event = 'message';
      let data = null;
      let retry;
      for (const line of block.split('\n')) {
        if (line === '' || line[0] === ':') continue;
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        let value = colon < 0 ? '' : line.slice(colon + 1);
        if (value[0] === ' ') value = value.slice(1);
        if (field === 'event') event = value;
        else if (field === 'data') data = data === null ? value : `${data}\n${value}`;
        else if (field === 'retry' && /^\d+$/.test(value)) retry = Number(value);
      }
      if (data !== null || retry !== undefined) messages.push({ event, data, retry });
    }
    return messages;
  }
}
