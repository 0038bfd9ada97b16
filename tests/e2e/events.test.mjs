// Real-browser tests for the event pages (事件): a resident reports from a phone with a photo
// and gets a reference number; the grid worker accepts it and reports back; the community
// worker verifies and closes it; the resident rates it five stars; and the figures page
// draws its charts and updates itself when a new report arrives, without a reload.
//
// Run through tests/e2e/run.sh (see linli.test.mjs for the environment). The tests make
// their own building in wangge's grid through the API, so that the report lands in his
// inbox, and run in order, sharing the event they carry.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { BASE, HERE, PASSWORD, launch, newPage, shot, signIn } from './browser.mjs';

const PHOTO = path.join(HERE, '../../crates/photo/tests/fixtures/orient1_progressive.jpg');
const TEST_TIMEOUT = 120_000;

const GRID = '330102001051001'; // wangge's grid
const COMMUNITY = '330102001051'; // shegong's community
const SPOT = [120.1640, 30.2420]; // by 清波门, inside 上城区
const RUN = String(Date.now() % 100000).padStart(5, '0');
const DESCRIPTION = `楼下垃圾三天没人清运 e2e ${RUN}`;

let browser;
let buildingId; // the test's own building in wangge's grid
let eventId; // the event the tests carry from report to rating
let reference;

before(async () => {
  browser = await launch();
  const shegong = await token('shegong');
  const res = await api('POST', '/api/v1/buildings', shegong,
    { region: GRID, name: `事件测试楼${RUN}`, address: '清波街 e2e', lon: SPOT[0], lat: SPOT[1] });
  assert.equal(res.status, 201, `creating the test building answered HTTP ${res.status}: ${JSON.stringify(res.body)}`);
  buildingId = res.body.id;
});

after(async () => {
  if (browser) await browser.close();
});

