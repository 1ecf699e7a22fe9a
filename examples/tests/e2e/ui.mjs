// End-to-end test of the testrig web UI in Debian's Chromium, driven by playwright-core.
// Usage: node ui.mjs <interactive UI URL> <HTML report of `failures`> <screenshot dir>
//                    <HTML report of `parametrize` (has an xfail)>
// The virtualised tree is checked on a report of 10,000 testcases made here: the `failures`
// HTML report with its data replaced (written to the screenshot dir).
// Prints one line per check and a closing `N passed, N failed` line; exits 1 on failure.
// The printed UI URL carries a query string (the token): pages of the server are built with
// `new URL(path, url)`, never by appending to it.
import { readFileSync, writeFileSync } from 'node:fs';
import { check, finish, launchBrowser } from './harness.mjs';

const [url, htmlReport, artifacts, xfailReport] = process.argv.slice(2);
const browser = await launchBrowser();
const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
page.setDefaultTimeout(10000);
const row = (uid) => page.locator(`[data-testid="tree-row"][data-uid="${uid}"]`);
const rowWith = (uid, attributes) => page.locator(`[data-testid="tree-row"][data-uid="${uid}"]${attributes}`);
const byTestId = (id) => page.locator(`[data-testid="${id}"]`);

// The UI runs under the server's Content-Security-Policy: any violation is a failure.
const violations = [];
page.on('console', (message) => {
  if (/Content Security Policy/i.test(message.text())) violations.push(message.text());
});
page.on('pageerror', (error) => violations.push(`page error: ${error.message}`));

function expectEqual(actual, expected, what) {
  if (JSON.stringify(actual) !== JSON.stringify(expected)) {
    throw new Error(`${what}: got ${JSON.stringify(actual)}, want ${JSON.stringify(expected)}`);
  }
}

// The tree row that has the keyboard focus, if any.
const focusedRow = () => page.evaluate(() => {
  const element = document.activeElement;
  return element && element.matches('[data-testid="tree-row"]') ? element.dataset.uid : null;
});

async function pressUntilFocused(key, uid, limit) {
  for (let index = 0; index < limit; index += 1) {
    if (await focusedRow() === uid) return;
    await page.keyboard.press(key);
  }
  if (await focusedRow() !== uid) throw new Error(`${key} never reached ${uid} (focus on ${await focusedRow()})`);
}

// Header chips by bucket: { passed: 4, failed: 1, … }.
const headerCounts = (target) => target.$$eval('[data-testid="totals"] [data-testid^="count-"]', (chips) => Object.fromEntries(
  chips.map((chip) => [chip.dataset.testid.slice('count-'.length), Number(chip.querySelector('b').textContent)])));

const chipCount = async (key) => Number(await byTestId(`chip-${key}`).locator('[data-testid="chip-count"]').innerText());

// A report of 10 tests × 10 suites × 100 testcases (every 25th testcase failed), in the
// shape of testrig-model's Report, and the `failures` HTML report carrying it instead.
function bigReport() {
  const counts = () => ({ total: 0, passed: 0, failed: 0, error: 0, skipped: 0, xfail: 0, xpass: 0, incomplete: 0, cancelled: 0, unknown: 0 });
  const add = (into, from) => { for (const key of Object.keys(into)) into[key] += from[key]; };
  const group = (uid, name, kind, children) => {
    const total = counts();
    for (const child of children) add(total, child.counts);
    return { uid, name, kind, status: total.failed ? 'failed' : 'passed', runtime_status: 'finished', timer: {}, counts: total, children };
  };
  const tests = [];
  for (let t = 0; t < 10; t += 1) {
    const suites = [];
    for (let s = 0; s < 10; s += 1) {
      const cases = [];
      for (let c = 0; c < 100; c += 1) {
        const status = (t * 1000 + s * 100 + c) % 25 === 24 ? 'failed' : 'passed';
        const own = counts();
        own.total = 1;
        own[status] = 1;
        cases.push({ uid: `Test${t}/Suite${s}/case${c}`, name: `case${c}`, kind: 'testcase', status, runtime_status: 'finished', timer: {}, counts: own, entries: [] });
      }
      suites.push(group(`Test${t}/Suite${s}`, `Suite${s}`, 'suite', cases));
    }
    tests.push(group(`Test${t}`, `Test${t}`, 'test', suites));
  }
  return { schema_version: 1, host: 'e2e', interrupted: false, plan: group('big', 'big', 'plan', tests) };
}

