// End-to-end test of the testrig web UI in Debian's Chromium, driven by playwright-core.
// Usage: node ui.mjs <interactive UI URL> <self-contained HTML report path> <screenshot dir>
// Prints one line per check and a closing `N passed, N failed` line; exits 1 on failure.
import { check, finish, launchBrowser } from './harness.mjs';

const [url, htmlReport, artifacts] = process.argv.slice(2);
const browser = await launchBrowser();
const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
page.setDefaultTimeout(10000);
const row = (uid) => page.locator(`[data-testid="tree-row"][data-uid="${uid}"]`);

try {
  await page.goto(url);

  await check('the tree shows the plan and connects', async () => {
    await row('EchoTest/Echo/round_trip').waitFor();
    await page.locator('[data-testid="connection"]').filter({ hasText: /connected/i }).waitFor();
  });

  await check('running one testcase by clicking shows its assertions with values', async () => {
    await row('EchoTest/Echo/round_trip').locator('[data-testid="run-node"]').click();
    await page.locator('[data-testid="tree-row"][data-uid="EchoTest/Echo/round_trip"][data-status="passed"]').waitFor();
    await row('EchoTest/Echo/round_trip').click();
    const entry = page.locator('[data-testid="details"] [data-testid="entry"]').first();
    await entry.waitFor();
    const text = await entry.innerText();
    if (!text.includes('server gets what the client sent') || !text.includes('hello')) {
      throw new Error(`entry does not show description and values: ${text}`);
    }
  });

  await check('a failing testcase shows expected and actual values', async () => {
    await row('EchoTest/Echo/shows_a_failure').locator('[data-testid="run-node"]').click();
    await page.locator('[data-testid="tree-row"][data-uid="EchoTest/Echo/shows_a_failure"][data-status="failed"]').waitFor();
    await row('EchoTest/Echo/shows_a_failure').click();
    const details = await page.locator('[data-testid="details"]').innerText();
    if (!details.includes('54') || !details.includes('42')) throw new Error(`values missing: ${details}`);
  });

  await check('running a suite runs its testcases', async () => {
    await row('EchoTest/Echo/square').locator('[data-testid="run-node"]').click();
    for (const n of [1, 2, 3]) {
      await page.locator(`[data-testid="tree-row"][data-uid="EchoTest/Echo/square/n_${n}"][data-status="passed"]`).waitFor();
    }
  });

  await check('the environment toggle stops and starts the drivers', async () => {
    const toggle = page.locator('[data-testid="env-toggle"][data-uid="EchoTest"]');
    await toggle.click();
    await page.locator('[data-testid="driver-status"][data-driver="server"][data-status="stopped"]').waitFor();
    await toggle.click();
    await page.locator('[data-testid="driver-status"][data-driver="server"][data-status="started"]').waitFor();
  });

  await check('the filter narrows the tree', async () => {
    await page.locator('[data-testid="filter"]').fill('square');
    await row('EchoTest/Echo/round_trip').waitFor({ state: 'hidden' });
    await row('EchoTest/Echo/square/n_2').waitFor({ state: 'visible' });
    await page.locator('[data-testid="filter"]').fill('');
    await row('EchoTest/Echo/round_trip').waitFor({ state: 'visible' });
  });

  await page.screenshot({ path: `${artifacts}/ui.png`, fullPage: true });

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
  });
} finally {
  await browser.close();
}

finish();
