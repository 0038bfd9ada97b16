// Real-browser tests for linli's web pages: Playwright (core) driving the system Chromium.
//
// Run through tests/e2e/run.sh, which starts `linli demo` on a free port and sets
//   LINLI_URL       base URL of the running server, e.g. http://127.0.0.1:41234
//   LINLI_PASSWORD  password of the demo accounts (admin, leader, shegong, wangge, root)
//   CHROMIUM        browser binary (default /usr/bin/chromium; never downloaded)
// Screenshots land in tests/e2e/artifacts/ for people to look at.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { PASSWORD, launch, newPage, shot } from './browser.mjs';

const TEST_TIMEOUT = 90_000;

const DISTRICT = '330102'; // 上城区
const STREET = '330102001'; // 清波街道
const OTHER_COMMUNITY = '330102003050'; // 涌金门社区 of 湖滨街道, outside wangge's grid
const OTHER_DISTRICT = '330105'; // 拱墅区, outside admin's district

let browser;

before(async () => {
  browser = await launch();
});

after(async () => {
  if (browser) await browser.close();
});

/** Signs in through the login form and waits for the redirect to a region page. */
async function signIn(page, username, password = PASSWORD) {
  const res = await page.goto('/login');
  assert.equal(res.status(), 200, `GET /login answered HTTP ${res.status()}`);
  const form = page.locator('form#login-form');
  await form.locator('input[name=username]').fill(username);
  await form.locator('input[name=password]').fill(password);
  await form.locator('button[type=submit]').click();
  // Either the redirect to a region page or an error flash, whichever comes first.
  const landed = page.waitForURL(/\/regions\/\d+$/, { timeout: 20_000 }).then(() => true);
  const refused = page.locator('.flash.error').first().waitFor({ state: 'visible', timeout: 20_000 })
    .then(() => false);
  landed.catch(() => {});
  refused.catch(() => {});
  const ok = await Promise.race([landed, refused]).catch(() => false);
  if (!ok || !/\/regions\/\d+$/.test(pathOf(page))) {
    const flash = await page.locator('.flash').allInnerTexts().catch(() => []);
    assert.fail(`${username} did not land on a region page after signing in ` +
      `(now at ${page.url()}, flash: ${JSON.stringify(flash)})`);
  }
}

function pathOf(page) {
  return new URL(page.url()).pathname;
}

async function h1Text(page) {
  return (await page.locator('h1#region-name').innerText()).trim();
}