function writeBigReport(template, path) {
  const html = readFileSync(template, 'utf8');
  const start = html.indexOf('window.TESTRIG_REPORT = ') + 'window.TESTRIG_REPORT = '.length;
  const end = html.indexOf(';\nwindow.TESTRIG_CONFIG', start);
  if (start < 'window.TESTRIG_REPORT = '.length || end < 0) throw new Error('the HTML report has no TESTRIG_REPORT line');
  const data = JSON.stringify(bigReport()).replace(/<\//g, '<\\/');
  writeFileSync(path, html.slice(0, start) + data + html.slice(end));
  return path;
}

const box = async (locator) => {
  const found = await locator.boundingBox();
  if (!found) throw new Error('element is not shown');
  return found;
};
const overlaps = (a, b) => a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;

try {
  await page.goto(url);

  await check('the tree shows the plan and connects', async () => {
    await row('EchoTest/Echo/round_trip').waitFor();
    await page.locator('[data-testid="connection"]').filter({ hasText: /connected/i }).waitFor();
    await page.locator('[role="tree"] [role="treeitem"][aria-level="3"]').first().waitFor();
  });

  await check('keyboard only: Tab reaches the tree once, arrows walk it, Enter runs the testcase and its details open', async () => {
    await pressUntilFocused('Tab', 'EchoTest', 60);
    const stops = await page.$$eval('[data-testid="tree-row"]', (rows) => rows.filter((candidate) => candidate.tabIndex === 0).length);
    expectEqual(stops, 1, 'rows in the tab order');
    await pressUntilFocused('ArrowDown', 'EchoTest/Echo/round_trip', 5);
    await rowWith('EchoTest/Echo/round_trip', '[aria-selected="true"]').waitFor();
    await page.locator('[data-testid="details"][data-uid="EchoTest/Echo/round_trip"]').waitFor();
    await page.keyboard.press('Enter');
    await rowWith('EchoTest/Echo/round_trip', '[data-status="passed"]').waitFor();
    await page.locator('[data-testid="details"] [data-testid="entry"]').filter({ hasText: 'server gets what the client sent' }).waitFor();
    // ← goes to the parent, ← again closes it, → opens it, → again enters its first child.
    await page.keyboard.press('ArrowLeft');
    expectEqual(await focusedRow(), 'EchoTest/Echo', 'focus after ←');
    await page.keyboard.press('ArrowLeft');
    await rowWith('EchoTest/Echo', '[aria-expanded="false"]').waitFor();
    await row('EchoTest/Echo/round_trip').waitFor({ state: 'hidden' });
    await page.keyboard.press('ArrowRight');
    await rowWith('EchoTest/Echo', '[aria-expanded="true"]').waitFor();
    await page.keyboard.press('ArrowRight');
    expectEqual(await focusedRow(), 'EchoTest/Echo/round_trip', 'focus after → →');
    await page.keyboard.press('End');
    expectEqual(await focusedRow(), 'EchoTest/Echo/square/n_3', 'focus after End');
    await page.keyboard.press('Home');
    expectEqual(await focusedRow(), 'EchoTest', 'focus after Home');
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('ArrowDown');
    // Tab leaves the tree in one step, Shift+Tab comes back to the same row.
    await page.keyboard.press('Tab');
    expectEqual(await focusedRow(), null, 'focus after Tab');
    await page.keyboard.press('Shift+Tab');
    expectEqual(await focusedRow(), 'EchoTest/Echo/round_trip', 'focus after Shift+Tab');
  });

  await check('a partly run test and suite show their results, not NOT RUN', async () => {
    for (const uid of ['EchoTest', 'EchoTest/Echo']) {
      const target = rowWith(uid, '[data-status="passed"][data-partial="true"]');
      await target.waitFor();
      const title = await target.getAttribute('title');
      expectEqual(title.split('\n')[1], 'passed · 6 not run', `${uid} row title`);
    }
  });

  await check('the details pane stays in place while updates stream in', async () => {
    await row('EchoTest/Echo/round_trip').click();
    const pane = byTestId('details-pane');
    // An update of another testcase changes nothing this pane shows: no DOM write at all.
    await pane.evaluate((element) => {
      window.detailMutations = 0;
      window.detailObserver = new MutationObserver((records) => { window.detailMutations += records.length; });
      window.detailObserver.observe(element, { subtree: true, childList: true, attributes: true, characterData: true });
    });
    await row('EchoTest/Echo/square').locator('[data-testid="run-node"]').click();
    for (const n of [1, 2, 3]) await rowWith(`EchoTest/Echo/square/n_${n}`, '[data-status="passed"]').waitFor();
    await page.waitForTimeout(400);
    expectEqual(await page.evaluate(() => window.detailMutations), 0, 'mutations of the pane while another testcase ran');
    // A rerun of the shown testcase updates the pane in place: the title and the Run button
    // stay the same elements. (Its entries are new: a rerun starts with none.)
    const title = await byTestId('details-title').elementHandle();
    const button = await byTestId('details-run').elementHandle();
    await button.click();
    await page.waitForFunction(() => window.detailMutations > 0);
    await rowWith('EchoTest/Echo/round_trip', '[data-status="passed"][data-runtime-status="finished"]').waitFor();
    await page.waitForTimeout(400);
    await page.evaluate(() => window.detailObserver.disconnect());
    for (const [name, handle] of [['title', title], ['run button', button]]) {
      if (!await handle.evaluate((element) => element.isConnected)) throw new Error(`the ${name} was replaced`);
    }
    await page.locator('[data-testid="details"] [data-testid="entry"]').first().waitFor();
  });

  await check('a failing comparison labels its actual and expected values', async () => {
    await row('EchoTest/Echo/shows_a_failure').locator('[data-testid="run-node"]').click();
    await rowWith('EchoTest/Echo/shows_a_failure', '[data-status="failed"]').waitFor();
    await row('EchoTest/Echo/shows_a_failure').click();
    const comparison = page.locator('[data-testid="details"] [data-testid="entry"][data-type="Comparison"] [data-testid="comparison"]').first();
    const parts = await comparison.evaluate((element) => ['label-actual', 'actual', 'label-expected', 'expected']
      .map((id) => element.querySelector(`[data-testid="${id}"]`)?.textContent));
    expectEqual(parts, ['actual', '54', 'expected', '42'], 'comparison');
    const text = (await comparison.innerText()).replace(/\s+/g, ' ').trim();
    expectEqual(text, 'actual 54 == expected 42', 'comparison text');
  });

  await check('the suite table counts testcases as the tree does and fills the Passed column of every row', async () => {
    await row('EchoTest/Echo').click();
    await page.locator('[data-testid="details"][data-uid="EchoTest/Echo"]').waitFor();
    const heading = (await byTestId('children-heading').innerText()).replace(/\s+/g, ' ');
    if (!/^Testcases 7\b/.test(heading)) throw new Error(`heading: ${heading}`);
    expectEqual(await byTestId('filter-summary').innerText(), '7 testcases', 'filter summary');
    const passed = await page.$$eval('[data-testid="child-row"]', (rows) => Object.fromEntries(
      rows.map((tr) => [tr.dataset.uid.split('/').pop(), tr.querySelector('[data-testid="child-passed"]').textContent])));
    expectEqual(passed, { round_trip: '1/1', shows_a_failure: '0/1', attaches_a_file: '0/1', slow: '0/1', square: '3/3' }, 'Passed column');
  });

  await check('the status chips show their counts, as the header does', async () => {
    const header = await headerCounts(page);
    expectEqual([header.passed, header.failed, header.error, header.unknown], [4, 1, 0, 2], 'header');
    expectEqual([await chipCount('passed'), await chipCount('failed'), await chipCount('error'), await chipCount('not_run')], [4, 1, 0, 2], 'chips');
    await byTestId('filter').fill('square');
    await page.waitForFunction(() => document.querySelector('[data-testid="chip-not_run"] [data-testid="chip-count"]').textContent === '0');
    expectEqual(await chipCount('passed'), 3, 'passed chip under the filter "square"');
    await byTestId('filter').fill('');
    await page.waitForFunction(() => document.querySelector('[data-testid="chip-passed"] [data-testid="chip-count"]').textContent === '4');
  });

  await check('a cancelled testcase reads as cancelled, not as an error', async () => {
    await row('EchoTest/Echo/slow').locator('[data-testid="run-node"]').click();
    await rowWith('EchoTest/Echo/slow', '[data-runtime-status="running"]').waitFor();
    await byTestId('cancel').click();
    await rowWith('EchoTest/Echo/slow', '[data-status="cancelled"]').waitFor();
    await row('EchoTest/Echo/slow').click();
    const badge = page.locator('[data-testid="details"] .title-row .badge[data-status]');
    expectEqual((await badge.innerText()).toLowerCase(), 'cancelled', 'details badge');
    const note = await byTestId('node-error').innerText();
    if (!/^Cancelled/.test(note) || !/cancelled while running/.test(note)) throw new Error(`error box: ${note}`);
    const header = await headerCounts(page);
    expectEqual([header.cancelled, header.error], [1, 0], 'header cancelled / error');
    expectEqual(await chipCount('cancelled'), 1, 'cancelled chip');
  });

  await check('toasts: at most two, a repeat counts up, none over the tree or the details', async () => {
    // The cancel check's own toast may still be up: then this makes ×5.
    for (let index = 0; index < 4; index += 1) await byTestId('cancel').click();
    const cancelled = page.locator('[data-testid="toast"]').filter({ hasText: 'Cancelled queued' });
    await cancelled.locator('[data-testid="toast-count"]').filter({ hasText: /^×[45]$/ }).waitFor();
    expectEqual(await cancelled.count(), 1, 'toasts of the repeated message');
    await row('EchoTest/Echo/round_trip').locator('[data-testid="run-node"]').click();
    await page.locator('[data-testid="toast"]').filter({ hasText: 'Queued round_trip' }).waitFor();
    await row('EchoTest/Echo/square').locator('[data-testid="run-node"]').click();
    await page.locator('[data-testid="toast"]').filter({ hasText: 'Queued square' }).waitFor();
    expectEqual(await page.locator('[data-testid="toast"]').count(), 2, 'toasts shown');
    const toasts = await box(byTestId('toasts'));
    for (const id of ['tree', 'details-pane']) {
      if (overlaps(toasts, await box(byTestId(id)))) throw new Error(`the toasts cover the ${id}`);
    }
    await page.screenshot({ path: `${artifacts}/toasts.png` });
  });

  await check('the environment toggle stops and starts the drivers', async () => {
    const toggle = page.locator('[data-testid="env-toggle"][data-uid="EchoTest"]');
    await toggle.click();
    await page.locator('[data-testid="driver-status"][data-driver="server"][data-status="stopped"]').waitFor();
    await toggle.click();
    await page.locator('[data-testid="driver-status"][data-driver="server"][data-status="started"]').waitFor();
  });

  await check('the filter narrows the tree', async () => {
    await byTestId('filter').fill('square');
    await row('EchoTest/Echo/round_trip').waitFor({ state: 'hidden' });
    await row('EchoTest/Echo/square/n_2').waitFor({ state: 'visible' });
    await byTestId('filter').fill('');
    await row('EchoTest/Echo/round_trip').waitFor({ state: 'visible' });
  });

  await page.screenshot({ path: `${artifacts}/ui.png`, fullPage: true });

  await check('at 800×600 the header stays on one line and every button, Clear included, is whole', async () => {
    await page.setViewportSize({ width: 800, height: 600 });
    await page.waitForTimeout(200);
    const bar = await box(page.locator('header.topbar'));
    if (bar.height > 48) throw new Error(`the header is ${bar.height}px tall: it wraps`);
    const sidebar = await box(page.locator('aside.sidebar'));
    const whole = async (id, container) => {
      const target = await box(byTestId(id));
      const inside = target.x >= container.x - 0.5 && target.y >= container.y - 0.5
        && target.x + target.width <= container.x + container.width + 0.5 && target.y + target.height <= container.y + container.height + 0.5;
      if (!inside) throw new Error(`${id} is clipped: ${JSON.stringify(target)} outside ${JSON.stringify(container)}`);
      const hit = await page.evaluate(([x, y, testid]) => document.elementFromPoint(x, y)?.closest(`[data-testid="${testid}"]`) !== null,
        [target.x + target.width - 2, target.y + target.height / 2, id]);
      if (!hit) throw new Error(`${id} is covered at its right edge`);
    };
    const viewport = { x: 0, y: 0, width: 800, height: 600 };
    for (const id of ['run-all', 'run-selected', 'cancel', 'reset', 'reload', 'plan-name']) await whole(id, viewport);
    for (const id of ['select-filtered', 'select-failed', 'select-none', 'expand-all', 'collapse-all']) await whole(id, sidebar);
    await page.screenshot({ path: `${artifacts}/ui-800x600.png` });
    await page.setViewportSize({ width: 1400, height: 900 });
  });

  await check('the HTML report opens from disk without any network request', async () => {
    const offline = await browser.newPage();
    const requests = [];
    await offline.route('**/*', (route) => {
      requests.push(route.request().url());
      return route.request().url().startsWith('file://') ? route.continue() : route.abort();
    });
    await offline.goto(`file://${htmlReport}`);
    await offline.locator('[data-testid="tree-row"]').first().waitFor();
    const other = requests.filter((address) => !address.startsWith(`file://${htmlReport}`));
    if (other.length > 0) throw new Error(`network requests: ${other.join(', ')}`);
    await offline.screenshot({ path: `${artifacts}/html-report.png` });
    await offline.close();
  });

  await check('the HTML header names the xfail and agrees with the JSON counts', async () => {
    const offline = await browser.newPage();
    await offline.goto(`file://${xfailReport}`);
    await offline.locator('[data-testid="tree-row"]').first().waitFor();
    const counts = await offline.evaluate(() => window.TESTRIG_REPORT.plan.counts);
    const header = await headerCounts(offline);
    expectEqual([header.passed, header.xfail, header.skipped, header.failed], [14, 1, 1, 0], 'header');
    for (const [bucket, value] of Object.entries(header)) {
      if (bucket !== 'running' && counts[bucket] !== value) throw new Error(`header ${bucket} ${value}, JSON ${counts[bucket]}`);
    }
    for (const [bucket, value] of Object.entries(counts)) {
      if (bucket !== 'total' && value > 0 && header[bucket] !== value) throw new Error(`JSON ${bucket} ${value} missing from the header`);
    }
    await offline.close();
  });

  // The virtualised tree, on 10,000 testcases (static mode: selection follows the keyboard).
  const big = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  big.setDefaultTimeout(10000);
  big.on('pageerror', (error) => violations.push(`page error (big report): ${error.message}`));
  const bigRow = (uid) => big.locator(`[data-testid="tree-row"][data-uid="${uid}"]`);
  const rowsBuilt = () => big.locator('[data-testid="tree-row"]').count();
  const bigFocus = () => big.evaluate(() => document.activeElement?.dataset?.uid || null);
  // The row lies wholly inside the tree's scrolled viewport.
  const inView = async (uid) => {
    const [row, tree] = [await box(bigRow(uid)), await box(big.locator('[data-testid="tree"]'))];
    return row.y >= tree.y - 0.5 && row.y + row.height <= tree.y + tree.height + 0.5;
  };

  await check('10,000 testcases: only the rows near the viewport are built, after expand all too', async () => {
    await big.goto(`file://${writeBigReport(htmlReport, `${artifacts}/big-report.html`)}`);
    await bigRow('Test0').waitFor();
    expectEqual((await headerCounts(big)).failed, 400, 'failed in the header');
    const before = await rowsBuilt();
    if (before > 120) throw new Error(`${before} rows built for 110 shown`);
    await big.locator('[data-testid="expand-all"]').click();
    await bigRow('Test0/Suite0/case0').waitFor();
    const after = await rowsBuilt();
    if (after > 120) throw new Error(`${after} rows built after expand all`);
    const height = await big.locator('.tree-rows').evaluate((element) => element.getBoundingClientRect().height);
    const rowHeight = (await box(bigRow('Test0'))).height;
    expectEqual(Math.round(height / rowHeight), 10110, 'rows the spacer holds room for');
    expectEqual(await bigRow('Test0/Suite0/case7').getAttribute('aria-setsize'), '100', 'aria-setsize of a testcase');
    expectEqual(await bigRow('Test0/Suite0/case7').getAttribute('aria-posinset'), '8', 'aria-posinset of case7');
  });

  await check('10,000 testcases: scrolling to the end shows the last testcase', async () => {
    await big.locator('[data-testid="tree"]').evaluate((tree) => { tree.scrollTop = tree.scrollHeight; });
    await bigRow('Test9/Suite9/case99').waitFor();
    if (!await inView('Test9/Suite9/case99')) throw new Error('the last row is not in view');
    await bigRow('Test0/Suite0/case0').waitFor({ state: 'detached' });
    if (await rowsBuilt() > 120) throw new Error(`${await rowsBuilt()} rows built at the end`);
  });

  await check('10,000 testcases: the keyboard crosses the virtual window and keeps the focused row', async () => {
    await big.locator('[data-testid="tree"]').evaluate((tree) => { tree.scrollTop = 0; });
    await bigRow('Test0').click();
    await big.keyboard.press('End');
    expectEqual(await bigFocus(), 'Test9/Suite9/case99', 'focus after End');
    if (!await inView('Test9/Suite9/case99')) throw new Error('End did not scroll the last row into view');
    await big.locator('[data-testid="details"][data-uid="Test9/Suite9/case99"]').waitFor();
    await big.keyboard.press('Home');
    expectEqual(await bigFocus(), 'Test0', 'focus after Home');
    // Test0, Suite0, then case0…: 50 steps down is case48, well below the first screen.
    for (let step = 0; step < 50; step += 1) await big.keyboard.press('ArrowDown');
    expectEqual(await bigFocus(), 'Test0/Suite0/case48', 'focus after 50 × ↓');
    if (!await inView('Test0/Suite0/case48')) throw new Error('↓ did not keep the focused row in view');
    // Scrolled far away, the focused row stays built (and focused); ↓ brings it back.
    await big.locator('[data-testid="tree"]').evaluate((tree) => { tree.scrollTop = tree.scrollHeight / 2; });
    await big.waitForTimeout(100);
    expectEqual(await bigFocus(), 'Test0/Suite0/case48', 'focus after scrolling away');
    const stops = await big.$$eval('[data-testid="tree-row"]', (rows) => rows.filter((candidate) => candidate.tabIndex === 0).map((candidate) => candidate.dataset.uid));
    expectEqual(stops, ['Test0/Suite0/case48'], 'rows in the tab order');
    await big.keyboard.press('ArrowDown');
    expectEqual(await bigFocus(), 'Test0/Suite0/case49', 'focus after ↓ from far away');
    if (!await inView('Test0/Suite0/case49')) throw new Error('the focused row did not come back into view');
    await big.locator('[data-testid="details"][data-uid="Test0/Suite0/case49"]').waitFor();
    // ← goes up to the suite, ← closes it: its 100 testcases leave the list.
    await big.keyboard.press('ArrowLeft');
    expectEqual(await bigFocus(), 'Test0/Suite0', 'focus after ←');
    await big.keyboard.press('ArrowLeft');
    await big.locator('[data-testid="tree-row"][data-uid="Test0/Suite0"][aria-expanded="false"]').waitFor();
    await big.keyboard.press('ArrowDown');
    expectEqual(await bigFocus(), 'Test0/Suite1', 'focus after ↓ past the closed suite');
  });

  await check('10,000 testcases: a deep row is found by the filter and by its link', async () => {
    await big.locator('[data-testid="collapse-all"]').click();
    await bigRow('Test0/Suite1/case0').waitFor({ state: 'detached' });
    await big.locator('[data-testid="filter"]').fill('Test7/Suite3/case57');
    await bigRow('Test7/Suite3/case57').waitFor();
    expectEqual(await big.locator('[data-testid="filter-summary"]').innerText(), '1 of 10000 testcases match', 'filter summary');
    await big.locator('[data-testid="filter"]').fill('');
    await bigRow('Test7/Suite3/case57').waitFor({ state: 'detached' });
    await big.evaluate(() => { window.location.hash = '#node=Test8/Suite2/case42'; });
    await big.locator('[data-testid="tree-row"][data-uid="Test8/Suite2/case42"][aria-selected="true"]').waitFor();
    if (!await inView('Test8/Suite2/case42')) throw new Error('the linked row is not in view');
    await big.locator('[data-testid="details"][data-uid="Test8/Suite2/case42"]').waitFor();
    // The Failed chip: 400 testcases, few enough for their groups to open.
    await big.locator('[data-testid="chip-failed"]').click();
    await bigRow('Test8/Suite2/case42').waitFor({ state: 'detached' });
    await big.locator('[data-testid="tree"]').evaluate((tree) => { tree.scrollTop = 0; });
    await big.locator('[data-testid="tree-row"][data-uid="Test0/Suite0/case24"][data-status="failed"]').waitFor();
    expectEqual(Number(await big.locator('[data-testid="chip-failed"] [data-testid="chip-count"]').innerText()), 400, 'failed chip');
    await big.screenshot({ path: `${artifacts}/big-report.png` });
  });
  await big.close();

  await check('no Content-Security-Policy violation and no script error', async () => {
    if (violations.length > 0) throw new Error(violations.join('\n'));
  });
} finally {
  await browser.close();
}

finish();
