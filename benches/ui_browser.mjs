// The web UI at 10,000 testcases in a real browser (issue 13): `plan10k -i 0` served to
// Debian's Chromium, driven by the playwright-core of the browser tests.
//
//   ui_run_all_10k_api_s      Run all through the API alone: `PUT /report` {"runtime_status":
//                             "running"}, then `GET /report` until the plan node is finished
//                             again (results reset before each run, no page open); median of 5.
//   ui_run_all_10k_browser_s  The same run from the page: a click on "Run all" until the
//                             header says 10,000 passed and none running; median of 5. The
//                             API and the browser runs alternate (API, page, API, page, …),
//                             each page opened fresh for its run and closed after it.
//   ui_run_all_10k_ratio      browser / API.
//   ui_expand_all_10k_ms      A click on "expand all" in a freshly loaded page (every suite
//                             collapsed) until the frame after it is painted; median of 5.
//   ui_longest_task_ms        The longest main-thread task of the page during a run-all (wall
//                             time): the longest of the `longtask` entries (50 ms and over)
//                             of the 5 timed runs and of every task in a sixth run traced
//                             through the DevTools protocol (which sees the shorter ones too).
//   ui_longest_task_cpu_ms    The most CPU time one main-thread task took in the traced run
//                             (its thread time): what the page itself asked for, without the
//                             time the thread waited for a core the plan was using.
//
// Usage: node benches/ui_browser.mjs [path of plan10k] (default target/release/plan10k).
// UI_RUNS=N times N runs instead of 5 (medians of more runs on a noisy machine);
// UI_POOL=process|thread starts the plan with that `--pool` (default: the `-i` default).
// Prints one figure per line, `NAME VALUE UNIT`; progress goes to stderr. The plan is
// stopped at the end, on an error and on Ctrl-C.

import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import http from 'node:http';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const { chromium } = require(join(root, 'examples/tests/e2e/node_modules/playwright-core'));

const RUNS = Number(process.env.UI_RUNS) || 5;
const TESTCASES = 10000;
const planBinary = process.argv[2] || join(root, 'target/release/plan10k');
if (!existsSync(planBinary)) {
  console.error(`error: ${planBinary} is missing; build it with cargo build --release -p testrig-benches`);
  process.exit(2);
}

const log = (message) => process.stderr.write(`ui_browser: ${message}\n`);
const sleep = (ms) => new Promise((done) => setTimeout(done, ms));
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)];

// ---- the plan ----

const runpath = mkdtempSync(join(tmpdir(), 'testrig-ui-browser-'));
let plan = null;
let browser = null;

async function startPlan() {
  plan = spawn(planBinary, ['-i', '0', '--no-reload-watch', ...(process.env.UI_POOL ? ['--pool', process.env.UI_POOL] : []), '--runpath', runpath], { stdio: ['ignore', 'pipe', 'ignore'] });
  const exited = new Promise((_, fail) => plan.once('exit', (code) => fail(new Error(`plan10k exited (${code}) before it printed its URL`))));
  const line = new Promise((done) => {
    let text = '';
    const onData = (chunk) => {
      text += chunk;
      const end = text.indexOf('\n');
      if (end < 0) return;
      // Keep draining the pipe so the plan never blocks on a full one.
      plan.stdout.off('data', onData);
      plan.stdout.resume();
      done(text.slice(0, end).trim());
    };
    plan.stdout.setEncoding('utf8');
    plan.stdout.on('data', onData);
  });
  const first = await Promise.race([line, exited]);
  const match = /^Interactive testrig UI: (http:\/\/\S+)$/.exec(first);
  if (!match) throw new Error(`unexpected first line from plan10k: ${first}`);
  const url = new URL(match[1]);
  return { url: match[1], host: url.host, token: url.searchParams.get('token') };
}

async function stopPlan() {
  if (!plan || plan.exitCode !== null || plan.signalCode !== null) return;
  const gone = new Promise((done) => plan.once('exit', done));
  plan.kill('SIGINT');
  const timer = setTimeout(() => plan.kill('SIGKILL'), 5000);
  await gone;
  clearTimeout(timer);
}

function api(server, method, path, body) {
  return new Promise((done, fail) => {
    const payload = body === undefined ? '' : JSON.stringify(body);
    const [hostname, port] = server.host.split(':');
    const request = http.request({
      hostname,
      port: Number(port),
      method,
      path: `/api/v1/interactive${path}`,
      headers: {
        Host: server.host,
        'X-Testrig-Token': server.token || '',
        'Content-Type': 'application/json',
        'Content-Length': Buffer.byteLength(payload),
      },
    }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk) => { text += chunk; });
      response.on('end', () => {
        if (response.statusCode >= 300) fail(new Error(`${method} ${path}: ${response.statusCode} ${text}`));
        else done(text ? JSON.parse(text) : null);
      });
    });
    request.on('error', fail);
    request.end(payload);
  });
}

