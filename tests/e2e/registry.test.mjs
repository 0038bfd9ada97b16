// Real-browser tests for the registry's pages (人、房、设施): the workbook import with its
// bad rows, the audited reveal of an ID number, and the htmx filter of the residents list.
//
// Run through tests/e2e/run.sh (see linli.test.mjs for the environment). The tests make their
// own data — a building through the building form, residents through the import page — and
// never rely on demo residents, which a demo may or may not generate. The three tests run in
// order and share that data.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { launch, newPage, shot, signIn } from './browser.mjs';

const TEST_TIMEOUT = 120_000;

const COMMUNITY = '330102001051'; // shegong's community
const XLSX = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet';

// Names unique to this run, so that a re-run on a kept database finds only its own rows.
const RUN = String(Date.now() % 100000).padStart(5, '0');
const BUILDING = `测试楼${RUN}`;
const MISSING_BUILDING = `没有这栋楼${RUN}`;
const PREFIX = `测${RUN}`;
const ELDER = `${PREFIX}甲`; // 80+, living alone
const SPOUSE = `${PREFIX}乙`;
const REASON = `上门走访核对身份 e2e ${RUN}`;

// ---------------------------------------------------------------------------------------
// Resident ID numbers (GB 11643-1999): ISO 7064 MOD 11-2 check character.

const WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CHECK = '10X98765432';

function checkChar(body17) {
  let sum = 0;
  for (let i = 0; i < 17; i++) sum += Number(body17[i]) * WEIGHTS[i];
  return CHECK[sum % 11];
}

/** A valid ID number of 上城区 (330102) born on `birth` (YYYYMMDD); an odd `seq` is male. */
function idNumber(birth, seq) {
  const body = `330102${birth}${String(seq).padStart(3, '0')}`;
  return body + checkChar(body);
}

/** The same number with a wrong check character. */
function wrongCheck(id) {
  const good = id[17];
  const bad = CHECK.split('').find((c) => c !== good);
  return id.slice(0, 17) + bad;
}

function seq() {
  return 100 + Math.floor(Math.random() * 900);
}

const ELDER_ID = idNumber('19400315', seq());
const SPOUSE_ID = idNumber('19850607', seq());
const OTHER_ID = idNumber('19720101', seq());
const THIRD_ID = idNumber('19990909', seq());

const HEADER = '姓名,身份证号,手机号,性别,出生日期,楼栋,单元,室号,与户主关系,标签';
const GOOD_ROWS = [
  `${ELDER},${ELDER_ID},13912345678,,,${BUILDING},1单元,101,户主,独居`,
  `${SPOUSE},${SPOUSE_ID},,,,${BUILDING},1单元,101,配偶,`,
];
// Lines as the page numbers them (the header is line 1).
const BAD_FILE = [
  HEADER,
  GOOD_ROWS[0], // line 2: good
  `${PREFIX}丙,${wrongCheck(OTHER_ID)},,,,${BUILDING},1单元,102,户主,`, // line 3: check character
  `${PREFIX}丁,${THIRD_ID},,,,${MISSING_BUILDING},1单元,103,户主,`, // line 4: unknown building
  GOOD_ROWS[1], // line 5: good
  `${PREFIX}戊,${SPOUSE_ID},,,,${BUILDING},1单元,104,户主,`, // line 6: same ID as line 5
].join('\n') + '\n';
const GOOD_FILE = [HEADER, ...GOOD_ROWS].join('\n') + '\n';

let browser;
let tmp;
let elderId; // the resident's record id, once imported

before(async () => {
  tmp = mkdtempSync(path.join(tmpdir(), 'linli-e2e-registry-'));
  browser = await launch();
});

