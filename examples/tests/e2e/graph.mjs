// End-to-end test of the driver connection graph of the environment panel (drivergraph.js)
// in Debian's Chromium, driven by playwright-core.
// Usage: node graph.mjs <HTML report of `service_faults -k Graph -k RedisBadConfig`>
//                       <screenshot dir> [<interactive UI URL of `service_faults -k Graph`>]
// The layout is also checked on a made-up environment of eight parties (a chain, a cycle, an
// arrow spanning columns, another process, a self connection, an idle driver): the HTML
// report with its data replaced (written to the screenshot dir).
// Prints one line per check and a closing `N passed, N failed` line; exits 1 on failure.
import { readFileSync, writeFileSync } from 'node:fs';
import { check, finish, launchBrowser } from './harness.mjs';

const [htmlReport, artifacts, liveUrl] = process.argv.slice(2);
const browser = await launchBrowser();
const problems = [];

function expectEqual(actual, expected, what) {
  if (JSON.stringify(actual) !== JSON.stringify(expected)) {
    throw new Error(`${what}: got ${JSON.stringify(actual)}, want ${JSON.stringify(expected)}`);
  }
}

async function newPage() {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  page.setDefaultTimeout(10000);
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (/Content Security Policy/i.test(message.text())) problems.push(message.text());
  });
  return page;
}