// Polls the plan node every 10 ms: often enough for a 1 % resolution, seldom enough that
// the polling takes next to no CPU from the run it times.
async function waitForPlanStatus(server, wanted) {
  for (;;) {
    const plan = await api(server, 'GET', '/report');
    if (plan.runtime_status === wanted) return plan;
    await sleep(10);
  }
}

// Clears every result (refused while something runs, so after a finished run only).
async function reset(server) {
  await api(server, 'POST', '/reset');
  await waitForPlanStatus(server, 'ready');
}

async function runAllThroughApi(server) {
  await reset(server);
  const started = process.hrtime.bigint();
  await api(server, 'PUT', '/report', { runtime_status: 'running' });
  const finished = await waitForPlanStatus(server, 'finished');
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (finished.counts.passed !== TESTCASES) throw new Error(`the API run passed ${finished.counts.passed} of ${TESTCASES}`);
  return seconds;
}

// ---- the page ----

async function openPage(url) {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  page.setDefaultTimeout(60000);
  page.on('pageerror', (error) => log(`page error: ${error.message}`));
  await page.goto(url);
  await page.locator('[data-testid="connection"][data-state="connected"]').waitFor();
  await page.locator('[data-testid="tree-row"][data-uid="Test0"]').waitFor();
  return page;
}

// The page's Content-Security-Policy refuses eval: predicates are functions, not strings.
function headerShows(page, wanted) {
  return page.waitForFunction((counts) => Object.entries(counts).every(([key, value]) =>
    Number(document.querySelector(`[data-testid="count-${key}"] b`)?.textContent) === value), wanted);
}

// The page shows the reset: nothing passed, every testcase not run, nothing running; then
// a moment for the refetch of the report to settle.
async function waitForResetShown(page) {
  await headerShows(page, { passed: 0, unknown: TESTCASES, running: 0 });
  await page.evaluate(() => new Promise((done) => requestAnimationFrame(() => setTimeout(done, 0))));
  await sleep(300);
}

// Clicks Run all and waits until the header says every testcase passed and none runs;
// returns the seconds that took and the long tasks (≥ 50 ms) the page saw meanwhile.
function runAllInPage(page) {
  return page.evaluate(({ total }) => new Promise((done) => {
    const tasks = [];
    const observer = new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) tasks.push(entry.duration);
    });
    observer.observe({ type: 'longtask' });
    const count = (key) => Number(document.querySelector(`[data-testid="count-${key}"] b`)?.textContent);
    const totals = document.querySelector('[data-testid="totals"]');
    let mutations = null;
    let frame = 0;
    const started = performance.now();
    const check = () => {
      if (count('passed') !== total || count('running') !== 0) return;
      const seconds = (performance.now() - started) / 1000;
      mutations.disconnect();
      cancelAnimationFrame(frame);
      // Long tasks are reported after they end: one more turn for the last of them.
      setTimeout(() => {
        observer.disconnect();
        done({ seconds, tasks });
      }, 100);
    };
    mutations = new MutationObserver(check);
    mutations.observe(totals, { subtree: true, childList: true, characterData: true, attributes: true });
    const poll = () => {
      check();
      frame = requestAnimationFrame(poll);
    };
    document.querySelector('[data-testid="run-all"]').click();
    frame = requestAnimationFrame(poll);
  }), { total: TESTCASES });
}

