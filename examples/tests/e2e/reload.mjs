// End-to-end test of code reload in the browser: the UI stays open while the plan rebuilds
// and re-executes itself, reconnects by itself and shows the new tree.
// Usage: node reload.mjs <interactive UI URL> <plan source to edit> <screenshot dir>
// Prints one line per check and a closing `N passed, N failed` line; exits 1 on failure.
import { readFileSync, writeFileSync } from 'node:fs';
import { check, finish, launchBrowser } from './harness.mjs';

const [url, planSource, artifacts] = process.argv.slice(2);
const browser = await launchBrowser();
const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
page.setDefaultTimeout(10000);
const row = (uid) => page.locator(`[data-testid="tree-row"][data-uid="${uid}"]`);

try {
  await page.goto(url);
  await check('the tree shows the plan', async () => {
    await row('Service/Service/value').waitFor();
    await page.locator('[data-testid="connection"]').filter({ hasText: /connected/i }).waitFor();
  });

  await check('the Reload button rebuilds, and the open tab reconnects and shows the new testcase', async () => {
    const source = readFileSync(planSource, 'utf8');
    const added = '    #[testcase]\n    fn added_in_the_browser(&self, _env: &Env, result: &mut Recorder) {\n        result.is_true(true, "added");\n    }\n\n';
    // The testcase `value` changes too: its result (failed) is kept, marked stale.
    const edited = source
      .replace('    #[testcase]\n    fn value(', `${added}    #[testcase]\n    fn value(`)
      .replace('result.equal(1, 2, "the value")', 'result.equal(2, 2, "the value")');
    if (edited === source || !edited.includes('equal(2, 2')) throw new Error('the plan source is not as expected');
    writeFileSync(planSource, edited);
    await page.locator('[data-testid="reload"]').click();
    await page.locator('[data-testid="reload-status"][data-phase="reloaded"]').waitFor({ timeout: 240000 });
    await row('Service/Service/added_in_the_browser').waitFor({ timeout: 30000 });
    await page.locator('[data-testid="connection"]').filter({ hasText: /connected/i }).waitFor();
    const status = await page.locator('[data-testid="reload-status"]').innerText();
    // The save may also have started a reload by itself, which may already be rebuilding
    // again once the first one is done: either way the banner says so.
    if (!/Reloaded|Rebuilding|Reloading/.test(status)) throw new Error(`reload status: ${status}`);
  });

  await check('the new testcase runs from the reloaded tab', async () => {
    await row('Service/Service/added_in_the_browser').locator('[data-testid="run-node"]').click();
    await page.locator('[data-testid="tree-row"][data-uid="Service/Service/added_in_the_browser"][data-status="passed"]').waitFor({ timeout: 30000 });
  });

  await check('the banner runs the testcases the reload affects in one click, and their results are fresh again', async () => {
    await page.locator('[data-testid="tree-row"][data-uid="Service/Service/value"][data-stale="true"]').waitFor();
    const title = await row('Service/Service/value').getAttribute('title');
    if (!/stale: /.test(title)) throw new Error(`row title: ${title}`);
    const button = page.locator('[data-testid="run-stale"]');
    const label = await button.innerText();
    if (!/Run 1 affected/.test(label)) throw new Error(`button: ${label}`);
    await page.screenshot({ path: `${artifacts}/reload-stale.png` });
    await button.click();
    await page.locator('[data-testid="tree-row"][data-uid="Service/Service/value"][data-status="passed"][data-stale="false"]').waitFor({ timeout: 30000 });
  });

  await page.screenshot({ path: `${artifacts}/reload.png` });
} finally {
  await browser.close();
}

finish();
