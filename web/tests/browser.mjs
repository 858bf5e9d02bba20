// What the browser tests share: Debian's chromium launched once per file (Playwright's
// playwright-core), a fresh profile per page, sign-in, and the axe-core check (WCAG 2.2 A/AA: no
// serious or critical finding) with an optional screenshot (VERBATIM_SCREENSHOTS=DIR).
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);
const AXE = require.resolve('axe-core/axe.min.js');
export const facts = JSON.parse(process.env.PORTAL_FACTS ?? '{}');
const SHOTS = process.env.VERBATIM_SCREENSHOTS ?? '';
// Debian's chromium as root on a machine without network: no sandbox, no GPU, nothing that
// reaches out (Google's update, sync and safe-browsing services).
const FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--autoplay-policy=no-user-gesture-required',
  '--mute-audio'];

// How long each page took to be usable, printed for bench/RESULTS.md (never asserted: machines
// are noisy).
const timings = [];
export function timed(name, started) {
  timings.push(`${name} ${Math.round(performance.now() - started)} ms`);
}

let browser;
// `extra`: more flags (the web client's calls: fake media devices).
export async function launch(extra = []) {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: [...FLAGS, ...(Array.isArray(extra) ? extra : [])],
  });
}
export async function close() {
  console.log(`page timings: ${timings.join(', ')}`);
  await browser?.close();
}

// A fresh browser profile (its own cookies) at the portal; bypassCSP only so axe can be injected.
export async function open() {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, bypassCSP: true, viewport: { width: 1280, height: 860 } });
  const page = await context.newPage();
  page.problems = [];
  page.on('pageerror', (e) => page.problems.push(String(e)));
  page.on('console', (m) => m.type() === 'error' && page.problems.push(m.text()));
  return page;
}

export async function signIn(page, who) {
  await page.goto(facts.url + '/');
  await page.getByLabel('Account').fill(who.name);
  await page.getByLabel('Password').fill(who.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('button', { name: 'Sign out' }).waitFor();
}

export async function axe(page, name) {
  await page.addScriptTag({ path: AXE });
  const found = await page.evaluate(async () =>
    // eslint-disable-next-line no-undef
    (await axe.run(document, { runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'] })).violations.map(
      (v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) })));
  const serious = found.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(serious, [], `${name}: ${JSON.stringify(serious, null, 1)}`);
  if (SHOTS) await page.screenshot({ path: `${SHOTS}/${name}.png`, fullPage: true });
}

