// The missed-recording trend, usage and quality views on the admin page (run by
// tests/e2e/test_call_control.py once its recorded call ended and the gateway's reconciler
// checked it; PORTAL_FACTS: {url, admin, day}, day being the call's): the day's bar, figures and
// usage say the call was recorded as expected, and the recorder application's quality is shown.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { facts, launch, close, open, signIn, axe } from './browser.mjs';

before(launch);
after(close);

test('admin: the missed-recording trend and the quality views show the recorded call of the day', async () => {
  const page = await open();
  await signIn(page, facts.admin);
  await page.getByRole('heading', { name: 'Administration' }).waitFor();
  await page.getByRole('img', { name: /^100\.00 % recorded as expected in the last 30 days \(1 of 1; target 100 %\)/ })
    .waitFor({ timeout: 10000 });
  await page.getByText('The figures per day').click();
  const row = page.getByRole('row').filter({ has: page.getByRole('cell', { name: '100.00 %' }) });
  assert.equal(await row.count(), 1);
  assert.deepEqual(await row.getByRole('cell').allInnerTexts(), [facts.day, '1', '0', '100.00 %']);
  // Quality and reliability: the recorder application that recorded it, by its name.
  await page.getByRole('heading', { name: 'Usage, quality and reliability' }).waitFor();
  const recorder = page.getByRole('row').filter({ has: page.getByRole('cell', { name: 'Verbatim Recorder', exact: true }) });
  const cells = await recorder.getByRole('cell').allInnerTexts();
  assert.deepEqual(cells.slice(0, 4), ['Verbatim Recorder', '1', '100.0 %', '0 / 0'], cells.join(' | '));
  assert.match(cells[5], /^\d\.\d\d, \d\.\d\d$/, `a MOS estimate: ${cells[5]}`);
  // Usage: today's recording and its minutes.
  const usage = page.getByRole('table', { name: 'Usage per day' }).getByRole('row').nth(1);
  const day = await usage.getByRole('cell').allInnerTexts();
  assert.deepEqual(day.slice(0, 2), [facts.day, '1'], day.join(' | '));
  assert.ok(Number(day[2]) > 0.1, `minutes recorded: ${day[2]}`);
  await axe(page, 'admin-trend');
  assert.deepEqual(page.problems.filter((p) => !/status of 40[13]/.test(p)), []);
  await page.context().close();
});
