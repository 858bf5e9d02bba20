// Calls in the users' web client, in a real browser (run by tests/e2e/test_web_client.py, which
// starts `verbatim serve` with the gateway's secure WebSocket, a recorder for Alice, and a SIPp
// phone registered as Carol that plays G.711 speech, and passes CLIENT_FACTS: {url, alice, bob:
// {address, password}, phone, banner, speech: a WAV the fake microphone says, part}). Media is
// WebRTC between Chromium and the gateway (ICE-lite, DTLS-SRTP); what each page hears is measured
// with Web Audio (the client's "Their voice" meter).
import { spawn } from 'node:child_process';
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, close, open, axe, timed } from './browser.mjs';

const facts = JSON.parse(process.env.CLIENT_FACTS ?? '{}');

before(() =>
  launch([
    '--use-fake-ui-for-media-stream',
    '--use-fake-device-for-media-stream',
    `--use-file-for-fake-audio-capture=${facts.speech}`,
    '--allow-loopback-in-peer-connection',
  ]),
);
after(close);

async function signIn(page, who) {
  page.who = who.address;
  await page.goto(facts.url + '/client');
  await page.getByLabel('SIP address').fill(who.address);
  await page.getByLabel('Password').fill(who.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByText(`Signed in as ${who.address}`).waitFor({ timeout: 15000 });
}

async function dial(page, to) {
  await page.getByLabel('Call', { exact: true }).fill(to);
  await page.getByRole('button', { name: 'Call', exact: true }).click();
}

const call = (page) => page.getByRole('region', { name: 'Current call' });

// The loudest the "Their voice" meter showed within `ms` (0..1).
async function loudest(page, ms = 3000) {
  const meter = page.getByLabel('Their voice');
  await meter.waitFor({ timeout: 10000 });
  let peak = 0;
  for (const end = Date.now() + ms; Date.now() < end; ) {
    peak = Math.max(peak, await meter.evaluate((m) => m.value));
    await new Promise((r) => setTimeout(r, 100));
  }
  console.log(`voice level ${page.who ?? ''} ${peak.toFixed(3)}`);
  return peak;
}

const HEARD = 0.02; // a meter this high is speech, not the silence of a dead stream

test('calls: Bob calls Alice, who is recorded; both see the banner, hear each other, hold and hang up', { skip: facts.part !== 'up' }, async () => {
  const alice = await open();
  const bob = await open();
  await signIn(alice, facts.alice);
  await signIn(bob, facts.bob);
  const t = performance.now();
  await dial(bob, facts.alice.address);
  await call(alice).getByText(`From ${facts.bob.address}`).waitFor({ timeout: 15000 });
  await call(alice).getByText('Incoming call').waitFor();
  await call(bob).getByText('Ringing…').waitFor({ timeout: 15000 });
  // Keyboard only: Alice answers with Tab and Enter.
  await call(alice).getByRole('button', { name: 'Answer' }).focus();
  await alice.keyboard.press('Enter');
  await call(alice).getByText('Connected').waitFor({ timeout: 15000 });
  await call(bob).getByText('Connected').waitFor({ timeout: 15000 });
  timed('client call connected', t);
  // Alice is recorded: both parties see it, with her policy's banner.
  for (const page of [alice, bob]) {
    await call(page).getByRole('status').filter({ hasText: 'Recording' }).getByText(facts.banner).waitFor({ timeout: 10000 });
  }
  assert.ok((await loudest(alice)) > HEARD, 'Alice hears Bob');
  assert.ok((await loudest(bob)) > HEARD, 'Bob hears Alice');
  await axe(alice, 'client-call');
  // Bob holds and resumes.
  await call(bob).getByRole('button', { name: 'Hold' }).click();
  await call(bob).getByText('On hold').waitFor({ timeout: 10000 });
  await call(bob).getByRole('button', { name: 'Resume' }).click();
  await call(bob).getByText('Connected').waitFor({ timeout: 10000 });
  assert.ok((await loudest(bob, 2000)) > HEARD, 'Bob hears Alice again');
  await call(alice).getByRole('button', { name: 'Hang up' }).click();
  await call(bob).getByText('Call ended').waitFor({ timeout: 10000 });
  // The history of each: answered, recorded.
  const row = bob.getByRole('row').filter({ hasText: `To ${facts.alice.address}` });
  await row.getByText('answered').waitFor();
  await row.getByText('yes').waitFor();
  await alice.getByRole('row').filter({ hasText: `From ${facts.bob.address}` }).getByText('answered').waitFor();
  assert.deepEqual(alice.problems, []);
  assert.deepEqual(bob.problems, []);
  await alice.context().close();
  await bob.context().close();
});

test('calls: Bob transfers Alice to Carol, and Alice and Carol talk', { skip: facts.part !== 'up' }, async () => {
  const [alice, bob, carol] = [await open(), await open(), await open()];
  await signIn(alice, facts.alice);
  await signIn(bob, facts.bob);
  await signIn(carol, facts.carol);
  await dial(bob, facts.alice.address);
  await call(alice).getByRole('button', { name: 'Answer' }).click();
  await call(bob).getByText('Connected').waitFor({ timeout: 15000 });
  await call(bob).getByLabel('Transfer to').fill(facts.carol.address);
  await call(bob).getByRole('button', { name: 'Transfer', exact: true }).click();
  await call(carol).getByText('Incoming call').waitFor({ timeout: 15000 });
  await call(carol).getByRole('button', { name: 'Answer' }).click();
  await call(carol).getByText('Connected').waitFor({ timeout: 15000 });
  await call(bob).getByText('Call ended').waitFor({ timeout: 15000 });
  // Alice's side starts ICE and DTLS afresh towards Carol: allow for a loaded machine.
  assert.ok((await loudest(alice, 8000)) > HEARD, 'Alice hears Carol');
  assert.ok((await loudest(carol)) > HEARD, 'Carol hears Alice');
  await call(carol).getByRole('status').filter({ hasText: 'Recording' }).waitFor(); // Alice still is
  await call(carol).getByRole('button', { name: 'Hang up' }).click();
  await call(alice).getByText('Call ended').waitFor({ timeout: 15000 });
  for (const page of [alice, bob, carol]) await page.context().close();
});

test("calls: Alice calls a SIPp phone, and the phone's speech reaches her browser", { skip: facts.part !== 'up' }, async () => {
  const alice = await open();
  await signIn(alice, facts.alice);
  await dial(alice, facts.phone);
  await call(alice).getByText('Connected').waitFor({ timeout: 15000 });
  await call(alice).getByRole('status').filter({ hasText: 'Recording' }).waitFor({ timeout: 10000 });
  assert.ok((await loudest(alice)) > HEARD, "Alice hears the phone's speech");
  await call(alice).getByRole('button', { name: 'Hang up' }).click();
  await call(alice).getByText('Call ended').waitFor({ timeout: 10000 });
  await alice.context().close();
});

test("calls: a SIPp phone calls Bob's browser, which answers and hears it", { skip: facts.part !== 'up' }, async () => {
  const bob = await open();
  await signIn(bob, facts.bob);
  const [cmd, ...args] = facts.phoneCall.args;
  const phone = spawn(cmd, args, { cwd: facts.phoneCall.cwd, stdio: 'ignore' });
  const exited = new Promise((resolve) => phone.on('exit', resolve));
  await call(bob).getByText(`From ${facts.phone}`).waitFor({ timeout: 15000 });
  await call(bob).getByRole('button', { name: 'Answer' }).click();
  await call(bob).getByText('Connected').waitFor({ timeout: 15000 });
  assert.ok((await loudest(bob)) > HEARD, "Bob hears the phone's speech");
  await call(bob).getByText('Call ended').waitFor({ timeout: 30000 }); // the phone hangs up
  assert.equal(await exited, 0, "the phone's scenario ran to its end");
  await bob.getByRole('row').filter({ hasText: `From ${facts.phone}` }).getByText('answered').waitFor();
  await bob.context().close();
});

test('calls: the required recorder stops mid-call; both are warned on screen, then the call ends with the reason', { skip: facts.part !== 'removal' }, async () => {
  const alice = await open();
  const bob = await open();
  await signIn(alice, facts.alice);
  await signIn(bob, facts.bob);
  await dial(bob, facts.alice.address);
  await call(alice).getByRole('button', { name: 'Answer' }).click();
  await call(bob).getByText('Connected').waitFor({ timeout: 15000 });
  assert.ok((await loudest(alice, 1500)) > HEARD, 'Alice hears Bob');
  process.kill(facts.recorderPid, 'SIGTERM'); // the recorder leaves (it hangs up at once)
  for (const page of [alice, bob]) {
    await call(page).getByRole('alert').filter({ hasText: 'The recording required by your organisation stopped' })
      .waitFor({ timeout: 15000 });
  }
  await call(bob).getByText('Connected').waitFor(); // warned first, while the spoken warning plays
  for (const page of [alice, bob]) {
    await call(page).getByText('Call ended').waitFor({ timeout: 30000 });
    await call(page).getByRole('alert').filter({ hasText: 'so the call was ended' }).waitFor();
  }
  await alice.context().close();
  await bob.context().close();
});

test('calls: with the required recorder down, the call fails and the browser says why', { skip: facts.part !== 'down' }, async () => {
  const alice = await open();
  const bob = await open();
  await signIn(alice, facts.alice);
  await signIn(bob, facts.bob);
  await dial(alice, facts.bob.address);
  await call(alice)
    .getByRole('alert')
    .filter({ hasText: 'There was a problem setting up the recording required by your organisation' })
    .waitFor({ timeout: 20000 });
  await call(alice).getByText('Call ended').waitFor();
  await alice.getByRole('row').filter({ hasText: `To ${facts.bob.address}` }).getByText('problem setting up the recording').waitFor();
  assert.equal(await call(bob).count(), 0, 'Bob was never called');
  await alice.context().close();
  await bob.context().close();
});

test('meetings: Alice joins with her camera, sees the SIPp participant, shares her screen and chats', { skip: facts.part !== 'meeting' }, async () => {
  const alice = await open();
  await signIn(alice, facts.alice);
  await alice.getByLabel('Meeting address').fill(facts.meeting);
  await alice.getByRole('button', { name: 'Join' }).click();
  const meeting = alice.getByRole('region', { name: 'Current meeting' });
  await meeting.getByText('In the meeting').waitFor({ timeout: 15000 });
  await meeting.getByRole('status').filter({ hasText: 'Recording' }).waitFor({ timeout: 10000 });
  const roster = meeting.getByRole('list', { name: 'Roster' });
  await roster.getByText(facts.alice.address).waitFor({ timeout: 10000 });
  await roster.getByText(facts.phone).waitFor({ timeout: 10000 });
  await meeting.getByRole('button', { name: 'Share screen' }).click();
  await meeting.getByRole('button', { name: 'Stop sharing' }).waitFor({ timeout: 10000 });
  await roster.getByText('presenting').waitFor({ timeout: 10000 });
  await new Promise((r) => setTimeout(r, 4000)); // the screen share runs (and is recorded)
  await meeting.getByLabel('Message to the meeting').fill('Slides are up.');
  await meeting.getByRole('button', { name: 'Send to the meeting' }).click();
  await meeting.getByRole('log', { name: 'Meeting chat' }).getByText('Slides are up.').waitFor();
  await axe(alice, 'client-meeting');
  await meeting.getByRole('button', { name: 'Stop sharing' }).click();
  await meeting.getByRole('button', { name: 'Share screen' }).waitFor({ timeout: 10000 });
  await meeting.getByRole('button', { name: 'Leave' }).click();
  await meeting.getByText('Left the meeting').waitFor({ timeout: 10000 });
  assert.deepEqual(alice.problems, []);
  await alice.context().close();
});