// The longest task of the page's main thread during a run-all, from a DevTools trace: its
// wall time and, separately, the most thread (CPU) time of one task.
async function tracedLongestTask(page, server) {
  await reset(server);
  await waitForResetShown(page);
  const cdp = await page.context().newCDPSession(page);
  const events = [];
  cdp.on('Tracing.dataCollected', (data) => events.push(...data.value));
  const complete = new Promise((done) => cdp.once('Tracing.tracingComplete', done));
  await cdp.send('Tracing.start', { categories: 'toplevel,__metadata', transferMode: 'ReportEvents' });
  await runAllInPage(page);
  await cdp.send('Tracing.end');
  await complete;
  await cdp.detach();
  const mainThreads = new Set(events
    .filter((event) => event.ph === 'M' && event.name === 'thread_name' && event.args && event.args.name === 'CrRendererMain')
    .map((event) => `${event.pid}:${event.tid}`));
  // A task of the main thread is a `ThreadControllerImpl::RunTask` (`RunTask` in older
  // versions): complete events, or begin/end pairs.
  const isTask = (event) => (event.name === 'ThreadControllerImpl::RunTask' || event.name === 'RunTask')
    && mainThreads.has(`${event.pid}:${event.tid}`);
  let wall = 0;
  let cpu = 0;
  const open = [];
  for (const event of events) {
    if (!isTask(event)) continue;
    if (event.ph === 'X') {
      wall = Math.max(wall, (event.dur || 0) / 1000);
      cpu = Math.max(cpu, (event.tdur || 0) / 1000);
    } else if (event.ph === 'B') {
      open.push([event.ts, event.tts]);
    } else if (event.ph === 'E' && open.length) {
      const [ts, tts] = open.pop();
      wall = Math.max(wall, (event.ts - ts) / 1000);
      if (tts !== undefined && event.tts !== undefined) cpu = Math.max(cpu, (event.tts - tts) / 1000);
    }
  }
  return { wall, cpu };
}

async function expandAllInFreshPage(url) {
  const page = await openPage(url);
  await headerShows(page, { unknown: TESTCASES });
  await sleep(300);
  const ms = await page.evaluate(() => new Promise((done) => {
    const started = performance.now();
    document.querySelector('[data-testid="expand-all"]').click();
    // The frame after the click: style, layout and paint of what the click changed.
    requestAnimationFrame(() => setTimeout(() => done(performance.now() - started), 0));
  }));
  const rows = await page.locator('[data-testid="tree-row"]').count();
  await page.close();
  return { ms, rows };
}

// ---- the benchmark ----

// Ctrl-C or a kill: the plan goes too.
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    if (plan && plan.exitCode === null) plan.kill('SIGKILL');
    rmSync(runpath, { recursive: true, force: true });
    process.exit(130);
  });
}

let failed = false;
try {
  const server = await startPlan();
  log(`plan10k at ${server.host}; load average ${loadavg().map((value) => value.toFixed(2)).join(' ')}`);
  await waitForPlanStatus(server, 'ready');

  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run'],
  });

  const expandTimes = [];
  for (let run = 0; run < RUNS; run += 1) {
    const { ms, rows } = await expandAllInFreshPage(server.url);
    expandTimes.push(ms);
    log(`expand all ${run + 1}: ${ms.toFixed(1)} ms (${rows} rows in the DOM)`);
  }

  // The API alone (no page open) and the page, run after run, so that both see the same
  // moment of a machine that other work shares.
  const apiTimes = [];
  const browserTimes = [];
  let longest = 0;
  for (let run = 0; run < RUNS; run += 1) {
    apiTimes.push(await runAllThroughApi(server));
    await reset(server);
    const runPage = await openPage(server.url);
    await waitForResetShown(runPage);
    const { seconds, tasks } = await runAllInPage(runPage);
    await runPage.close();
    browserTimes.push(seconds);
    const runLongest = tasks.length ? Math.max(...tasks) : 0;
    longest = Math.max(longest, runLongest);
    log(`run ${run + 1}: API ${apiTimes[run].toFixed(3)} s, browser ${seconds.toFixed(3)} s (${(seconds / apiTimes[run]).toFixed(2)}x), ${tasks.length} long tasks, longest ${runLongest.toFixed(0)} ms`);
  }
  const page = await openPage(server.url);
  const traced = await tracedLongestTask(page, server);
  log(`traced run: longest task ${traced.wall.toFixed(1)} ms, most CPU in one task ${traced.cpu.toFixed(1)} ms`);
  longest = Math.max(longest, traced.wall);
  await page.close();

  const apiSeconds = median(apiTimes);
  const browserSeconds = median(browserTimes);
  console.log(`ui_run_all_10k_api_s ${apiSeconds.toFixed(3)} s`);
  console.log(`ui_run_all_10k_browser_s ${browserSeconds.toFixed(3)} s`);
  console.log(`ui_run_all_10k_ratio ${(browserSeconds / apiSeconds).toFixed(2)} x`);
  console.log(`ui_expand_all_10k_ms ${median(expandTimes).toFixed(1)} ms`);
  console.log(`ui_longest_task_ms ${longest.toFixed(1)} ms`);
  console.log(`ui_longest_task_cpu_ms ${traced.cpu.toFixed(1)} ms`);
} catch (error) {
  failed = true;
  console.error(`ui_browser: ${error && error.stack || error}`);
} finally {
  if (browser) await browser.close().catch(() => {});
  await stopPlan().catch(() => {});
  rmSync(runpath, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
