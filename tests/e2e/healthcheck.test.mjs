// Real-browser tests for the health-check pages (社区体检): the district plan (一区一规划)
// reached from the district's page, with its shortfall list and the .xlsx export; a flagged
// community's portrait (一社一画像) whose map colours the buildings by walking distance to
// the chosen type and marks the proposed sites; and a new run started from the plan page,
// followed live until the page shows the new results by itself.
//
// Run through tests/e2e/run.sh (see linli.test.mjs for the environment). The demo ran a
// health check of 上城区 over the central Hangzhou roads when it started.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { launch, newPage, shot, signIn } from './browser.mjs';

const TEST_TIMEOUT = 120_000;
const DISTRICT = '330102';

let browser;

before(async () => {
  browser = await launch();
});

after(async () => {
  if (browser) await browser.close();
});

/** The API's answer, fetched inside the page with its session. */
async function apiFromPage(page, url) {
  return page.evaluate(async (u) => {
    const res = await fetch(u, { headers: { Accept: 'application/json' } });
    return { status: res.status, body: await res.json() };
  }, url);
}

test('the district plan lists the shortfall communities and exports them to Excel', { timeout: TEST_TIMEOUT }, async (t) => {
  const page = await newPage(browser, t, { downloads: true });
  await signIn(page, 'admin');
  await page.goto(`/regions/${DISTRICT}`);
  await Promise.all([
    page.waitForURL(new RegExp(`/regions/${DISTRICT}/healthcheck$`)),
    page.locator('#healthcheck-link').click(),
  ]);
  await shot(page, 'healthcheck-plan');
  assert.match(await page.locator('h1').innerText(), /一区一规划/);

  const api = await apiFromPage(page, `/api/v1/regions/${DISTRICT}/healthcheck`);
  assert.equal(api.status, 200, `the demo's health check: ${JSON.stringify(api.body)}`);
  const flagged = api.body.results.filter((c) => c.flagged);
  assert.ok(flagged.length > 0, 'the demo puts communities on the shortfall list');

  // The summary, the shortfall list and the ranking say what the API says.
  assert.equal(await page.locator('[data-n=flagged]').innerText(), String(api.body.flagged));
  const listed = await page.locator('#hc-shortfall tbody tr').evaluateAll((rows) => rows.map((r) => r.dataset.code));
  assert.deepEqual(listed, flagged.map((c) => c.code));
  const ranked = await page.locator('#hc-ranking tbody tr').count();
  assert.equal(ranked, api.body.results.length);
  const bars = await page.locator('#hc-coverage .hc-bar').count();
  assert.equal(bars, api.body.coverage.length, 'a coverage bar per facility type');

  // The export downloads a real workbook (a zip: "PK").
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.locator('#hc-export').click(),
  ]);
  assert.match(download.suggestedFilename(), /\.xlsx$/);
  const file = readFileSync(await download.path());
  assert.ok(file.length > 1000, `the workbook has ${file.length} bytes`);
  assert.equal(file.subarray(0, 2).toString('latin1'), 'PK');
  assert.deepEqual(page.jsErrors, []);
});

