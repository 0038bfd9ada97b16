// Real-browser tests for the care pages (关爱): the grid worker's alarm console shows an SOS
// press the moment a device reports it, without a reload; a community worker who is not the
// handler is told why acknowledging fails; the grid worker acknowledges and resolves it from
// the console; and the devices page counts the device's readings and registers a device,
// showing its credential once with a copy button.
//
// Run through tests/e2e/run.sh. `linli demo` serves over HTTP without a broker, with the
// care timer running, so a reading posted over HTTP raises its alarm at once and the timer
// makes it an event in the grid's inbox moments later. The tests run in order, sharing the
// device and the alarm they carry.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { BASE, PASSWORD, launch, newPage, shot, signIn } from './browser.mjs';

const TEST_TIMEOUT = 120_000;
const GRID = '330102001051001'; // wangge's grid
const RUN = String(Date.now() % 100000).padStart(5, '0');
const DEVICE = `sos-e2e-${RUN}`;

let browser;
let household; // a household in wangge's grid
let credential; // the device's credential
let alarmId; // the alarm the tests carry

before(async () => {
  browser = await launch();
  const shegong = await token('shegong');
  const found = await api('GET', `/api/v1/households?region=${GRID}&limit=5`, shegong);
  assert.equal(found.status, 200, `listing households answered HTTP ${found.status}`);
  household = found.body.items[0].id;
  const made = await api('POST', '/api/v1/care/devices', shegong, { device_id: DEVICE, kind: 'sos', household_id: household });
  assert.equal(made.status, 201, `registering the device answered HTTP ${made.status}: ${JSON.stringify(made.body)}`);
  credential = made.body.credential;
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

/** One SOS press from the test's device, over HTTP with Basic authentication. */
async function press(seq) {
  const res = await fetch(`${BASE}/api/v1/care/readings`, {
    method: 'POST',
    headers: {
      Authorization: `Basic ${Buffer.from(`${DEVICE}:${credential}`).toString('base64')}`,
      'Content-Type': 'application/json',
    },
    body: JSON.stringify({ ts: new Date().toISOString(), kind: 'sos', value: true, seq }),
  });
  const body = await res.json();
  assert.equal(res.status, 200, `the press answered HTTP ${res.status}: ${JSON.stringify(body)}`);
  assert.equal(body.stored, 1);
}

/** Opens the console and waits until its live stream is connected. */
async function openConsole(page) {
  const res = await page.goto('/care');
  assert.equal(res.status(), 200, `GET /care answered HTTP ${res.status()}`);
  await page.waitForSelector('#alarms[data-connected=yes]', { state: 'attached', timeout: 30_000 });
}

/** The alarm row of the test's device. */
function rowOf(page) {
  return page.locator('#alarms li.cp-alarm', { hasText: DEVICE });
}

async function assertNoSideScroll(page, what) {
  const { scroll, inner } = await page.evaluate(() => ({
    scroll: document.documentElement.scrollWidth,
    inner: window.innerWidth,
  }));
  assert.ok(scroll <= inner, `${what}: the page is ${scroll} px wide on a ${inner} px screen`);
}

test('an SOS press appears on the grid worker\'s console without a reload', { timeout: TEST_TIMEOUT }, async (t) => {
  const page = await newPage(browser, t, { phone: true });
  await signIn(page, 'wangge');
  assert.equal(await page.locator('a#nav-care').count(), 1, 'the navigation links to 关爱');
  await openConsole(page);
  assert.equal(await rowOf(page).count(), 0, 'no alarm of this device yet');
  await page.evaluate(() => { window.__sameDocument = true; });

  await press(1);
  const row = rowOf(page);
  await row.waitFor({ timeout: 30_000 });
  alarmId = Number(await row.getAttribute('data-id'));
  assert.ok(alarmId > 0, 'the row names its alarm');
  assert.equal(await row.getAttribute('data-severity'), 'critical');
  assert.equal(await row.getAttribute('data-state'), 'open');
  assert.match(await row.locator('.cp-kind').innerText(), /一键呼叫/);
  assert.match(await page.locator('#new-alarm').innerText(), /新告警：一键呼叫/, 'a visible cue');
  // The timer makes it an event a moment later; the console shows its link and 签收.
  await row.locator('a.cp-event').waitFor({ timeout: 30_000 });
  assert.match(await row.locator('a.cp-event').innerText(), /事件 SJ\d{8}/);
  await row.locator(`form#ack-${alarmId}`).waitFor();
  assert.ok(await page.evaluate(() => window.__sameDocument === true), 'the page was not reloaded');
  const colour = await row.locator('.cp-sev').evaluate((e) => getComputedStyle(e).backgroundColor);
  assert.equal(colour, 'rgb(180, 35, 24)', 'critical is red');
  await assertNoSideScroll(page, '/care on a phone');
  await shot(page, 'c1-phone-console-live');
  assert.deepEqual(page.jsErrors, [], 'no JavaScript errors');
});

test('the community worker is told why acknowledging fails', { timeout: TEST_TIMEOUT }, async (t) => {
  assert.ok(alarmId, 'the first test raised the alarm');
  const page = await newPage(browser, t);
  await signIn(page, 'shegong');
  await openConsole(page);
  const row = page.locator(`#alarm-${alarmId}`);
  await row.locator(`form#ack-${alarmId} button`).click();
  const error = row.locator('.cp-error');
  await error.waitFor({ state: 'visible' });
  assert.match(await error.innerText(), /^操作未成功：/);
  assert.equal(await row.getAttribute('data-state'), 'open', 'nothing changed');
  await shot(page, 'c2-shegong-refused');
  assert.deepEqual(page.jsErrors, [], 'no JavaScript errors');
});

test('the grid worker acknowledges and resolves it from the console', { timeout: TEST_TIMEOUT }, async (t) => {
  assert.ok(alarmId, 'the first test raised the alarm');
  const page = await newPage(browser, t);
  await signIn(page, 'wangge');
  await openConsole(page);
  await page.evaluate(() => { window.__sameDocument = true; });
  const row = () => page.locator(`#alarm-${alarmId}`);
  await row().locator(`form#ack-${alarmId} button`).click();
  await page.waitForSelector(`#alarm-${alarmId}[data-state=acknowledged]`);
  assert.match(await row().locator('.cp-acked').innerText(), /签收/);

  const form = row().locator(`form#resolve-${alarmId}`);
  await form.locator('select[name=outcome]').selectOption('visited_fine');
  await form.locator('input[name=note]').fill('老人误按，已上门确认');
  await form.locator('button[type=submit]').click();
  await page.waitForSelector(`#alarm-${alarmId}[data-state=resolved]`);
  assert.match(await row().locator('.cp-resolved').innerText(), /已上门，平安/);
  assert.ok(await page.evaluate(() => window.__sameDocument === true), 'the page was not reloaded');
  await shot(page, 'c3-wangge-resolved');

  await Promise.all([page.waitForURL(/tab=resolved/), page.locator('a#tab-resolved').click()]);
  assert.equal(await page.locator(`#alarm-${alarmId}`).count(), 1, 'listed under 已处置');
  const event = await page.locator(`#alarm-${alarmId} a.cp-event`).getAttribute('href');
  await page.goto(event);
  assert.equal(await page.locator('#event-state').getAttribute('data-state'), 'verifying', 'reported back on its event');
  assert.deepEqual(page.jsErrors, [], 'no JavaScript errors');
});

test('a console that loses the stream says so and catches up when it is back', { timeout: TEST_TIMEOUT }, async (t) => {
  const page = await newPage(browser, t);
  await signIn(page, 'wangge');
  // The stream cannot be reached: the console says so rather than looking quietly empty.
  await page.route('**/api/v1/care/alarms/stream*', (route) => route.abort('connectionrefused'));
  await page.goto('/care');
  await page.waitForSelector('#live-lost', { state: 'visible', timeout: 30_000 });
  assert.match(await page.locator('#live-lost').innerText(), /连接已中断/);
  assert.equal(await page.locator('#alarms').getAttribute('data-connected'), 'no');
  await page.evaluate(() => { window.__sameDocument = true; });

  // Something happens while it is cut off; once the stream is back, the console has it.
  await press(2);
  await page.unroute('**/api/v1/care/alarms/stream*');
  await page.waitForSelector('#alarms[data-connected=yes]', { state: 'attached', timeout: 30_000 });
  assert.ok(await page.locator('#live-lost').isHidden(), 'the banner goes');
  await rowOf(page).waitFor({ timeout: 30_000 });
  assert.equal(await rowOf(page).getAttribute('data-state'), 'open', 'the press made while cut off');
  assert.ok(await page.evaluate(() => window.__sameDocument === true), 'the page was not reloaded');
  await shot(page, 'c4-console-reconnected');
});

test('the devices page counts the readings and registers a device with its credential once', { timeout: TEST_TIMEOUT }, async (t) => {
  const page = await newPage(browser, t);
  await signIn(page, 'shegong');
  await page.goto('/care');
  await Promise.all([page.waitForURL(/\/care\/devices$/), page.locator('a#devices-link').click()]);
  const line = page.locator(`#devices tr[data-device="${DEVICE}"]`);
  assert.equal(await line.count(), 1, 'the device is listed');
  assert.equal((await line.locator('[data-count=readings]').innerText()).trim(), '2', 'two presses');
  assert.equal((await line.locator('[data-count=refused]').innerText()).trim(), '0');
  assert.match(await page.locator('#broker').innerText(), /HTTP/, 'no broker: readings over HTTP');

  const form = page.locator('form#register-form');
  const second = `smoke-e2e-${RUN}`;
  await form.locator('input[name=device_id]').fill(second);
  await form.locator('select[name=kind]').selectOption('smoke');
  await form.locator('input[name=household_id]').fill(String(household));
  await Promise.all([page.waitForLoadState('load'), form.locator('button[type=submit]').click()]);
  await page.locator('#credential').waitFor();
  assert.match((await page.locator('#credential-value').innerText()).trim(), /^[0-9a-f]{64}$/);
  assert.equal(await page.locator('#mqtt-account').getAttribute('data-account'), 'no_broker');
  await page.locator('#copy-credential').click();
  await page.waitForSelector('#copy-credential[data-copied=yes]');
  assert.equal(await page.locator(`#devices tr[data-device="${second}"]`).count(), 1);
  await shot(page, 'c5-devices-registered');

  // The same id again: the reason beside the form.
  await form.locator('input[name=device_id]').fill(second);
  await form.locator('input[name=household_id]').fill(String(household));
  await Promise.all([page.waitForLoadState('load'), form.locator('button[type=submit]').click()]);
  assert.match(await page.locator('#register-error').innerText(), /已登记/);
  assert.equal(await page.locator('#credential').count(), 0, 'no credential shown again');
  assert.deepEqual(page.jsErrors, [], 'no JavaScript errors');
});
