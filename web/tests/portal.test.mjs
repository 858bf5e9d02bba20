// The portal in a real browser: Playwright (playwright-core) driving Debian's chromium, one
// browser for the whole file. Run by tests/e2e/test_portal.py, which starts `verbatim serve`
// over HTTPS with recordings made by a SIPREC client and passes what it made in PORTAL_FACTS:
//   {url, officer: {name, password}, desk2: {...}, admin: {...}, recording, participant, word}
// Each page also passes an axe-core check (WCAG 2.2 A/AA: no serious or critical finding).
// With VERBATIM_SCREENSHOTS=DIR it saves a screenshot of each page there (docs/screenshots).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { facts, launch, close, open, signIn, axe, timed } from './browser.mjs';

before(launch);
after(close);

test('sign-in: a wrong password is refused, the session cookie is __Host- and HttpOnly', async () => {
  const page = await open();
  let t = performance.now();
  await page.goto(facts.url + '/');
  await page.getByRole('button', { name: 'Sign in' }).waitFor();
  timed('sign-in', t);
  await axe(page, 'sign-in');
  await page.getByLabel('Account').fill(facts.officer.name);
  await page.getByLabel('Password').fill('not the password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('alert').filter({ hasText: 'wrong account name or password' }).waitFor();
  await signIn(page, facts.officer);
  const cookies = await page.context().cookies();
  const c = cookies.find((x) => x.name === '__Host-vb_session');
  assert.ok(c, JSON.stringify(cookies));
  assert.equal(c.httpOnly, true);
  assert.equal(c.secure, true);
  assert.equal(c.sameSite, 'Strict');
  assert.equal(await page.evaluate(() => document.cookie), '');  // scripts never see it
  // A request without the CSRF token is refused even with the cookie.
  const status = await page.evaluate(async () => (await fetch('/api/v1/saved-searches', {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"name":"x","params":{"participant":"a"}}',
  })).status);
  assert.equal(status, 403);
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('button', { name: 'Sign in' }).waitFor();
  assert.deepEqual(page.problems.filter((p) => !/40[13]/.test(p)), []);
  await page.context().close();
});