/** The region codes that the breadcrumb links point to, in order. */
async function breadcrumbCodes(page) {
  const hrefs = await page.locator('nav.breadcrumbs a').evaluateAll(
    (as) => as.map((a) => a.getAttribute('href') || ''));
  return hrefs
    .map((h) => (h.match(/\/regions\/(\d+)(?:[/?#]|$)/) || [])[1])
    .filter(Boolean);
}

test('admin signs in on 上城区 and drills down to a street and a community',
  { timeout: TEST_TIMEOUT }, async (t) => {
    const page = await newPage(browser, t);
    await signIn(page, 'admin');

    assert.equal(pathOf(page), `/regions/${DISTRICT}`, 'admin should land on 上城区 (its home region)');
    assert.match(await h1Text(page), /上城区/, 'h1#region-name on the landing page');
    assert.equal(await page.locator('html').getAttribute('lang'), 'zh-CN', 'default language is zh-CN');
    for (const sel of ['a#lang-switch', 'form#search-form input[name=q]', 'form#sign-out-form',
      'a#map-link', 'table#children', '#summary']) {
      assert.ok(await page.locator(sel).count() > 0, `region page has ${sel}`);
    }
    assert.equal(await page.locator('a#map-link').getAttribute('href'), `/regions/${DISTRICT}/map`,
      'a#map-link points to the map page');
    const streets = page.locator('#summary [data-level=street]');
    assert.ok(await streets.count() > 0, '#summary has an item with data-level=street');
    const streetCount = Number(((await streets.first().innerText()).match(/\d+/) || [])[0]);
    assert.ok(streetCount > 0, `#summary street count should be > 0, got ${streetCount}`);
    const rows = await page.locator('table#children tr[data-code]').count();
    assert.ok(rows > 0, 'table#children lists the streets of 上城区');
    await shot(page, '1-district');

    // Drill down to 清波街道.
    const streetRow = page.locator(`table#children tr[data-code="${STREET}"]`);
    assert.equal(await streetRow.count(), 1, `#children has a row for 清波街道 ${STREET}`);
    const streetLink = streetRow.locator('a.region-link');
    assert.match(await streetLink.innerText(), /清波/, 'the 清波街道 row names it');
    await Promise.all([page.waitForURL(`**/regions/${STREET}`), streetLink.first().click()]);
    assert.match(await h1Text(page), /清波街道/, 'h1#region-name on the street page');
    let crumbs = await breadcrumbCodes(page);
    assert.ok(crumbs.includes(DISTRICT), `breadcrumbs on 清波街道 link to 上城区; got ${JSON.stringify(crumbs)}`);
    assert.ok(crumbs.every((c) => c.startsWith(DISTRICT)),
      `breadcrumbs stay inside admin's area (${DISTRICT}); got ${JSON.stringify(crumbs)}`);
    await shot(page, '1-street');

    // Drill down to the first community of the street.
    const first = page.locator('table#children tr[data-code]').first();
    assert.equal(await first.count(), 1, '清波街道 lists its communities in #children');
    const communityCode = await first.getAttribute('data-code');
    assert.match(communityCode, new RegExp(`^${STREET}\\d{3}$`), 'a community code extends the street code');
    const communityLink = first.locator('a.region-link').first();
    const communityName = (await communityLink.innerText()).trim();
    assert.equal(await communityLink.getAttribute('href'), `/regions/${communityCode}`,
      'a.region-link points to /regions/{code}');
    await Promise.all([page.waitForURL(`**/regions/${communityCode}`), communityLink.click()]);
    assert.ok((await h1Text(page)).includes(communityName),
      `h1#region-name on the community page should contain "${communityName}"`);
    crumbs = await breadcrumbCodes(page);
    assert.ok(crumbs.includes(DISTRICT) && crumbs.includes(STREET),
      `breadcrumbs on the community link to 上城区 and 清波街道; got ${JSON.stringify(crumbs)}`);
    assert.ok(crumbs.indexOf(DISTRICT) < crumbs.indexOf(STREET), 'breadcrumbs go from the top down');
    assert.ok(crumbs.every((c) => c.startsWith(DISTRICT)),
      `breadcrumbs stay inside admin's area; got ${JSON.stringify(crumbs)}`);
    await shot(page, '1-community');
    assert.deepEqual(page.jsErrors, [], 'no JavaScript errors on the way');
  });

test('the map of 上城区 draws', { timeout: TEST_TIMEOUT }, async (t) => {
  const page = await newPage(browser, t);
  await signIn(page, 'admin');

  for (const asset of ['/static/vendor/echarts.min.js', '/static/vendor/htmx.min.js', '/static/map.js']) {
    const r = await page.request.get(asset);
    assert.equal(r.status(), 200, `${asset} is served (HTTP ${r.status()})`);
  }

  const res = await page.goto(`/regions/${DISTRICT}/map`);
  assert.equal(res.status(), 200, `GET /regions/${DISTRICT}/map answered HTTP ${res.status()}`);
  const map = page.locator('#map');
  assert.equal(await map.getAttribute('data-code'), DISTRICT, '#map carries data-code');
  assert.ok(await map.getAttribute('data-api'), '#map carries data-api');

  await page.waitForFunction(
    () => ['ready', 'empty', 'error'].includes(document.getElementById('map')?.dataset.state),
    null, { timeout: 45_000 });
  const state = await map.getAttribute('data-state');
  await shot(page, '2-map');
  assert.equal(state, 'ready',
    `#map data-state should be "ready", got "${state}": ${(await map.innerText()).trim()}`);

  const pixels = await page.evaluate(() => {
    let painted = 0;
    let total = 0;
    for (const c of document.querySelectorAll('#map canvas')) {
      if (!c.width || !c.height) continue;
      const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      total += c.width * c.height;
      for (let i = 3; i < data.length; i += 4) if (data[i] !== 0) painted++;
    }
    return { painted, total };
  });
  assert.ok(pixels.total > 0, 'a canvas is inside #map');
  assert.ok(pixels.painted > pixels.total * 0.01,
    `the map canvas should have drawn pixels; ${pixels.painted} of ${pixels.total} are non-transparent`);
  assert.deepEqual(page.jsErrors, [], 'no JavaScript errors on the map page');
});

test('the language switch goes to English and back', { timeout: TEST_TIMEOUT }, async (t) => {
  const page = await newPage(browser, t);
  await signIn(page, 'admin');
  const here = pathOf(page);
  const html = page.locator('html');
  const sw = page.locator('a#lang-switch');
  const cjk = /[\u4e00-\u9fff]/;

  assert.equal(await html.getAttribute('lang'), 'zh-CN', 'starts in Chinese');
  assert.equal((await sw.innerText()).trim(), 'English', 'in Chinese the switch reads "English"');
  assert.match(await page.locator('#summary').innerText(), cjk, '#summary is labelled in Chinese');

  await Promise.all([page.waitForSelector('html[lang=en]', { state: 'attached' }), sw.click()]);
  await page.waitForLoadState();
  assert.equal(pathOf(page), here, 'switching language returns to the same page');
  assert.equal((await sw.innerText()).trim(), '中文', 'in English the switch reads "中文"');
  const summary = await page.locator('#summary').innerText();
  assert.match(summary, /[A-Za-z]{3,}/, `#summary is labelled in English: ${JSON.stringify(summary)}`);
  const heads = page.locator('table#children thead th');
  if (await heads.count() > 0) {
    const text = (await heads.allInnerTexts()).join(' ');
    assert.doesNotMatch(text, cjk, `#children column headers are English: ${JSON.stringify(text)}`);
  }
  await shot(page, '3-english');

  // The choice sticks (cookie): the no-access page is English too.
  const denied = await page.goto(`/regions/${OTHER_DISTRICT}`);
  assert.equal(denied.status(), 403, `admin of 上城区 opening 拱墅区 ${OTHER_DISTRICT} gets 403`);
  assert.match(await page.locator('#no-access').innerText(), /No access/, '#no-access reads "No access" in English');
  assert.equal(await html.getAttribute('lang'), 'en', 'the language stays English across pages');

  await page.goto(here);
  await Promise.all([page.waitForSelector('html[lang="zh-CN"]', { state: 'attached' }), page.locator('a#lang-switch').click()]);
  await page.waitForLoadState();
  assert.equal(pathOf(page), here, 'switching back returns to the same page');
  assert.equal((await page.locator('a#lang-switch').innerText()).trim(), 'English', 'back in Chinese');
  assert.match(await page.locator('#summary').innerText(), cjk, '#summary is Chinese again');
});

test('a grid worker gets 403 outside the grid', { timeout: TEST_TIMEOUT }, async (t) => {
  const page = await newPage(browser, t);
  await signIn(page, 'wangge');
  const res = await page.goto(`/regions/${OTHER_COMMUNITY}`);
  await shot(page, '4-no-access');
  assert.equal(res.status(), 403,
    `wangge opening community ${OTHER_COMMUNITY} (another street) should get HTTP 403, got ${res.status()}`);
  const box = page.locator('#no-access');
  assert.equal(await box.count(), 1, 'the 403 page has #no-access');
  assert.match(await box.innerText(), /无权访问/, '#no-access reads 无权访问');
  assert.equal(await page.locator('table#children').count(), 0, 'the 403 page shows none of the region');
});

test('a wrong password shows an error and stays on /login', { timeout: TEST_TIMEOUT }, async (t) => {
  const page = await newPage(browser, t);
  await page.goto('/login');
  const form = page.locator('form#login-form');
  await form.locator('input[name=username]').fill('admin');
  await form.locator('input[name=password]').fill(`${PASSWORD}-wrong`);
  await form.locator('button[type=submit]').click();
  const flash = page.locator('.flash.error');
  await flash.first().waitFor({ state: 'visible' });
  await shot(page, '5-wrong-password');
  assert.ok((await flash.first().innerText()).trim().length > 0, '.flash.error has a message');
  assert.equal(pathOf(page), '/login', `stays on /login, now at ${page.url()}`);
  assert.equal(await page.locator('form#login-form').count(), 1, 'the login form is shown again');
  assert.equal(await page.locator('form#sign-out-form').count(), 0, 'not signed in');
});

test('search for 清波 finds 清波街道', { timeout: TEST_TIMEOUT }, async (t) => {
  const page = await newPage(browser, t);
  await signIn(page, 'admin');
  const q = page.locator('form#search-form input[name=q]');
  await q.fill('清波');
  await Promise.all([page.waitForURL(/\/search\?/), q.press('Enter')]);
  assert.equal(new URL(page.url()).searchParams.get('q'), '清波', 'the query is in the URL');
  const hit = page.locator(`a.region-link[href="/regions/${STREET}"]`);
  await shot(page, '6-search');
  assert.ok(await hit.count() > 0,
    `results link to 清波街道 ${STREET}; got ${JSON.stringify(await page.locator('a.region-link').allInnerTexts())}`);
  assert.match(await hit.first().innerText(), /清波街道/, 'the result is named 清波街道');
});
