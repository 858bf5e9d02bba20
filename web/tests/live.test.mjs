// Live monitoring in a real browser (run by tests/e2e/test_portal.py, which keeps a SIPp SIPREC
// call in progress, with a tone on each stream, and passes PORTAL_FACTS: {url, officer, desk2,
// recording}): the call is listed, an officer listens and hears it within 2 s of real time
// (every 20 ms that plays is measured against when the recorder received it), and an officer of
// another desk can neither see nor open it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { facts, launch, close, open, signIn, axe, timed } from './browser.mjs';

before(launch);
after(close);

test('live: the call in progress is listed, and listening plays it within 2 s of real time', async () => {
  const page = await open();
  await signIn(page, facts.officer);
  const t = performance.now();
  await page.getByRole('link', { name: 'Live' }).click();
  const listen = page.getByRole('button', { name: /^Listen to the call/ });
  await listen.first().waitFor({ timeout: 15000 });
  timed('live calls', t);
  assert.equal(await listen.count(), 1);
  await axe(page, 'live');
  await listen.first().click();
  await page.getByRole('status').filter({ hasText: /Listening to/ }).waitFor({ timeout: 15000 });
  // Eight seconds of the call.
  await page.waitForFunction(() => (window.vbLive?.frames ?? 0) >= 400, null, { timeout: 30000 });
  const stats = await page.evaluate(() => window.vbLive);
  const behind = [...stats.behindMs].sort((a, b) => a - b);
  const median = behind[Math.floor(behind.length / 2)];
  const worst = behind[Math.floor(behind.length * 0.95)];
  console.log(`live listening: ${stats.frames} frames, ${stats.sound} with sound, median ${Math.round(median)} ms ` +
    `behind real time, 95th percentile ${Math.round(worst)} ms`);
  assert.ok(stats.sound > stats.frames * 0.8, `the tones are heard: ${stats.sound} of ${stats.frames} frames`);
  assert.ok(median > 0 && median < 2000, `median ${median} ms behind`);
  assert.ok(worst < 2000, `95th percentile ${worst} ms behind`);
  await axe(page, 'listening');
  await page.getByRole('button', { name: 'Stop listening' }).click();
  await page.getByRole('status').filter({ hasText: 'Stopped.' }).waitFor();
  assert.deepEqual(page.problems.filter((p) => !/status of 401/.test(p)), []);
  await page.context().close();
});

test('live: an officer of another desk does not see the call and cannot open it', async () => {
  const page = await open();
  await signIn(page, facts.desk2);
  await page.getByRole('link', { name: 'Live' }).click();
  await page.getByText('No call is being recorded now.').waitFor();
  // The WebSocket itself is refused (403 before the upgrade): it closes without opening.
  const outcome = await page.evaluate((id) => new Promise((resolve) => {
    const ws = new WebSocket(`wss://${location.host}/api/v1/live/${id}/listen`);
    ws.onopen = () => resolve('opened');
    ws.onclose = (e) => resolve(`closed ${e.code}`);
  }), facts.recording);
  assert.equal(outcome, 'closed 1006');
  await page.context().close();
});
