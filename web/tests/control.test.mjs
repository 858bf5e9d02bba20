// Call control in a real browser (run by tests/e2e/test_call_control.py, which keeps a recorded
// SIPp call going through the gateway and passes PORTAL_FACTS: {url, officer, desk2}): an officer
// pauses the recording from the Live page with a reason, sees the call shown as paused, and
// resumes it; an officer of another desk does not see the call at all.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { facts, launch, close, open, signIn, axe } from './browser.mjs';

before(launch);
after(close);

test('call control: pause and resume a recording from the Live page', async () => {
  const page = await open();
  await signIn(page, facts.officer);
  await page.getByRole('link', { name: 'Live' }).click();
  const pause = page.getByRole('button', { name: /^Pause recording: the call of/ });
  await pause.waitFor({ timeout: 20000 });
  assert.equal(await page.getByRole('button', { name: /^Stop recording/ }).count(), 0,
    'a recording the policy requires offers no stop');
  await pause.click();
  const form = page.getByRole('form', { name: 'Pause recording' });
  await form.waitFor();
  assert.equal(await form.getByLabel('Reason').inputValue(), 'Card payment');
  await axe(page, 'call-control');
  await form.getByRole('button', { name: 'Pause recording', exact: true }).click();
  await page.getByRole('status').filter({ hasText: 'Pause recording: paused.' }).waitFor({ timeout: 10000 });
  // The list shows it paused (within its 3 s refresh), with who and why.
  await page.getByText(/Paused since .* by api:olivia: Card payment/).waitFor({ timeout: 10000 });
  const resume = page.getByRole('button', { name: /^Resume recording: the call of/ });
  await resume.click();
  await page.getByRole('form', { name: 'Resume recording' })
    .getByRole('button', { name: 'Resume recording', exact: true }).click();
  await page.getByRole('status').filter({ hasText: 'Resume recording: resumed.' }).waitFor({ timeout: 10000 });
  await pause.waitFor({ timeout: 10000 });
  assert.deepEqual(page.problems.filter((p) => !/status of 401/.test(p)), []);
  await page.context().close();
});

test('call control: an officer of another desk does not see the call', async () => {
  const page = await open();
  await signIn(page, facts.desk2);
  await page.getByRole('link', { name: 'Live' }).click();
  await page.getByText('No call at the gateway now.').waitFor({ timeout: 10000 });
  await page.context().close();
});
