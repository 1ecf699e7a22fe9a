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

// The event stream: `snapshot` first (on every (re)connection), then numbered `update`s.
// EventSource reconnects by itself after a dropped connection; when it gives up (the server
// refused the request, or it is gone) the feed opens a new one after a pause.
export class EventFeed {
  constructor({ onSnapshot, onUpdate, onState }) {
    this.onSnapshot = onSnapshot;
    this.onUpdate = onUpdate;
    this.onState = onState;
    this.source = null;
    this.retryTimer = null;
    this.everConnected = false;
  }

  open() {
    this.close();
    this.onState(this.everConnected ? 'reconnecting' : 'connecting');
    const source = new EventSource(withToken(`${API_BASE}/events`));
    this.source = source;
    source.addEventListener('open', () => {
      if (this.source === source) this.onState(this.everConnected ? 'reconnecting' : 'connecting');
    });
    source.addEventListener('snapshot', (message) => {
      if (this.source !== source) return;
      this.everConnected = true;
      this.onState('connected');
      this.onSnapshot(JSON.parse(message.data));
    });
    source.addEventListener('update', (message) => {
      if (this.source !== source) return;
      this.onUpdate(JSON.parse(message.data));
    });
    source.addEventListener('error', () => {
      if (this.source !== source) return;
      if (source.readyState === EventSource.CLOSED) {
        this.onState('offline');
        this.retryTimer = setTimeout(() => this.open(), 3000);
      } else {
        this.onState('reconnecting');
      }
    });
  }

  // A fresh snapshot (used when the stream has a gap).
  reopen() {
    this.open();
  }

  close() {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    if (this.source) this.source.close();
    this.source = null;
  }
}