async function api(method, url, bearer, body) {
  const res = await fetch(BASE + url, {
    method,
    headers: { Authorization: `Bearer ${bearer}`, 'Content-Type': 'application/json', Accept: 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let json = null;
  try { json = await res.json(); } catch { json = null; }
  return { status: res.status, body: json };
}

async function token(username) {
  const res = await fetch(`${BASE}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username, password: PASSWORD }),
  });
  assert.equal(res.status, 200, `API sign-in of ${username} answered HTTP ${res.status}`);
  return (await res.json()).token;
}

/** Nothing on the page is wider than the phone's screen. */
async function assertNoSideScroll(page, what) {
  const { scroll, inner } = await page.evaluate(() => ({
    scroll: document.documentElement.scrollWidth,
    inner: window.innerWidth,
  }));
  assert.ok(scroll <= inner, `${what}: the page is ${scroll} px wide on a ${inner} px screen`);
}

/** Submits an action form on an event page and waits for the page it leads to. */
async function act(page, action, fill) {
  const form = page.locator(`form#act-${action}`);
  assert.equal(await form.count(), 1, `the page offers “${action}”`);
  if (fill) await fill(form);
  await Promise.all([
    page.waitForURL(new RegExp(`done=${action}`)),
    form.locator('button[type=submit]').click(),
  ]);
  assert.equal(await page.locator('#done').count(), 1, `the page confirms “${action}”`);
}

async function stateOf(page) {
  return page.locator('#event-state').getAttribute('data-state');
}

test('jumin reports from a phone with a photo and gets a reference number', { timeout: TEST_TIMEOUT }, async (t) => {
  const page = await newPage(browser, t, { phone: true, confirm: true });
  await signIn(page, 'jumin');
  assert.match(new URL(page.url()).pathname, /^\/m\/events$/, `a resident lands on 我的上报, not ${page.url()}`);
  await assertNoSideScroll(page, '/m/events');

  await Promise.all([page.waitForURL(/\/m\/report$/), page.locator('a#m-report-link').click()]);
  const form = page.locator('form#m-report-form');
  await form.locator('select[name=category]').selectOption('env.garbage');
  await form.locator('textarea[name=description]').fill(DESCRIPTION);

  // The photo goes up through the API at once and comes back as a reference.
  const file = form.locator('input[type=file]');
  assert.equal(await file.getAttribute('capture'), 'environment', 'the camera opens from the form');
  await file.setInputFiles(PHOTO);
  await page.waitForFunction(() => document.querySelectorAll('#m-report-form input[name=photos]').length === 1);
  const ref = await form.locator('input[name=photos]').inputValue();
  assert.match(ref, /^[0-9a-f]{64}\.jpg$/, `the photo's reference: ${ref}`);

  // A tap on the district's map picks a point; the building number then takes over.
  const map = page.locator('#m-map');
  await page.waitForSelector('#m-map[data-state=ready]', { timeout: 30_000 });
  assert.ok(await map.locator('canvas').count() > 0, 'the map is drawn');
  await map.tap(); // a finger on the middle of the map
  await page.waitForFunction(() => document.getElementById('f-lon').value !== '');
  const lon = Number(await page.locator('#f-lon').inputValue());
  const lat = Number(await page.locator('#f-lat').inputValue());
  assert.ok(lon > 119 && lon < 121 && lat > 29 && lat < 31, `a point in Hangzhou: ${lon}, ${lat}`);
  assert.match(await page.locator('#picked').innerText(), /已选位置/);
  await form.locator('input[name=building_id]').fill(String(buildingId));
  assert.equal(await page.locator('#f-lon').inputValue(), '', 'the building replaces the point');
  await assertNoSideScroll(page, '/m/report');
  await shot(page, 'e1-phone-report');

  await Promise.all([
    page.waitForURL(/\/m\/events\/\d+\?filed=1$/),
    page.locator('#m-submit').click(),
  ]);
  reference = (await page.locator('#filed-reference').innerText()).trim();
  assert.match(reference, /^SJ\d{8}$/, `a reference number: ${reference}`);
  eventId = Number(new URL(page.url()).pathname.split('/').pop());
  assert.equal(reference, `SJ${String(eventId).padStart(8, '0')}`);
  assert.equal(await stateOf(page), 'pending');
  assert.equal(await page.locator('#timeline li[data-action=report] img').count(), 1, 'the photo is on the report');
  assert.equal(await page.locator('form#act-withdraw').count(), 1, 'it can still be withdrawn');
  await assertNoSideScroll(page, 'the filed report');
  await shot(page, 'e1-phone-filed');
  assert.deepEqual(page.jsErrors, [], 'no JavaScript errors');
});

test('wangge accepts the report and reports back with a photo', { timeout: TEST_TIMEOUT }, async (t) => {
  assert.ok(eventId, 'the first test filed the event');
  const page = await newPage(browser, t, { confirm: true });
  await signIn(page, 'wangge');
  assert.equal(await page.locator('a#nav-events').count(), 1, 'the navigation links to 事件');
  await page.goto('/events');
  const row = page.locator(`#events tr[data-id="${eventId}"]`);
  assert.equal(await row.count(), 1, 'the report is in the grid\'s inbox');
  await shot(page, 'e2-wangge-inbox');
  await Promise.all([page.waitForURL(new RegExp(`/events/${eventId}$`)), row.locator('a.event-link').click()]);
  assert.equal((await page.locator('#event-description').innerText()).trim(), DESCRIPTION);
  assert.equal(await page.locator('form#act-verify').count(), 0, 'a handler does not verify');

  await act(page, 'accept');
  assert.equal(await stateOf(page), 'handling');
  await act(page, 'report_back', async (form) => {
    await form.locator('input[type=file]').setInputFiles(PHOTO);
    await page.waitForFunction(() => document.querySelectorAll('#act-report_back input[name=photos]').length === 1);
    await form.locator('textarea[name=note]').fill('已联系物业清运完毕');
  });
  assert.equal(await stateOf(page), 'verifying');
  const step = page.locator('#timeline li[data-action=report_back]');
  assert.match(await step.innerText(), /已联系物业清运完毕/);
  assert.equal(await step.locator('img').count(), 1, 'the step shows its photo');
  await shot(page, 'e2-wangge-event');
  assert.deepEqual(page.jsErrors, [], 'no JavaScript errors');
});

test('shegong verifies and closes it', { timeout: TEST_TIMEOUT }, async (t) => {
  assert.ok(eventId, 'the first test filed the event');
  const page = await newPage(browser, t, { confirm: true });
  await signIn(page, 'shegong');
  await page.goto(`/events/${eventId}`);
  assert.equal(await page.locator('form#act-accept').count(), 0, 'the community does not accept a grid\'s event');
  await act(page, 'verify');
  assert.equal(await stateOf(page), 'verified');
  await act(page, 'close');
  assert.equal(await stateOf(page), 'closed');
  await shot(page, 'e3-shegong-closed');
  assert.deepEqual(page.jsErrors, [], 'no JavaScript errors');
});

test('jumin rates it five stars on the phone', { timeout: TEST_TIMEOUT }, async (t) => {
  assert.ok(eventId, 'the first test filed the event');
  const page = await newPage(browser, t, { phone: true, confirm: true });
  await signIn(page, 'jumin');
  await page.goto(`/m/events/${eventId}`);
  assert.equal(await stateOf(page), 'closed');
  assert.equal(await page.locator('form#act-reopen').count(), 1, 'it may be reopened within 7 days');
  await act(page, 'rate', async (form) => {
    await form.locator('label[for=star-5]').click();
    await form.locator('textarea[name=comment]').fill('处理及时，谢谢');
  });
  const rating = page.locator('#event-rating');
  assert.match(await rating.innerText(), /★★★★★/);
  assert.match(await rating.innerText(), /处理及时/);
  assert.equal(await page.locator('form#act-rate').count(), 0, 'rated once');
  await assertNoSideScroll(page, 'the rated report');
  await shot(page, 'e4-phone-rated');

  await page.goto('/m/events');
  assert.equal(await page.locator(`#my-events li[data-id="${eventId}"]`).count(), 1, 'listed under 我的上报');
  assert.deepEqual(page.jsErrors, [], 'no JavaScript errors');
});

test('the figures page draws its charts and refreshes itself when a report arrives', { timeout: TEST_TIMEOUT }, async (t) => {
  const page = await newPage(browser, t, { confirm: true });
  await signIn(page, 'shegong');
  const res = await page.goto(`/events/dashboard?region=${COMMUNITY}&refresh=2`);
  assert.equal(res.status(), 200, `the figures page answered HTTP ${res.status()}`);
  for (const id of ['chart-categories', 'chart-rates']) {
    await page.waitForSelector(`#${id} canvas`);
    // Drawn: some pixels of the chart are not blank.
    const inked = await page.evaluate((id) => {
      const canvas = document.querySelector(`#${id} canvas`);
      const ctx = canvas.getContext('2d');
      const { data } = ctx.getImageData(0, 0, canvas.width, canvas.height);
      let n = 0;
      for (let i = 3; i < data.length; i += 4) if (data[i] > 0) n++;
      return n;
    }, id);
    assert.ok(inked > 500, `#${id} is drawn (${inked} pixels)`);
  }
  const received = page.locator('[data-kpi=received] [data-value]');
  const before = Number((await received.innerText()).trim());
  assert.ok(before >= 1, `the community received reports: ${before}`);
  for (const key of ['on_time_rate', 'resolution_rate', 'satisfaction_rate']) {
    assert.match((await page.locator(`[data-kpi=${key}] [data-value]`).innerText()).trim(), /^(\d+(\.\d)?%|—)$/, key);
  }
  assert.match((await page.locator('[data-kpi=satisfaction_rate] [data-value]').innerText()).trim(), /%$/,
    'the five stars count');
  assert.ok(await page.locator(`#dash-children a[data-code="${GRID}"]`).count() === 1, 'the grids below to drill into');
  await shot(page, 'e5-dashboard');

  // A new report through the API; the page is not reloaded, yet its numbers follow.
  await page.evaluate(() => { window.__sameDocument = true; });
  const jumin = await token('jumin');
  const filed = await api('POST', '/api/v1/events', jumin,
    { category: 'env.garbage', description: `又一次上报 e2e ${RUN}`, building_id: buildingId });
  assert.equal(filed.status, 201, `the API filed the report: ${JSON.stringify(filed.body)}`);
  await page.waitForFunction(
    (n) => Number(document.querySelector('[data-kpi=received] [data-value]').textContent) === n,
    before + 1, { timeout: 30_000 });
  assert.ok(await page.evaluate(() => window.__sameDocument === true), 'the page was not reloaded');
  assert.ok(Number(await page.locator('#ep-dashboard').getAttribute('data-refreshes')) >= 1, 'refreshed by the script');
  assert.match(await page.locator('#refreshed-at').innerText(), /^\d\d:\d\d:\d\d$/);
  await shot(page, 'e5-dashboard-updated');
  assert.deepEqual(page.jsErrors, [], 'no JavaScript errors');
});
