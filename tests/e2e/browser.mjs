// What every browser test file shares: the application's address and the demo password
// (set by run.sh), the system Chromium, a fresh page per test, screenshots, and signing in
// through the login form. Not a test file itself (node --test runs *.test.mjs).

import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { chromium } from 'playwright-core';

export const BASE = (process.env.LINLI_URL || '').replace(/\/+$/, '');
export const PASSWORD = process.env.LINLI_PASSWORD || 'e2e-pass-123';
export const HERE = path.dirname(fileURLToPath(import.meta.url));
export const ARTIFACTS = path.join(HERE, 'artifacts');
export const PHONE = { width: 390, height: 844 };

/** The system Chromium, headless; checks that run.sh set the address first. */
export async function launch() {
  assert.ok(BASE, 'LINLI_URL is not set; run the tests through tests/e2e/run.sh');
  mkdirSync(ARTIFACTS, { recursive: true });
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
}

/**
 * A fresh browser context (own cookies) and page for test `t`, closed when it ends; the
 * page's script errors are collected in `page.jsErrors`. Options: `phone` (a phone's screen
 * and touch, else a desktop), `downloads` (accept downloads), `confirm` (answer yes to
 * every dialog, such as a form's data-confirm).
 */
export async function newPage(browser, t, { phone = false, downloads = false, confirm = false } = {}) {
  const context = await browser.newContext({
    baseURL: BASE,
    locale: 'zh-CN',
    acceptDownloads: downloads,
    ...(phone
      ? { viewport: PHONE, deviceScaleFactor: 3, isMobile: true, hasTouch: true }
      : { viewport: { width: 1280, height: 900 } }),
  });
  context.setDefaultTimeout(20_000);
  const page = await context.newPage();
  page.jsErrors = [];
  page.on('pageerror', (e) => page.jsErrors.push(String(e)));
  if (confirm) page.on('dialog', (d) => d.accept());
  t.after(async () => {
    await context.close();
  });
  return page;
}

/** A full-page screenshot into artifacts/, for looking at after a run. */
export async function shot(page, name) {
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
}

/** Signs in through the login form and waits until the browser has left /login. */
export async function signIn(page, username, password = PASSWORD) {
  const res = await page.goto('/login');
  assert.equal(res.status(), 200, `GET /login answered HTTP ${res.status()}`);
  const form = page.locator('form#login-form');
  await form.locator('input[name=username]').fill(username);
  await form.locator('input[name=password]').fill(password);
  await Promise.all([
    page.waitForURL((u) => !u.pathname.startsWith('/login'), { timeout: 20_000 }),
    form.locator('button[type=submit]').click(),
  ]);
}
