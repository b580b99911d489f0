// Shared plumbing of the browser suites (e2e/*.mjs), each run by a Go test
// (web/browsertest.Run) against a node serving the embedded UI: arguments,
// Debian's chromium through playwright-core (no browser download), pass/fail
// counting, pages that record console errors and CSP violations, axe-core,
// screenshots, keyboard-focus checks and signing in.
import { chromium } from 'playwright-core';
import { crc32, deflateSync } from 'node:zlib';
import { mkdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';

export const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []),
);
export const base = args.base ?? 'http://127.0.0.1:8080';
// The mock upstream the channels the suite creates point at.
export const upstream = args.upstream;
export const out = args.out ?? 'screenshots';
export const BUDGET = 150 * 1024;
await mkdir(out, { recursive: true });
const axeSource = await readFile(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

export const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  // CI runs as root, where chromium's sandbox cannot start.
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
});

let failures = 0;
let passed = 0;
export function check(cond, what) {
  if (cond) {
    passed++;
    console.log(`ok   ${what}`);
  } else {
    failures++;
    console.log(`FAIL ${what}`);
  }
}

// newPage opens a fresh context (no cookies, no cache) and records every
// console error, page error and CSP violation.
export async function newPage({ locale = 'en-US', colorScheme = 'light', width = 1280, height = 800 } = {}) {
  const context = await browser.newContext({ locale, colorScheme, viewport: { width, height }, deviceScaleFactor: 1 });
  await context.addInitScript(() => {
    window.__csp = [];
    document.addEventListener('securitypolicyviolation', (e) => window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`));
  });
  // make test runs this beside every other package on two cores: be patient.
  context.setDefaultTimeout(30_000);
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    const url = m.location()?.url ?? '';
    // The API's error answers (401 before sign-in, totp_required, the 500
    // of the request-id check) are part of the flows, handled by the UI;
    // chrome logs each as an error all the same.
    if (/Failed to load resource: the server responded with a status of [45]\d\d/.test(m.text()) && new URL(url, base).pathname.startsWith('/api/')) return;
    problems.push(`console: ${m.text()} (${url})`);
  });
  const assets = [];
  page.on('response', (r) => {
    if (/\.(js|css)$/.test(new URL(r.url()).pathname)) assets.push(r);
  });
  return { context, page, problems, assets };
}

export async function clean(p, what) {
  const csp = await p.page.evaluate(() => window.__csp);
  check(p.problems.length === 0 && csp.length === 0, `${what}: no console errors or CSP violations ${JSON.stringify([...p.problems, ...csp])}`);
}

export async function transferred(assets) {
  let total = 0;
  const seen = new Set();
  for (const r of assets) {
    if (seen.has(r.url())) continue;
    seen.add(r.url());
    const s = await r.request().sizes();
    total += s.responseBodySize;
    check(r.headers()['content-encoding'] === 'gzip' || s.responseBodySize < 1024, `${new URL(r.url()).pathname} is gzipped (${s.responseBodySize} B)`);
  }
  return total;
}

// axe runs inside the page (evaluated over the devtools protocol, which the
// CSP does not govern); serious and critical violations fail the suite.
export async function axe(page, what) {
  await page.evaluate(axeSource);
  const res = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  const bad = res.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  const minor = res.violations.filter((v) => !bad.includes(v)).map((v) => `${v.id} (${v.impact})`);
  const detail = bad.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  check(bad.length === 0, `${what}: axe finds no serious or critical violation ${JSON.stringify(detail)}${minor.length ? ' minor: ' + minor.join(', ') : ''}`);
}

export const shot = (page, name) => page.screenshot({ path: path.join(out, name), fullPage: true });
export const h1 = (page) => page.locator('h1').first().textContent();
// gone waits (up to 5 s) for a locator to match nothing: an absence checked
// right after a click must not race the re-render that removes the element.
export async function gone(locator, timeout = 5_000) {
  const end = Date.now() + timeout;
  for (;;) {
    if ((await locator.count()) === 0) return true;
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
}
// textIs waits (up to 5 s after the element shows) for a locator's text to
// become want: a badge or an error re-rendered after a request must not be
// read before the answer lands.
export async function textIs(locator, want, timeout = 5_000) {
  let got = await locator.textContent();
  const end = Date.now() + timeout;
  while (got !== want && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 50));
    got = await locator.textContent().catch(() => null);
  }
  return got === want;
}
export const kb = (n) => `${(n / 1024).toFixed(1)} KB`;

export async function waitPath(page, p) {
  await page.waitForURL((u) => u.pathname === p, { timeout: 30_000 });
}

// focusVisible tabs through the first controls and checks each shows an
// outline or a shadow.
export async function focusVisible(page, tabs, what) {
  const seen = [];
  for (let i = 0; i < tabs; i++) {
    await page.keyboard.press('Tab');
    const f = await page.evaluate(() => {
      const el = document.activeElement;
      if (!el || el === document.body) return null;
      const cs = getComputedStyle(el);
      return {
        tag: el.tagName.toLowerCase() + (el.id ? '#' + el.id : ''),
        visible: (cs.outlineStyle !== 'none' && parseFloat(cs.outlineWidth) >= 2) || cs.boxShadow !== 'none',
      };
    });
    if (f) seen.push(f);
  }
  check(seen.length >= Math.min(tabs, 3), `${what}: Tab reaches controls (${seen.map((s) => s.tag).join(', ')})`);
  const hidden = seen.filter((s) => !s.visible).map((s) => s.tag);
  check(hidden.length === 0, `${what}: focus is visible on every control ${JSON.stringify(hidden)}`);
}

// login fills the sign-in form on the current page and submits it.
export async function login(page, who) {
  await page.fill('#email', who.email);
  await page.fill('#password', who.password);
  await page.locator('form button[type=submit]').click();
}

// finish closes the browser, prints the tally and exits non-zero on any failure.
export async function finish() {
  await browser.close();
  console.log(`${passed} passed, ${failures} failed`);
  process.exit(failures ? 1 : 0);
}

// png makes a small solid-colour PNG (RGB, w×h), for suites that upload images.
export function png(w, h, [r, g, b]) {
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const c = Buffer.alloc(4);
    c.writeUInt32BE(crc32(td));
    return Buffer.concat([len, td, c]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // colour type RGB
  const row = Buffer.concat([Buffer.from([0]), Buffer.from(Array.from({ length: w }, () => [r, g, b]).flat())]);
  const raw = Buffer.concat(Array.from({ length: h }, () => row));
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}