test('a flagged community\'s portrait colours its buildings by walking distance and proposes sites', { timeout: TEST_TIMEOUT }, async (t) => {
  const page = await newPage(browser, t, { downloads: true });
  await signIn(page, 'admin');
  await page.goto(`/regions/${DISTRICT}/healthcheck`);
  const first = page.locator('#hc-shortfall tbody tr a').first();
  const code = await first.evaluate((a) => a.closest('tr').dataset.code);
  await Promise.all([
    page.waitForURL(new RegExp(`/regions/${code}/healthcheck$`)),
    first.click(),
  ]);
  assert.match(await page.locator('h1').innerText(), /一社一画像/);
  assert.equal(await page.locator('#hc-flagged').count(), 1, 'the portrait says it is on the shortfall list');

  const map = page.locator('#hc-map');
  await page.waitForFunction(() => document.getElementById('hc-map').dataset.state === 'ready');
  const hc = (await apiFromPage(page, `/api/v1/regions/${code}/healthcheck/map`)).body;
  const within = (type) => {
    const t = hc.types.findIndex((x) => x.type === type);
    const radius = hc.types[t].radius_m;
    return hc.meters[t].filter((m) => m !== null && m <= radius).length;
  };
  const selected = await page.locator('#hc-map-type').inputValue();
  assert.equal(await map.getAttribute('data-type'), selected);
  assert.equal(Number(await map.getAttribute('data-within')), within(selected));

  // Another type: the colours (and the count within reach) follow, without a reload.
  const other = hc.types.map((x) => x.type).find((x) => x !== selected && within(x) !== within(selected))
    || hc.types.map((x) => x.type).find((x) => x !== selected);
  await page.locator('#hc-map-type').selectOption(other);
  await page.waitForFunction((ty) => document.getElementById('hc-map').dataset.type === ty, other);
  assert.equal(Number(await map.getAttribute('data-within')), within(other));
  const drawn = await page.evaluate(() => {
    const opt = document.getElementById('hc-map').linliChart.getOption();
    return opt.series.filter((s) => String(s.id).startsWith('hc-') && s.id !== 'hc-sites')
      .reduce((n, s) => n + s.data.length, 0);
  });
  assert.equal(drawn, hc.buildings.length, 'every building is drawn once');

  // Siting for the weakest type: the sites are listed and marked on the map.
  const form = page.locator('#hc-siting');
  const weakest = await page.locator('#hc-weak .hc-weak-type').first().getAttribute('data-type');
  await form.locator('select[name=type]').selectOption(weakest);
  await form.locator('select[name=k]').selectOption('2');
  await form.locator('button[type=submit]').click();
  await page.waitForFunction(() => ['ready', 'error'].includes(document.getElementById('hc-sites').dataset.state));
  assert.equal(await page.locator('#hc-sites').getAttribute('data-state'), 'ready',
    await page.locator('#hc-siting-status').innerText());
  const siting = (await apiFromPage(page, `/api/v1/regions/${code}/healthcheck/siting?type=${weakest}&k=2`)).body;
  const rows = await page.locator('#hc-sites tbody tr').evaluateAll((trs) => trs.map((r) => Number(r.dataset.residents)));
  assert.deepEqual(rows, siting.sites.map((s) => s.residents));
  const pins = await page.evaluate(() => document.getElementById('hc-map').linliChart.getOption()
    .series.find((s) => s.id === 'hc-sites').data.length);
  assert.equal(pins, siting.sites.length);
  assert.equal(await map.getAttribute('data-type'), weakest, 'the map shows the type being sited');
  await shot(page, 'healthcheck-portrait');
  assert.deepEqual(page.jsErrors, []);
});

test('a run started from the plan page is followed until its results show', { timeout: TEST_TIMEOUT }, async (t) => {
  const page = await newPage(browser, t, { downloads: true });
  await signIn(page, 'admin');
  await page.goto(`/regions/${DISTRICT}/healthcheck`);
  const before = Number(await page.locator('#hc-facts').getAttribute('data-run'));
  let polled = 0;
  page.on('response', (r) => { if (r.url().endsWith(`/regions/${DISTRICT}/healthcheck/run`)) polled += 1; });
  await Promise.all([
    page.waitForURL(new RegExp(`/regions/${DISTRICT}/healthcheck$`)),
    page.locator('#hc-start button[type=submit]').click(),
  ]);
  // The page either shows the running check and follows it (reloading itself at the end),
  // or the check was already done when the page was drawn.
  await page.waitForFunction((old) => {
    const facts = document.getElementById('hc-facts');
    return facts && Number(facts.dataset.run) > old;
  }, before, { timeout: 60_000 });
  const api = await apiFromPage(page, `/api/v1/regions/${DISTRICT}/healthcheck/run`);
  assert.equal(api.body.state, 'done');
  assert.equal(Number(await page.locator('#hc-facts').getAttribute('data-run')), api.body.id);
  assert.equal(await page.locator('#hc-progress').count(), 0, 'no progress line once done');
  t.diagnostic(`progress polled ${polled} times`);
  assert.deepEqual(page.jsErrors, []);
});