test('roles and the admin pages: no recordings for an admin; a policy change previewed, then applied', async () => {
  const page = await open();
  const t = performance.now();
  await signIn(page, facts.admin);
  await page.getByRole('cell', { name: facts.endpoint, exact: true }).waitFor();
  timed('sign-in to admin page', t);
  await page.getByRole('heading', { name: 'Administration' }).waitFor();
  assert.equal(await page.getByRole('link', { name: 'Search' }).count(), 0);
  const r = await page.evaluate(async () => (await fetch('/api/v1/recordings?limit=1')).status);
  assert.equal(r, 403);
  await page.getByRole('cell', { name: facts.endpoint, exact: true }).waitFor();  // the recorder endpoints
  // Preview: whom the grant would record, and nothing changes.
  const grant = `Grant-CsTeamsComplianceRecordingPolicy -Identity ${facts.user} -PolicyName Traders`;
  await page.getByLabel(/^Cmdlets/).fill(grant);
  await page.getByRole('button', { name: 'Preview' }).click();
  await page.getByText('Preview, nothing changed: 1 of').waitFor();
  await page.getByRole('cell', { name: facts.user, exact: true }).waitFor();
  await page.getByLabel(/^User \(address/).fill(facts.user);
  await page.getByRole('button', { name: 'Explain' }).click();
  await page.getByRole('status').filter({ hasText: 'Not recorded' }).waitFor();
  await axe(page, 'admin');
  await page.getByRole('button', { name: 'Apply' }).click();
  await page.getByText('Applied.').waitFor();
  await page.getByRole('button', { name: 'Explain' }).click();
  await page.getByRole('status').filter({ hasText: /^Recorded/ }).waitFor();
  await page.getByRole('cell', { name: grant }).waitFor();  // in the audit log, as the cmdlet ran
  await page.goto(`${facts.url}/#/account`);
  await page.getByText('with the role admin').waitFor();
  await axe(page, 'account');
  await page.context().close();
});

test('search to player: two lanes, the transcript, and playback that plays to the end', async () => {
  const page = await open();
  await signIn(page, facts.officer);
  await page.getByRole('searchbox', { name: /Participant/ }).fill(facts.participant);
  let t = performance.now();
  await page.getByRole('button', { name: 'Search', exact: true }).click();
  const row = page.getByRole('link').filter({ hasText: /\d/ }).first();
  await row.waitFor();
  await page.getByText(/1 recording\b/).waitFor();
  timed('search', t);
  await axe(page, 'search');
  await row.click();
  await page.waitForURL(new RegExp(`#/recordings/${facts.recording}$`));
  // The role gives a reason before anything is played; nothing was fetched before it.
  const fetched = [];
  page.on('request', (r) => r.url().includes('/media/') && fetched.push(r.url()));
  await page.getByLabel(/Why are you listening/).fill('surveillance alert 17');
  assert.deepEqual(fetched, []);
  t = performance.now();
  await page.getByRole('button', { name: 'Continue to playback' }).click();
  const lanes = page.locator('vb-player .lane');
  await page.getByRole('button', { name: 'Play', exact: true }).and(page.locator(':enabled')).waitFor({ timeout: 30000 });
  timed('player (both lanes decoded)', t);
  assert.equal(await lanes.count(), 2);
  // The transcript: a word said, and a click on it seeks every lane there.
  const word = page.locator('vb-player .word', { hasText: facts.word }).first();
  await word.waitFor();
  await word.click();
  const times = await page.locator('vb-player audio').evaluateAll((els) => els.map((e) => e.currentTime));
  assert.ok(times.every((t) => t > 0.3), JSON.stringify(times));
  await axe(page, 'player');
  // Mute and solo per lane.
  await page.getByRole('button', { name: /^Solo / }).first().click();
  const muted = await page.locator('vb-player audio').evaluateAll((els) => els.map((e) => e.muted));
  assert.deepEqual(muted, [false, true]);
  await page.getByRole('button', { name: /^Solo / }).first().click();
  // Twice the speed, pitch kept, from the start to the end of every lane.
  await page.getByLabel('Speed').selectOption('2');
  await page.locator('vb-player .utt button').first().click();
  await page.getByRole('button', { name: 'Play', exact: true }).click();
  await page.waitForFunction(() => {
    const els = [...document.querySelector('vb-app').shadowRoot.querySelector('vb-player').shadowRoot.querySelectorAll('audio')];
    return els.length === 2 && els.every((e) => e.ended);
  }, null, { timeout: 30000 });
  const rates = await page.locator('vb-player audio').evaluateAll((els) => els.map((e) => [e.playbackRate, e.preservesPitch]));
  assert.deepEqual(rates, [[2, true], [2, true]]);
  // A note at the time being played: listed, on the timeline, and (the e2e test checks) in the ledger.
  await page.locator('vb-player .utt button').first().click();
  await page.getByLabel(/^Note at/).fill('asks to move the trade to Friday');
  await page.getByRole('button', { name: 'Add note' }).click();
  await page.getByRole('list', { name: 'Notes' }).getByText('asks to move the trade to Friday').waitFor();
  assert.equal(await page.locator('vb-player .timeline button', { hasText: 'note' }).count(), 1);
  // Each lane downloads as Opus or as WAV.
  const wav = await page.evaluate(async (href) => {
    const r = await fetch(href);
    const b = new Uint8Array(await r.arrayBuffer());
    return [r.status, r.headers.get('content-type'), String.fromCharCode(...b.slice(0, 4)), b.length];
  }, await page.getByRole('link', { name: /as WAV$/ }).first().getAttribute('href'));
  assert.deepEqual(wav.slice(0, 3), [200, 'audio/wav', 'RIFF']);
  assert.ok(wav[3] > 44 + 2 * 8000 * 3, `WAV of ${wav[3]} bytes`);  // over 3 s of 8 kHz audio
  assert.deepEqual(page.problems.filter((p) => !/status of 401/.test(p)), []);  // 401: the first "who am I"
  await page.context().close();
});

// The power of one frequency (Goertzel) in 16-bit mono WAV samples between two times, per sample.
function powerAt(wav, from, to, hz) {
  const rate = wav.readUInt32LE(24);
  const k = 2 * Math.cos((2 * Math.PI * hz) / rate);
  let s1 = 0, s2 = 0, n = 0;
  for (let i = Math.floor(from * rate); i < Math.floor(to * rate); i++, n++) {
    const v = wav.readInt16LE(44 + 2 * i) + k * s1 - s2;
    s2 = s1;
    s1 = v;
  }
  return (s1 * s1 + s2 * s2 - k * s1 * s2) / n;
}

test('redaction: a span typed and a word clicked become a new version with a tone; the original still plays', async () => {
  const page = await open();
  await signIn(page, facts.officer);
  await page.goto(`${facts.url}/#/recordings/${facts.recording}`);
  await page.getByLabel(/Why are you listening/).fill('card number to redact');
  await page.getByRole('button', { name: 'Continue to playback' }).click();
  await page.getByRole('button', { name: 'Play', exact: true }).and(page.locator(':enabled')).waitFor({ timeout: 30000 });
  await page.getByRole('button', { name: 'Redact…' }).click();
  await page.getByLabel('From (s)').fill('0.5');
  await page.getByLabel('To (s)').fill('1.5');
  await page.getByRole('button', { name: 'Add span' }).click();
  // While redacting, a click on a word marks that word of its speaker.
  await page.locator('vb-player .word', { hasText: facts.word }).first().click();
  assert.equal(await page.locator('vb-player .redact tbody tr').count(), 2);
  await axe(page, 'redaction');
  await page.getByLabel('Replace with').selectOption('tone');
  await page.getByLabel(/^Reason/).fill('card number read out');
  const asked = performance.now();
  await page.getByRole('button', { name: 'Create redacted version' }).click();
  // The recorder (another process) makes it; the player then plays it.
  await page.getByRole('status').filter({ hasText: /Version 1 made/ }).waitFor({ timeout: 90000 });
  await page.getByRole('button', { name: 'Play', exact: true }).and(page.locator(':enabled')).waitFor({ timeout: 30000 });
  timed('redaction (asked to version 1 playable)', asked);
  const options = await page.getByLabel('Version to play').locator('option').allTextContents();
  assert.equal(options.length, 2, JSON.stringify(options));
  assert.match(options[0], /Original/);
  assert.match(options[1], /Redacted v1 \(tone, api:officer: card number read out\)/);
  // The lanes load (wavesurfer fetches, then plays from a blob) and download version 1.
  const lanesOf = (version) => page.waitForResponse((r) => r.url().includes(`/media/`) && r.url().includes(`version=${version}`));
  assert.equal(await page.getByLabel('Version to play').inputValue(), '1');
  const links = await page.getByRole('link', { name: /as (Opus|WAV)$/ }).evaluateAll((els) => els.map((e) => e.getAttribute('href')));
  assert.ok(links.length === 4 && links.every((u) => u.includes('version=1')), JSON.stringify(links));
  // The word clicked shows as redacted in the transcript of version 1.
  assert.ok((await page.locator('vb-player .word.hidden').count()) >= 1);
  // In the audio: a 1 kHz tone over 0.5-1.5 s of every lane of version 1, not in the original.
  const href = await page.getByRole('link', { name: /as WAV$/ }).first().getAttribute('href');
  const [v1, v0] = await page.evaluate(async (urls) => Promise.all(urls.map(async (u) => {
    const r = await fetch(u);
    return r.ok ? Array.from(new Uint8Array(await r.arrayBuffer())) : r.status;
  })), [href, href.replace('version=1', 'version=0')]);
  const redacted = Buffer.from(v1), original = Buffer.from(v0);
  assert.ok(powerAt(redacted, 0.6, 1.4, 1000) > 1e6, 'a tone in version 1');
  assert.ok(powerAt(redacted, 0.6, 1.4, 1000) > 100 * powerAt(redacted, 0.6, 1.4, 700), 'a pure tone');
  assert.ok(powerAt(original, 0.6, 1.4, 1000) < powerAt(redacted, 0.6, 1.4, 1000) / 10, 'the original is unchanged');
  // The original is still there to play for this role.
  const loaded = lanesOf(0);
  await page.getByLabel('Version to play').selectOption('0');
  assert.equal((await loaded).status(), 200);
  await page.getByRole('button', { name: 'Play', exact: true }).and(page.locator(':enabled')).waitFor({ timeout: 30000 });
  assert.equal(await page.locator('vb-player .word.hidden').count(), 0);
  assert.deepEqual(page.problems.filter((p) => !/status of 401/.test(p)), []);
  await page.context().close();
});

test('T36: another desk\'s recording gets the same answer as one that does not exist', async () => {
  const page = await open();
  await signIn(page, facts.desk2);
  const answers = [];
  page.on('response', (r) => r.url().includes('/api/v1/recordings/') && answers.push(r.status()));
  await page.goto(`${facts.url}/#/recordings/${facts.recording}`);
  const theirs = await page.getByRole('alert').textContent();
  await page.goto(`${facts.url}/#/recordings/${'0'.repeat(32)}`);
  await page.getByRole('alert').waitFor();
  const missing = await page.getByRole('alert').textContent();
  assert.equal(theirs, missing);
  assert.match(theirs, /forbidden, or no such resource/);
  assert.deepEqual(answers, [403, 403]);
  await page.context().close();
});

test('cases: a search made a case, held, released by a second officer, exported as a package', async () => {
  const page = await open();
  await signIn(page, facts.officer);
  await page.goto(`${facts.url}/#/search?participant=${facts.participant}`);
  await page.getByText(/1 recording\b/).waitFor();
  await page.getByRole('link', { name: 'Make a case of this search' }).click();
  await page.getByLabel('Case name').fill('CASE-1');
  await page.getByLabel('Description').fill('bond pricing');
  await page.getByLabel(/^Access/).fill(facts.officer2.name);
  await page.getByRole('button', { name: 'Create case' }).click();
  await page.getByRole('heading', { name: 'Case CASE-1' }).waitFor();
  await page.getByText('query: participant=' + facts.participant).waitFor();
  await page.getByRole('button', { name: 'Place legal hold' }).click();
  await page.getByText('Under legal hold.').waitFor();
  await page.getByRole('cell', { name: 'CASE-1', exact: true }).waitFor();  // the recording's hold
  await axe(page, 'case');
  await page.getByLabel('Reason for release').fill('investigation closed');
  await page.getByRole('button', { name: 'Request release' }).click();
  await page.getByText('Release requested').waitFor();

  // The requester cannot approve it; a second officer who sees the case does.
  await page.goto(`${facts.url}/#/approvals`);
  await page.getByRole('cell', { name: 'Release the legal hold of case CASE-1' }).waitFor();
  assert.equal(await page.getByRole('button', { name: /^Approve request/ }).count(), 0);
  const second = await open();
  await signIn(second, facts.officer2);
  await second.getByRole('link', { name: 'Approvals' }).click();
  await second.getByRole('button', { name: /^Approve request/ }).click();
  await second.getByRole('cell', { name: `approved by api:${facts.officer2.name}` }).waitFor();
  await axe(second, 'approvals');
  await second.context().close();

  await page.goto(`${facts.url}/#/cases/CASE-1`);
  await page.getByText('Not held.').waitFor();
  await page.getByRole('cell', { name: 'released', exact: true }).waitFor();

  // Export: a job with progress, then the package downloaded (verified by the caller).
  await page.getByRole('button', { name: 'Export package' }).click();
  const button = page.getByRole('button', { name: /^Download package/ });
  await button.waitFor({ timeout: 30000 });
  const [file] = await Promise.all([page.waitForEvent('download'), button.click()]);
  await file.saveAs(`${facts.downloads}/case-1.tar`);
  await page.goto(`${facts.url}/#/cases`);
  await page.getByRole('link', { name: 'CASE-1' }).waitFor();
  await axe(page, 'cases');
  await page.context().close();
});

test('audit: an auditor sees the ledger (who read, noted and redacted the recording) and the logs', async () => {
  const page = await open();
  await signIn(page, facts.auditor);
  await page.waitForURL(/#\/audit$/);
  await page.getByRole('heading', { name: 'Ledger', exact: true }).waitFor();
  await page.getByRole('textbox', { name: 'Recording' }).fill(facts.recording);
  await page.getByRole('button', { name: 'Show' }).click();
  const rows = page.locator('vb-audit tbody tr', { hasText: 'access.annotation' });
  await rows.first().waitFor();
  assert.match(await rows.first().innerText(), /api:officer.*asks to move the trade to Friday/s);
  assert.ok(await page.locator('vb-audit tbody tr', { hasText: 'access.redaction' }).count() >= 1);
  await page.getByRole('heading', { name: /Policy changes/ }).waitFor();
  await page.getByRole('heading', { name: /Security events/ }).waitFor();
  await axe(page, 'audit');
  assert.deepEqual(page.problems.filter((p) => !/status of 401/.test(p)), []);
  await page.context().close();
});