after(async () => {
  if (browser) await browser.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/** Uploads `content` as a residents .csv on the import page and waits for the outcome. */
async function importResidents(page, name, content) {
  const file = path.join(tmp, name);
  writeFileSync(file, content, 'utf8');
  const res = await page.goto('/registry/import?kind=residents');
  assert.equal(res.status(), 200, `GET /registry/import answered HTTP ${res.status()}`);
  const form = page.locator('form#registry-import-form');
  await form.locator('input[name=kind][value=residents]').check();
  const community = form.locator('[name=community]');
  assert.equal(await community.inputValue(), COMMUNITY, `the community defaults to shegong's, ${COMMUNITY}`);
  await form.locator('input[name=file]').setInputFiles(file);
  await form.locator('button[type=submit]').click();
  const status = page.locator('#import-status');
  await page.waitForSelector(
    '#import-status[data-state=done], #import-status[data-state=rejected], #import-status[data-state=failed]',
    { timeout: 60_000 });
  return { state: await status.getAttribute('data-state'), text: (await status.innerText()).trim() };
}

/** The rows of the residents list whose names start with this run's prefix. */
async function listedNames(page) {
  return page.locator('#residents tr[data-id] a.resident-link').allInnerTexts();
}

test('shegong imports residents: every bad row listed, nothing written, then the fixed file',
  { timeout: TEST_TIMEOUT }, async (t) => {
    const page = await newPage(browser, t, { downloads: true });
    await signIn(page, 'shegong');

    // The registry is in the navigation and the region page carries its cards.
    assert.equal(await page.locator('a#nav-registry').count(), 1, 'the navigation links to the registry');
    assert.equal(await page.locator('#registry-summary [data-key=residents]').count(), 1,
      'the community page shows the registry summary cards');

    // A building first, through the building form, so that the good rows have one.
    let res = await page.goto('/registry/buildings/new');
    assert.equal(res.status(), 200, `GET /registry/buildings/new answered HTTP ${res.status()}`);
    const bform = page.locator('form#building-form');
    assert.equal(await bform.locator('[name=region]').inputValue(), COMMUNITY,
      'the building form offers shegong\'s community first');
    // A missing address is refused inline, with the entered name kept.
    await bform.locator('[name=name]').fill(BUILDING);
    await bform.locator('button[type=submit]').click();
    await page.locator('#e-address').waitFor();
    assert.equal(await page.locator('form#building-form [name=name]').inputValue(), BUILDING,
      'the form keeps what was typed');
    await page.locator('form#building-form [name=address]').fill(`杭州市上城区清波街道测试路 ${RUN} 号`);
    await Promise.all([
      page.waitForURL(/\/registry\/buildings\/\d+/),
      page.locator('form#building-form button[type=submit]').click(),
    ]);
    assert.equal((await page.locator('h1#building-name').innerText()).trim(), BUILDING, 'the building page names it');
    await shot(page, 'r1-building');

    // A file with good and bad rows: rejected whole.
    const bad = await importResidents(page, `residents-bad-${RUN}.csv`, BAD_FILE);
    await shot(page, 'r1-import-rejected');
    assert.equal(bad.state, 'rejected', `the bad file is rejected; the page says: ${bad.text}`);
    for (const [line, what] of [[3, 'check character'], [4, 'unknown building'], [6, 'duplicate ID']]) {
      const row = page.locator(`#import-errors tr[data-row="${line}"]`);
      assert.ok(await row.count() > 0, `line ${line} (${what}) is listed; the page says: ${bad.text}`);
      assert.equal((await row.first().locator('td').first().innerText()).trim(), String(line),
        `the row of line ${line} shows its line number`);
    }
    assert.match(await page.locator('#import-errors tr[data-row="3"]').first().innerText(), /校验/,
      'line 3 says its check character is wrong');
    assert.match(await page.locator('#import-errors tr[data-row="4"]').first().innerText(), new RegExp(MISSING_BUILDING),
      'line 4 names the unknown building');
    for (const good of [2, 5]) {
      assert.equal(await page.locator(`#import-errors tr[data-row="${good}"]`).count(), 0, `good line ${good} is not listed`);
    }
    assert.match(bad.text, /没有写入任何数据/, 'the page says nothing was written');

    // The error report downloads as a workbook.
    const href = await page.locator('a#import-report').getAttribute('href');
    assert.ok(href, 'a link to the error report');
    const report = await page.request.get(href);
    assert.equal(report.status(), 200, `GET ${href} answered HTTP ${report.status()}`);
    assert.ok((report.headers()['content-type'] || '').startsWith(XLSX), 'the report is an .xlsx');
    const body = await report.body();
    assert.equal(body.subarray(0, 2).toString('latin1'), 'PK', 'the report is a zip (xlsx) file');

    // Nothing was written: not even the good rows.
    res = await page.goto(`/registry/residents?region=${COMMUNITY}&q=${encodeURIComponent(PREFIX)}`);
    assert.equal(res.status(), 200);
    assert.deepEqual(await listedNames(page), [], 'no resident of the rejected file was registered');
    assert.equal(await page.locator('#residents-empty').count(), 1, 'the empty state is shown');

    // The fixed file goes in.
    const good = await importResidents(page, `residents-good-${RUN}.csv`, GOOD_FILE);
    await shot(page, 'r1-import-done');
    assert.equal(good.state, 'done', `the fixed file is imported; the page says: ${good.text}`);
    assert.match(good.text, /新增 2 条/, `two residents created: ${good.text}`);

    await Promise.all([page.waitForURL(/\/registry\/residents\?/), page.locator('a#import-list-link').click()]);
    res = await page.goto(`/registry/residents?region=${COMMUNITY}&q=${encodeURIComponent(PREFIX)}`);
    assert.equal(res.status(), 200);
    const names = await listedNames(page);
    assert.ok(names.includes(ELDER) && names.includes(SPOUSE), `both residents are listed: ${JSON.stringify(names)}`);
    const row = page.locator('#residents tr[data-id]', { hasText: ELDER });
    const masked = (await row.locator('td.id-masked').innerText()).trim();
    assert.notEqual(masked, ELDER_ID, 'the list does not show the full ID number');
    assert.match(masked, /\*{4,}/, `the ID number is masked: ${masked}`);
    assert.ok(masked.startsWith(ELDER_ID.slice(0, 4)) && !masked.includes(ELDER_ID.slice(6, 14)),
      `the mask hides the birth date: ${masked}`);
    elderId = await row.getAttribute('data-id');
    await shot(page, 'r1-residents');
    assert.deepEqual(page.jsErrors, [], 'no JavaScript errors');
  });

test('revealing an ID number asks for a reason, and the audit log keeps it',
  { timeout: TEST_TIMEOUT }, async (t) => {
    assert.ok(elderId, 'the import test registered the resident');
    const page = await newPage(browser, t, { downloads: true });
    await signIn(page, 'shegong');
    const res = await page.goto(`/registry/residents/${elderId}`);
    assert.equal(res.status(), 200, `GET /registry/residents/${elderId} answered HTTP ${res.status()}`);
    assert.equal((await page.locator('h1#resident-name').innerText()).trim(), ELDER);

    const box = page.locator('#reveal-id_number');
    assert.notEqual((await box.locator('.rp-masked').innerText()).trim(), ELDER_ID, 'masked at first');
    await box.locator('summary').click();
    await box.locator('button[type=submit]').click();
    const error = page.locator('#reveal-id_number .field-error');
    await error.waitFor();
    assert.match(await error.innerText(), /理由/, 'without a reason the form says one is needed');
    assert.equal(await page.locator('#reveal-id_number .rp-full').count(), 0, 'and shows nothing in full');
    await shot(page, 'r2-reveal-no-reason');

    await page.locator('#reveal-id_number input[name=reason]').fill(REASON);
    await page.locator('#reveal-id_number button[type=submit]').click();
    const full = page.locator('#reveal-id_number .rp-full');
    await full.waitFor();
    assert.equal((await full.innerText()).trim(), ELDER_ID, 'with a reason the full ID number shows');
    await shot(page, 'r2-revealed');
    assert.deepEqual(page.jsErrors, [], 'no JavaScript errors');

    // The administrator reads the reveal in the audit log: who, what, why.
    const admin = await newPage(browser, t, { downloads: true });
    await signIn(admin, 'admin');
    const audit = await admin.goto('/audit');
    assert.equal(audit.status(), 200);
    const entry = admin.locator('#audit tbody tr', { hasText: 'resident.reveal' }).filter({ hasText: REASON });
    assert.ok(await entry.count() > 0, 'the audit log has the reveal with its reason');
    const text = await entry.first().innerText();
    assert.match(text, /shegong/, `the entry names shegong: ${text}`);
    assert.match(text, /id_number/, `the entry names the field: ${text}`);
    assert.match(text, new RegExp(`resident:${elderId}`), `the entry names the resident: ${text}`);
    await shot(admin, 'r2-audit');
  });

test('the residents filter by 80+ and 独居 updates the table in place and the URL',
  { timeout: TEST_TIMEOUT }, async (t) => {
    assert.ok(elderId, 'the import test registered the residents');
    const page = await newPage(browser, t, { downloads: true });
    await signIn(page, 'shegong');
    const res = await page.goto(`/registry/residents?region=${COMMUNITY}`);
    assert.equal(res.status(), 200);
    await page.evaluate(() => { window.__linliMarker = 'same page'; });

    const form = page.locator('form#resident-filter');
    const q = form.locator('input[name=q]');
    await q.fill(PREFIX);
    await Promise.all([page.waitForURL((u) => u.searchParams.get('q') === PREFIX), q.press('Enter')]);
    await page.waitForFunction(
      (n) => document.querySelectorAll('#residents tr[data-id]').length === n, 2, { timeout: 20_000 });

    await form.locator('input[name=tag][value=age80]').check();
    await page.waitForURL((u) => u.searchParams.getAll('tag').includes('age80'));
    await form.locator('input[name=tag][value=living_alone]').check();
    await page.waitForURL((u) => {
      const tags = u.searchParams.getAll('tag');
      return tags.includes('age80') && tags.includes('living_alone') && u.searchParams.get('q') === PREFIX;
    });
    await page.waitForFunction(
      (n) => document.querySelectorAll('#residents tr[data-id]').length === n, 1, { timeout: 20_000 });
    await shot(page, 'r3-filtered');

    assert.equal(await page.evaluate(() => window.__linliMarker), 'same page',
      'the table changed in place: the page was not reloaded');
    assert.deepEqual(await listedNames(page), [ELDER], 'only the resident aged 80+ living alone is left');
    const row = page.locator('#residents tr[data-id]').first();
    assert.equal(await row.locator('[data-tag=age80]').count(), 1, 'the row carries the 80+ chip');
    assert.equal(await row.locator('[data-tag=living_alone]').count(), 1, 'the row carries the 独居 chip');
    const exportHref = await page.locator('a#export-link').getAttribute('href');
    assert.match(exportHref, /tag=age80/, `the export link follows the filter: ${exportHref}`);

    // The URL is a bookmark: opening it afresh shows the same list.
    await page.goto(page.url());
    assert.deepEqual(await listedNames(page), [ELDER], 'the pushed URL reproduces the filtered list');
    assert.ok(await page.locator('input[name=tag][value=age80]').isChecked(), 'with the 80+ box checked');
    assert.deepEqual(page.jsErrors, [], 'no JavaScript errors');
  });