// The report embedded in an HTML report, and a copy of that file carrying another report.
const REPORT_START = 'window.TESTRIG_REPORT = ';
function embeddedReport(path) {
  const html = readFileSync(path, 'utf8');
  const start = html.indexOf(REPORT_START) + REPORT_START.length;
  const end = html.indexOf(';\nwindow.TESTRIG_CONFIG', start);
  if (start < REPORT_START.length || end < 0) throw new Error('the HTML report has no TESTRIG_REPORT line');
  return { html, start, end, report: JSON.parse(html.slice(start, end).replace(/<\\\//g, '</')) };
}
function writeReport(template, report, path) {
  const { html, start, end } = embeddedReport(template);
  writeFileSync(path, html.slice(0, start) + JSON.stringify(report).replace(/<\//g, '<\\/') + html.slice(end));
  return path;
}

// Everything drawn in the graph, in the SVG's own coordinates.
const graphShapes = (page) => page.evaluate(() => {
  const svg = document.querySelector('[data-testid="driver-graph"]');
  const rect = (element) => {
    const b = element.getBBox();
    return { x: b.x, y: b.y, width: b.width, height: b.height };
  };
  const nodes = [...svg.querySelectorAll('[data-testid="graph-node"]')].map((node) => ({
    party: node.dataset.party,
    role: node.dataset.role,
    status: node.dataset.status || null,
    box: rect(node.querySelector('.gbox')),
    text: [...node.querySelectorAll('text')].map((text) => text.textContent),
    listening: [...node.querySelectorAll('[data-testid="graph-listen"]')].map((text) => text.textContent),
    title: node.querySelector('title').textContent,
  }));
  const edges = [...svg.querySelectorAll('[data-testid="graph-edge"]')].map((edge) => {
    const path = edge.querySelector('.gline');
    const length = path.getTotalLength();
    const samples = [];
    for (let at = 0; at <= length; at += 4) {
      const point = path.getPointAtLength(at);
      samples.push({ x: point.x, y: point.y });
    }
    const tip = edge.querySelector('.garrow').getAttribute('points').split(' ')[0].split(',').map(Number);
    return { from: edge.dataset.from, to: edge.dataset.to, samples, tip: { x: tip[0], y: tip[1] }, title: edge.querySelector('title').textContent };
  });
  const labels = [...svg.querySelectorAll('[data-testid="graph-edge-label"]')].map((label) => ({
    from: label.dataset.from,
    to: label.dataset.to,
    box: rect(label.querySelector('.glabel-bg')),
    lines: [...label.querySelectorAll('text')].map((text) => text.textContent),
  }));
  const view = svg.viewBox.baseVal;
  return {
    nodes,
    edges,
    labels,
    view: { width: view.width, height: view.height },
    role: svg.getAttribute('role'),
    ariaLabel: svg.getAttribute('aria-label'),
    title: svg.querySelector(':scope > title')?.textContent || null,
  };
});

const overlaps = (a, b) => a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
const inside = (point, box, margin) => point.x > box.x + margin && point.x < box.x + box.width - margin
  && point.y > box.y + margin && point.y < box.y + box.height - margin;

// What holds for any drawing: boxes and labels apart and inside the picture, arrows clear of
// the boxes they do not join, every arrowhead on the box of the driver connected to.
function checkLayout(shapes) {
  const boxes = shapes.nodes.map((node) => node.box);
  for (const [index, node] of shapes.nodes.entries()) {
    for (const other of shapes.nodes.slice(index + 1)) {
      if (overlaps(node.box, other.box)) throw new Error(`the boxes of ${node.party} and ${other.party} overlap`);
    }
    for (const label of shapes.labels) {
      if (overlaps(node.box, label.box)) throw new Error(`the label of ${label.from} → ${label.to} covers ${node.party}`);
    }
  }
  for (const [index, label] of shapes.labels.entries()) {
    for (const other of shapes.labels.slice(index + 1)) {
      if (overlaps(label.box, other.box)) throw new Error(`the labels of ${label.from} → ${label.to} and ${other.from} → ${other.to} overlap`);
    }
  }
  for (const box of [...boxes, ...shapes.labels.map((label) => label.box)]) {
    if (box.x < 0 || box.y < 0 || box.x + box.width > shapes.view.width || box.y + box.height > shapes.view.height) {
      throw new Error(`${JSON.stringify(box)} lies outside the picture (${shapes.view.width}×${shapes.view.height})`);
    }
  }
  const byParty = new Map(shapes.nodes.map((node) => [node.party, node]));
  for (const edge of shapes.edges) {
    for (const node of shapes.nodes) {
      if (node.party === edge.from || node.party === edge.to) continue;
      const through = edge.samples.find((point) => inside(point, node.box, 1));
      if (through) throw new Error(`the arrow ${edge.from} → ${edge.to} crosses the box of ${node.party} at ${JSON.stringify(through)}`);
    }
    const target = byParty.get(edge.to).box;
    const onSide = Math.abs(edge.tip.x - target.x) < 1.5 || Math.abs(edge.tip.x - (target.x + target.width)) < 1.5;
    if (!onSide || edge.tip.y < target.y || edge.tip.y > target.y + target.height) {
      throw new Error(`the arrowhead of ${edge.from} → ${edge.to} (${JSON.stringify(edge.tip)}) is not on ${edge.to}'s box ${JSON.stringify(target)}`);
    }
    if (!shapes.labels.some((label) => label.from === edge.from && label.to === edge.to)) throw new Error(`the arrow ${edge.from} → ${edge.to} has no label`);
  }
}

const { report } = embeddedReport(htmlReport);
const graphTest = report.plan.children.find((test) => test.name === 'Graph');
const cacheDriver = graphTest.drivers.find((driver) => driver.name === 'cache');
const cacheAddress = `${cacheDriver.attributes.host}:${cacheDriver.attributes.port}`;

const page = await newPage();

await check('the HTML report draws the Graph test\'s connections: a box per party, arrows to the cache labelled with its address', async () => {
  await page.goto(`file://${htmlReport}#node=Graph`);
  await page.locator('[data-testid="details"][data-uid="Graph"]').waitFor();
  const svg = page.locator('[data-testid="environment"] [data-testid="driver-graph"]');
  await svg.waitFor();
  const shapes = await graphShapes(page);
  expectEqual(shapes.nodes.map((node) => node.party).sort(), ['cache', 'client', 'holder', 'testcases'], 'boxes');
  const byParty = Object.fromEntries(shapes.nodes.map((node) => [node.party, node]));
  expectEqual(byParty.cache.role, 'driver', 'cache is a driver');
  expectEqual(byParty.cache.status, 'stopped', 'cache status');
  expectEqual(byParty.testcases.role, 'testcases', 'testcases box');
  if (!byParty.cache.text.includes('cache') || !byParty.cache.text.some((text) => text.startsWith('Redis'))) throw new Error(`cache box says ${JSON.stringify(byParty.cache.text)}`);
  if (!byParty.holder.text.some((text) => text.startsWith('App'))) throw new Error(`holder box says ${JSON.stringify(byParty.holder.text)}`);
  if (!byParty.client.text.some((text) => text.startsWith('TcpClient'))) throw new Error(`client box says ${JSON.stringify(byParty.client.text)}`);
  expectEqual(byParty.cache.listening, [`listens ${cacheAddress}`], 'listening addresses under the cache');
  const edges = shapes.edges.map((edge) => `${edge.from} → ${edge.to}`).sort();
  expectEqual(edges, ['client → cache', 'holder → cache', 'testcases → cache'], 'arrows');
  for (const label of shapes.labels) expectEqual(label.lines, [cacheAddress], `label of ${label.from} → ${label.to}`);
  // Parties nobody connects to on the left, the cache on the right.
  for (const party of ['testcases', 'holder', 'client']) {
    if (byParty[party].box.x + byParty[party].box.width >= byParty.cache.box.x) throw new Error(`${party} is not left of the cache`);
  }
  checkLayout(shapes);
  // Accessible: an image with a name that says it all, and titles on its parts.
  expectEqual(shapes.role, 'img', 'role');
  if (!shapes.title || !shapes.title.includes('Graph')) throw new Error(`title: ${shapes.title}`);
  for (const line of [`cache listens on ${cacheAddress}`, `holder → cache (${cacheAddress})`, `client → cache (${cacheAddress})`, `testcases → cache (${cacheAddress})`]) {
    if (!shapes.ariaLabel.includes(line)) throw new Error(`aria-label lacks "${line}": ${shapes.ariaLabel}`);
  }
  if (!shapes.edges.every((edge) => edge.title.includes(cacheAddress))) throw new Error('an arrow has no title with the address');
  // Drawn wholly inside the environment panel, readable without scrolling.
  const [svgBox, panel] = [await svg.boundingBox(), await page.locator('[data-testid="environment"]').boundingBox()];
  if (svgBox.width < 300 || svgBox.x + svgBox.width > panel.x + panel.width) throw new Error(`the graph is ${JSON.stringify(svgBox)} in the panel ${JSON.stringify(panel)}`);
  await page.locator('[data-testid="driver-graph-box"]').screenshot({ path: `${artifacts}/graph.png` });
});

await check('a test whose environment never started says when connections are read', async () => {
  await page.evaluate(() => { window.location.hash = '#node=RedisBadConfig'; });
  await page.locator('[data-testid="details"][data-uid="RedisBadConfig"]').waitFor();
  const note = page.locator('[data-testid="environment"] [data-testid="driver-graph-empty"]');
  await note.waitFor();
  if (!/read when the environment stops/.test(await note.innerText())) throw new Error(await note.innerText());
  expectEqual(await page.locator('[data-testid="driver-graph"]').count(), 0, 'graphs drawn');
});

// Eight parties: testcases → gateway → auth → db (and testcases → db across two columns),
// gateway → cache ×4, worker ⇄ queue, another process → gateway, db → db, metrics alone.
function madeUpEnvironment(test) {
  const driver = (name, kind, status) => ({ name, kind, status, start: {}, stop: {}, attributes: {} });
  const link = (from, to, address, count) => ({ from, to, address, count: count || 1 });
  return {
    ...test,
    drivers: [
      driver('gateway', 'App', 'started'), driver('auth', 'App', 'started'), driver('db', 'Postgres', 'started'),
      driver('cache', 'Redis', 'failed'), driver('queue', 'TcpServer', 'stopping'), driver('worker', 'App', 'started'),
      driver('metrics-collector-with-a-long-name', 'App', 'not_started'),
    ],
    connections: {
      listening: [
        { driver: 'gateway', address: '10.0.0.1:8080' }, { driver: 'auth', address: '127.0.0.1:7001' },
        { driver: 'auth', address: '[::1]:7002' }, { driver: 'db', address: '127.0.0.1:5432' },
        { driver: 'cache', address: '127.0.0.1:6379' }, { driver: 'queue', address: '127.0.0.1:9000' },
        { driver: 'worker', address: '127.0.0.1:9100' },
      ],
      connections: [
        link('another process', 'gateway', '10.0.0.1:8080'), link('auth', 'db', '127.0.0.1:5432', 3),
        link('db', 'db', '127.0.0.1:5432', 2), link('gateway', 'auth', '127.0.0.1:7001'), link('gateway', 'auth', '[::1]:7002'),
        link('gateway', 'cache', '127.0.0.1:6379', 4), link('queue', 'worker', '127.0.0.1:9100'),
        link('testcases', 'db', '127.0.0.1:5432'), link('testcases', 'gateway', '10.0.0.1:8080', 2),
        link('worker', 'queue', '127.0.0.1:9000'),
      ],
    },
  };
}

await check('a made-up environment of eight parties is laid out in columns with nothing overlapping', async () => {
  const made = structuredClone(report);
  made.plan.children = made.plan.children.map((test) => (test.name === 'Graph' ? madeUpEnvironment(test) : test));
  const path = writeReport(htmlReport, made, `${artifacts}/graph-made-up.html`);
  const other = await newPage();
  await other.goto(`file://${path}#node=Graph`);
  await other.locator('[data-testid="driver-graph"]').waitFor();
  const shapes = await graphShapes(other);
  expectEqual(shapes.nodes.map((node) => node.party), ['testcases', 'gateway', 'auth', 'db', 'cache', 'queue', 'worker', 'metrics-collector-with-a-long-name', 'another process']
    .filter((party) => shapes.nodes.some((node) => node.party === party)), 'boxes in party order');
  expectEqual(shapes.nodes.length, 9, 'boxes');
  expectEqual(shapes.edges.length, 8, 'arrows (a self connection is a line of its box)');
  checkLayout(shapes);
  const byParty = Object.fromEntries(shapes.nodes.map((node) => [node.party, node]));
  const column = (party) => byParty[party].box.x;
  if (!(column('testcases') < column('gateway') && column('gateway') < column('auth') && column('auth') < column('db'))) throw new Error('the chain testcases → gateway → auth → db is not left to right');
  expectEqual(column('another process'), column('testcases'), 'another process is in the first column');
  expectEqual(byParty.gateway.role, 'driver', 'gateway');
  expectEqual(byParty['another process'].role, 'process', 'another process');
  const label = (from, to) => shapes.labels.find((found) => found.from === from && found.to === to).lines;
  expectEqual(label('gateway', 'auth'), ['127.0.0.1:7001', '[::1]:7002'], 'two addresses on one arrow');
  expectEqual(label('gateway', 'cache'), ['127.0.0.1:6379 ×4'], 'a count');
  expectEqual(label('testcases', 'gateway'), ['10.0.0.1:8080 ×2'], 'a count');
  expectEqual(byParty.db.text.filter((text) => text.startsWith('self')), ['self 127.0.0.1:5432 ×2'], 'the self connection under db');
  expectEqual(byParty.auth.listening, ['listens 127.0.0.1:7001', 'listens [::1]:7002'], 'auth listens twice');
  expectEqual(byParty.cache.status, 'failed', 'cache status');
  if (!byParty['metrics-collector-with-a-long-name'].title.startsWith('metrics-collector-with-a-long-name · App · not started')) throw new Error(byParty['metrics-collector-with-a-long-name'].title);
  // Wider than the panel even shrunk: it scrolls inside the panel instead of spilling out.
  const [scroller, panel] = [await other.locator('.conn-graph-scroll').boundingBox(), await other.locator('[data-testid="environment"]').boundingBox()];
  if (scroller.x + scroller.width > panel.x + panel.width + 0.5) throw new Error(`the graph ${JSON.stringify(scroller)} spills out of the panel ${JSON.stringify(panel)}`);
  await other.locator('[data-testid="driver-graph-box"]').screenshot({ path: `${artifacts}/graph-made-up.png` });
  await other.setViewportSize({ width: 2000, height: 1000 });
  await other.locator('[data-testid="driver-graph-box"]').screenshot({ path: `${artifacts}/graph-made-up-wide.png` });
  await other.close();
});

if (liveUrl) {
  await check('live: the graph appears when the environment stops', async () => {
    const live = await newPage();
    const address = new URL(liveUrl);
    address.hash = '#node=Graph';
    await live.goto(address.toString());
    await live.locator('[data-testid="details"][data-uid="Graph"]').waitFor();
    await live.locator('[data-testid="driver-graph-empty"]').waitFor();
    await live.locator('[data-testid="env-start"]').click();
    await live.locator('[data-testid="driver"][data-driver="client"][data-status="started"]').waitFor({ timeout: 30000 });
    expectEqual(await live.locator('[data-testid="driver-graph"]').count(), 0, 'graphs while the environment runs');
    await live.locator('[data-testid="env-stop"]').click();
    await live.locator('[data-testid="driver-graph"]').waitFor({ timeout: 30000 });
    await live.locator('[data-testid="driver"][data-driver="cache"][data-status="stopped"]').waitFor({ timeout: 30000 });
    const shapes = await graphShapes(live);
    for (const party of ['cache', 'holder', 'client']) {
      if (!shapes.nodes.some((node) => node.party === party)) throw new Error(`no box for ${party}`);
    }
    for (const from of ['holder', 'client']) {
      const found = shapes.labels.find((label) => label.from === from && label.to === 'cache');
      if (!found || !found.lines[0].startsWith('127.0.0.1:')) throw new Error(`no arrow ${from} → cache: ${JSON.stringify(shapes.labels)}`);
    }
    checkLayout(shapes);
    await live.locator('[data-testid="driver-graph-box"]').screenshot({ path: `${artifacts}/graph-live.png` });
    await live.close();
  });
}

await check('no page error and no Content-Security-Policy violation', async () => {
  if (problems.length) throw new Error(problems.join('\n'));
});

await browser.close();
finish();
