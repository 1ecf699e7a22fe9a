// A hostile page in the same browser as an open testrig UI: served from another port of the
// same loopback host (so the UI's SameSite cookie is still sent), it tries every request a
// page can make without asking — no-cors fetches, a form post, a framed UI, a CORS read.
// Usage: node cross_origin.mjs <interactive UI URL with ?token=>
// The Rust test that runs this checks through the API that nothing ran.
import http from 'node:http';
import { check, finish, launchBrowser } from './harness.mjs';

const [uiUrl] = process.argv.slice(2);
const victim = new URL(uiUrl).origin;

const evilPage = `<!doctype html><html><body>
<iframe id="framed" src="${victim}/"></iframe>
<iframe name="sink"></iframe>
<form id="form" method="POST" action="${victim}/api/v1/interactive/run" enctype="text/plain" target="sink">
<input name='{"uids":["EchoTest/Echo/round_trip"],"x":"' value='"}'>
</form>
<script>
window.attempts = (async () => {
  const results = {};
  const json = JSON.stringify({ uids: ['EchoTest/Echo/round_trip'] });
  const attempt = async (name, url, init) => {
    try {
      const response = await fetch(url, init);
      results[name] = 'status ' + response.status + ' type ' + response.type;
    } catch (error) {
      results[name] = 'blocked: ' + error.message;
    }
  };
  const api = '${victim}/api/v1/interactive';
  await attempt('run', api + '/run', { method: 'POST', mode: 'no-cors', credentials: 'include', headers: { 'Content-Type': 'text/plain' }, body: json });
  await attempt('run-form', api + '/run', { method: 'POST', mode: 'no-cors', credentials: 'include', body: new URLSearchParams({ uids: 'EchoTest/Echo/round_trip' }) });
  await attempt('cancel', api + '/cancel', { method: 'POST', mode: 'no-cors', credentials: 'include' });
  await attempt('reset', api + '/reset', { method: 'POST', mode: 'no-cors', credentials: 'include' });
  await attempt('reload', api + '/reload', { method: 'POST', mode: 'no-cors', credentials: 'include' });
  await attempt('put', api + '/nodes/EchoTest', { method: 'PUT', mode: 'no-cors', credentials: 'include', body: '{"env_status":"started"}' });
  await attempt('put-cors', api + '/nodes/EchoTest', { method: 'PUT', mode: 'cors', credentials: 'include', headers: { 'Content-Type': 'application/json' }, body: '{"env_status":"started"}' });
  try {
    const response = await fetch(api + '/report/full', { mode: 'cors', credentials: 'include' });
    results.read = 'read ' + (await response.text()).length + ' bytes';
  } catch (error) {
    results.read = 'blocked: ' + error.message;
  }
  document.getElementById('form').submit();
  await new Promise((resolve) => setTimeout(resolve, 500));
  return results;
})();
</script></body></html>`;

const evil = http.createServer((request, response) => {
  response.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
  response.end(evilPage);
});
await new Promise((resolve) => evil.listen(0, '127.0.0.1', resolve));
const evilUrl = `http://127.0.0.1:${evil.address().port}/`;

const browser = await launchBrowser();
const context = await browser.newContext();
try {
  const ui = await context.newPage();
  await check('the UI opened from the printed URL works (the token cookie is set)', async () => {
    await ui.goto(uiUrl);
    await ui.locator('[data-testid="tree-row"]').first().waitFor({ timeout: 10000 });
    const cookies = await context.cookies(victim);
    if (!cookies.some((cookie) => cookie.name.startsWith('testrig_token_') && cookie.httpOnly)) {
      throw new Error(`no HttpOnly token cookie: ${JSON.stringify(cookies)}`);
    }
  });

  const page = await context.newPage();
  let results = {};
  await check('the hostile page makes its attempts', async () => {
    await page.goto(evilUrl);
    results = await page.evaluate(() => window.attempts);
    console.log(`  attempts: ${JSON.stringify(results)}`);
  });

  await check('the cross-origin read of the report is blocked', async () => {
    if (!String(results.read).startsWith('blocked')) throw new Error(results.read);
  });

  await check('a preflighted PUT is refused by the browser (no CORS headers)', async () => {
    if (!String(results['put-cors']).startsWith('blocked')) throw new Error(results['put-cors']);
  });

  await check('the UI cannot be framed by the hostile page', async () => {
    const framed = page.frames().find((frame) => frame.url().startsWith(victim) && frame !== page.mainFrame());
    if (framed) {
      const rows = await framed.locator('[data-testid="tree-row"]').count().catch(() => 0);
      if (rows > 0) throw new Error('the framed UI rendered its tree');
    }
  });
} finally {
  await browser.close();
  evil.close();
}
finish();
