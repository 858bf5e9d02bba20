// The users' web client in a real browser (run by tests/e2e/test_web_client.py, which starts
// `verbatim serve` with the gateway's secure WebSocket and a recorder, and passes CLIENT_FACTS:
// {url, webSocketPort, elsewhere: a page of another origin, alice, bob: {address, password}}). JsSIP in Debian's chromium registers
// over wss exactly as the page does for a user.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, close, open, axe, timed } from './browser.mjs';

const facts = JSON.parse(process.env.CLIENT_FACTS ?? '{}');

before(launch);
after(close);

async function signIn(page, who) {
  const t = performance.now();
  await page.goto(facts.url + '/client');
  await page.getByLabel('SIP address').fill(who.address);
  await page.getByLabel('Password').fill(who.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByText(`Signed in as ${who.address}`).waitFor({ timeout: 15000 });
  timed(`client sign-in ${who.address}`, t);
}

async function send(page, to, text) {
  await page.getByLabel('To').fill(to);
  await page.getByLabel('Message').fill(text);
  await page.getByRole('button', { name: 'Send' }).click();
}

test('client: a wrong password is refused with a clear error; the page passes axe', async () => {
  const page = await open();
  await page.goto(facts.url + '/client');
  await axe(page, 'client-sign-in');
  await page.getByLabel('SIP address').fill(facts.alice.address);
  await page.getByLabel('Password').fill('not her password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('alert').filter({ hasText: 'Wrong address or password' }).waitFor({ timeout: 15000 });
  await page.context().close();
});

test('client: two users sign in over wss and chat; a closed tab is no longer reachable', async () => {
  const alice = await open();
  const bob = await open();
  await signIn(alice, facts.alice);
  await signIn(bob, facts.bob);
  await send(alice, facts.bob.address, 'Can you do 5m at 101?');
  const log = (page) => page.getByRole('log', { name: 'Conversation' });
  await log(bob).getByText('Can you do 5m at 101?').waitFor({ timeout: 15000 });
  await log(bob).getByText(`From ${facts.alice.address}`).waitFor();
  await log(alice).getByText('delivered').waitFor({ timeout: 15000 });
  // Keyboard only: Bob answers without the mouse.
  await bob.getByLabel('To').focus();
  await bob.keyboard.type(facts.alice.address);
  await bob.keyboard.press('Tab');
  await bob.keyboard.type('Done at 101.');
  await bob.keyboard.press('Tab');
  await bob.keyboard.press('Enter');
  await log(alice).getByText('Done at 101.').waitFor({ timeout: 15000 });
  await axe(alice, 'client-chat');
  assert.deepEqual(alice.problems, []);
  assert.deepEqual(bob.problems, []);
  // Bob closes his tab: his registration ends with his connection, and Alice is told at once.
  await bob.context().close();
  await new Promise((r) => setTimeout(r, 1500));
  await send(alice, facts.bob.address, 'Are you there?');
  await alice.getByRole('alert').filter({ hasText: 'not signed in anywhere' }).waitFor({ timeout: 15000 });
  await alice.getByRole('button', { name: 'Sign out' }).click();
  await alice.getByRole('button', { name: 'Sign in' }).waitFor();
  await alice.context().close();
});

test('client: a page of another origin cannot open the SIP WebSocket; this one can', async () => {
  const page = await open();
  const wss = `wss://127.0.0.1:${facts.webSocketPort}`;
  const attempt = (url) =>
    page.evaluate(
      (u) =>
        new Promise((resolve) => {
          const ws = new WebSocket(u, 'sip');
          ws.onopen = () => {
            ws.close();
            resolve('open');
          };
          ws.onerror = () => resolve('refused');
        }),
      url,
    );
  await page.goto(facts.url + '/client');
  assert.equal(await attempt(wss), 'open');
  await page.goto(facts.elsewhere);
  assert.equal(await attempt(wss), 'refused');
  await page.context().close();
});
