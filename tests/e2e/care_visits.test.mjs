// Real-browser tests for the care visit pages (关爱探访): the community worker enrols an
// elderly person living alone from the enrol page; the grid worker, on a phone, opens the
// visits list, opens the person, records a visit with a concern and a photo from the
// camera input, and sees it in the history, all without scrolling sideways; the region page
// shows the care block.
//
// Run through tests/e2e/run.sh. The demo's grid may have few tagged elderly, so the test
// registers one through the API (born 1940, tagged 独居) with a name of its own run.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { BASE, HERE, PASSWORD, launch, newPage, shot, signIn } from './browser.mjs';

const TEST_TIMEOUT = 120_000;
const GRID = '330102001051001'; // wangge's grid
const COMMUNITY = '330102001051'; // shegong's community
const RUN = String(Date.now() % 100000).padStart(5, '0');
const NAME = `探访测试${RUN}`;
const PHOTO = path.join(HERE, '..', '..', 'crates', 'photo', 'tests', 'fixtures', 'text_exif.png');

let browser;
let resident; // the resident the tests carry

/** A valid 18-digit ID number (GB 11643 check character) for someone born on `birth`. */
function idNumber(birth, seq) {
  const first = `330102${birth}${String(seq).padStart(3, '0')}`;
  const weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
  const sum = [...first].reduce((s, d, i) => s + Number(d) * weights[i], 0);
  return first + '10X98765432'[sum % 11];
}

before(async () => {
  browser = await launch();
  const shegong = await token('shegong');
  const found = await api('GET', `/api/v1/households?region=${GRID}&limit=1`, shegong);
  assert.equal(found.status, 200, `listing households answered HTTP ${found.status}`);
  const household = found.body.items[0].id;
  const day = String((Number(RUN) % 28) + 1).padStart(2, '0');
  const made = await api('POST', '/api/v1/residents', shegong, {
    household_id: household,
    name: NAME,
    id_number: idNumber(`194003${day}`, Number(RUN) % 1000),
    relation: '其他',
    tags: ['独居'],
  });
  assert.equal(made.status, 201, `registering the resident answered HTTP ${made.status}: ${JSON.stringify(made.body)}`);
  resident = made.body.id;
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

async function noSidewaysScroll(page, what) {
  const [scroll, width] = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
  assert.ok(scroll <= width + 1, `${what}: the page scrolls sideways (${scroll} > ${width})`);
}

test('the community worker enrols from the enrol page', { timeout: TEST_TIMEOUT }, async (t) => {
  const page = await newPage(browser, t);
  await signIn(page, 'shegong');
  const res = await page.goto(`/care/visits/enrol?region=${COMMUNITY}`);
  assert.equal(res.status(), 200);
  const row = page.locator(`li[data-resident="${resident}"]`);
  await row.waitFor();
  assert.match(await row.innerText(), /每7天/, 'born 1940 and living alone: weekly');
  await Promise.all([page.waitForURL(/enrolled=one/), row.locator('button[type=submit]').click()]);
  assert.match(await page.locator('#enrol-done').innerText(), /已纳入 1 人/);
  assert.equal(await page.locator(`li[data-resident="${resident}"]`).count(), 0, 'no longer a candidate');
  await shot(page, 'care-visits-enrolled');
  assert.deepEqual(page.jsErrors, []);
});

test('the grid worker records a visit from a phone, with a concern and a photo', { timeout: TEST_TIMEOUT }, async (t) => {
  const page = await newPage(browser, t, { phone: true });
  await signIn(page, 'wangge');
  const res = await page.goto('/care/visits?tab=all');
  assert.equal(res.status(), 200);
  await noSidewaysScroll(page, 'the visits list');
  const link = page.locator('#people a.cp-name', { hasText: NAME });
  await link.waitFor();
  await Promise.all([page.waitForURL(/\/care\/visits\/\d+$/), link.click()]);
  assert.equal(await page.locator('#person-name').innerText(), NAME);
  await noSidewaysScroll(page, 'the person');
  const form = page.locator('#visit-form');
  await form.locator('input[name=mode][value=home]').check();
  await form.locator('textarea[name=note]').fill('精神不错，家中地面湿滑，已提醒');
  await form.locator('input[name=concerns][value=safety]').check();
  await form.locator('input[type=file]').setInputFiles(PHOTO);
  await form.locator('[data-ep-previews] li[data-ref]').waitFor();
  await Promise.all([page.waitForURL(/recorded=1/), form.locator('#visit-submit').click()]);
  await page.locator('#visit-recorded').waitFor();
  const first = page.locator('#history li').first();
  assert.match(await first.innerText(), /家中地面湿滑/);
  assert.match(await first.innerText(), /安全/);
  const img = first.locator('.cp-thumbs img');
  await img.waitFor();
  const loaded = await img.evaluate((el) => el.complete && el.naturalWidth > 0);
  assert.ok(loaded, 'the photo thumbnail loads');
  await noSidewaysScroll(page, 'the person after the visit');
  await shot(page, 'care-visit-phone');
  assert.deepEqual(page.jsErrors, []);
});

test('the region page shows the care block', { timeout: TEST_TIMEOUT }, async (t) => {
  const page = await newPage(browser, t);
  await signIn(page, 'shegong');
  const res = await page.goto(`/regions/${COMMUNITY}`);
  assert.equal(res.status(), 200);
  const block = page.locator('#care-figures');
  await block.waitFor();
  const enrolled = Number(await block.locator('[data-key=enrolled] .n').innerText());
  assert.ok(enrolled >= 1, `enrolled ${enrolled}`);
  const visits = Number(await block.locator('[data-key=visits] .n').innerText());
  assert.ok(visits >= 1, `visits ${visits}`);
  await shot(page, 'care-region-block');
  assert.deepEqual(page.jsErrors, []);
});
