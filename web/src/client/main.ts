// The web client (issue 20): a user of the directory signs in with their SIP address and password
// and is then one more phone of theirs: calls (dial, answer, hold, transfer, hang up) with the
// recording indicator and the policy's banner whenever anyone in the call is recorded, why a call
// failed, a call history, and chat. Keyboard accessible; what changes is announced (aria-live).
import { LitElement, html, css } from 'lit';
import { shared, when } from '../styles';
import { Call, loadHistory, remember, type CallView, type HistoryEntry } from './calls';
import { Meeting } from './meeting';
import { SipClient, type ChatLine, type ClientSettings } from './sip';

export class VbClient extends LitElement {
  static properties = {
    settings: { state: true },
    state: { state: true },
    problem: { state: true },
    lines: { state: true },
    call: { state: true },
    history: { state: true },
    level: { state: true },
    meetingView: { state: true },
    meetingTick: { state: true },
  };
  settings: ClientSettings | null = null;
  state: 'signed-out' | 'signing-in' | 'signed-in' = 'signed-out';
  problem = '';
  lines: ChatLine[] = [];
  call: CallView | null = null;
  history: HistoryEntry[] = [];
  level = 0; // the loudness of what the other party sends, 0..1 (a meter for the user)
  private sip: SipClient | null = null;
  private current: Call | null = null;
  meetingView: CallView | null = null; // the meeting's session, as a call
  meetingTick = 0; // bumped when the meeting's roster, chat or video changed
  private meeting: Meeting | null = null;
  private meetingCall: Call | null = null;
  private meter: { context: AudioContext; timer: number } | null = null;

  static styles = [
    shared,
    css`
      header {
        display: flex;
        align-items: center;
        gap: 1rem;
        padding: 0.5rem 1rem;
        background: #14213d;
        color: #fff;
      }
      header .who {
        margin-left: auto;
      }
      main {
        padding: 1rem;
        max-width: 52rem;
      }
      form {
        display: flex;
        flex-direction: column;
        gap: 0.7rem;
        max-width: 26rem;
      }
      ol.chat {
        list-style: none;
        padding: 0;
        margin: 0 0 1rem;
        display: flex;
        flex-direction: column;
        gap: 0.4rem;
      }
      ol.chat li {
        border: 1px solid #d7dbe3;
        border-radius: 6px;
        padding: 0.4rem 0.6rem;
        max-width: 36rem;
      }
      ol.chat li.out {
        align-self: flex-end;
        background: #eef3fb;
      }
      .meta {
        font-size: 0.8rem;
        color: #4a5468;
      }
      section {
        margin-bottom: 1.5rem;
      }
      .call {
        border: 1px solid #d7dbe3;
        border-radius: 6px;
        padding: 0.7rem 1rem;
        margin: 0.7rem 0;
      }
      .call .actions {
        display: flex;
        flex-wrap: wrap;
        gap: 0.5rem;
        margin-top: 0.5rem;
      }
      .recording {
        display: flex;
        align-items: center;
        gap: 0.5rem;
        background: #8b1a1a;
        color: #fff;
        padding: 0.4rem 0.7rem;
        border-radius: 4px;
        font-weight: 600;
      }
      .recording .dot {
        width: 0.7rem;
        height: 0.7rem;
        border-radius: 50%;
        background: #fff;
      }
      form.inline {
        flex-direction: row;
        align-items: end;
        max-width: none;
      }
      table {
        border-collapse: collapse;
      }
      th,
      td {
        text-align: left;
        padding: 0.2rem 0.8rem 0.2rem 0;
      }
    `,
  ];

  connectedCallback(): void {
    super.connectedCallback();
    void this.load();
    addEventListener('pagehide', () => this.sip?.stop());
  }

  private async load(): Promise<void> {
    try {
      const r = await fetch('/api/v1/client', { headers: { Accept: 'application/json' } });
      if (!r.ok) throw new Error(`${r.status}`);
      this.settings = (await r.json()) as ClientSettings;
    } catch {
      this.problem = 'This server offers no web client (the gateway has no WebSocket listener).';
    }
  }

  private signIn(e: Event): void {
    e.preventDefault();
    if (!this.settings) return;
    const f = new FormData(e.target as HTMLFormElement);
    this.problem = '';
    this.state = 'signing-in';
    this.sip?.stop();
    this.sip = new SipClient(this.settings, String(f.get('address')), String(f.get('password')), {
      registered: () => {
        this.state = 'signed-in';
      },
      failed: (problem) => {
        this.problem = problem;
        this.state = 'signed-out';
        this.sip?.stop();
        this.sip = null;
      },
      disconnected: () => {
        if (this.state === 'signed-in') this.problem = 'The connection to the server was lost; reconnecting.';
      },
      message: (line) => {
        this.lines = [...this.lines, line];
      },
      incoming: (session, peer, request) => {
        if (this.current) {
          session.terminate({ status_code: 486, reason_phrase: 'Busy Here' });
          return;
        }
        this.follow(new Call(session, peer, 'in', (v) => this.changed(v), request));
      },
    });
    this.history = loadHistory(this.sip.aor);
  }

  private follow(c: Call): void {
    this.current = c;
    this.call = c.view;
  }

  private changed(v: CallView): void {
    if (!this.current || this.current.view.id !== v.id) return;
    if (v.remote && v.remote !== this.call?.remote) this.listen(v.remote);
    this.call = v;
    if (v.state === 'ended' && this.sip) {
      this.history = remember(this.sip.aor, this.current.entry());
      this.current = null;
      this.stopMeter();
    }
  }

  // The level of the other party's audio (Web Audio), shown as a meter.
  private listen(stream: MediaStream): void {
    this.stopMeter();
    const context = new AudioContext();
    const analyser = context.createAnalyser();
    analyser.fftSize = 1024;
    context.createMediaStreamSource(stream).connect(analyser);
    const samples = new Float32Array(analyser.fftSize);
    const timer = window.setInterval(() => {
      analyser.getFloatTimeDomainData(samples);
      let sum = 0;
      for (const x of samples) sum += x * x;
      this.level = Math.min(1, Math.sqrt(sum / samples.length) * 4);
    }, 100);
    this.meter = { context, timer };
  }

  private stopMeter(): void {
    if (!this.meter) return;
    clearInterval(this.meter.timer);
    void this.meter.context.close();
    this.meter = null;
    this.level = 0;
  }

  private dial(e: Event): void {
    e.preventDefault();
    if (!this.sip || this.current) return;
    const to = String(new FormData(e.target as HTMLFormElement).get('to')).trim();
    if (!to) return;
    const session = this.sip.call(to);
    this.follow(new Call(session, to.replace(/^sips?:/, '').toLowerCase(), 'out', (v) => this.changed(v)));
  }

  private join(e: Event): void {
    e.preventDefault();
    if (!this.sip || this.meeting) return;
    const f = new FormData(e.target as HTMLFormElement);
    let uri = String(f.get('meeting')).trim().replace(/^sips?:/, '');
    if (!uri) return;
    if (!uri.includes('@')) uri = `${uri}@${this.sip.aor.split('@')[1]}`;
    const session = this.sip.join(`sip:${uri}`, f.get('camera') === 'on');
    this.meeting = new Meeting(session, `sip:${uri}`, () => (this.meetingTick += 1));
    this.meetingCall = new Call(session, uri, 'out', (v) => {
      this.meetingView = v;
      if (v.state === 'ended' && this.sip && this.meetingCall) {
        this.history = remember(this.sip.aor, this.meetingCall.entry());
        this.meeting = null;
        this.meetingCall = null;
      }
    });
    this.meetingView = this.meetingCall.view;
  }

  private meetingMessage(e: Event): void {
    e.preventDefault();
    const form = e.target as HTMLFormElement;
    const text = String(new FormData(form).get('text')).trim();
    if (!text || !this.meeting || !this.sip) return;
    const sip = this.sip;
    this.meeting.send(text, (uri, t) => sip.message(uri, t));
    (form.elements.namedItem('text') as HTMLInputElement).value = '';
  }

  private async toggleShare(): Promise<void> {
    if (!this.meeting) return;
    try {
      if (this.meeting.sharing) await this.meeting.stopShare();
      else await this.meeting.startShare();
    } catch (err) {
      this.problem = `The screen could not be shared: ${String(err)}`;
    }
  }

  private transfer(e: Event): void {
    e.preventDefault();
    const to = String(new FormData(e.target as HTMLFormElement).get('target')).trim();
    if (!this.current || !to) return;
    const uri = to.includes('@') ? `sip:${to.replace(/^sips?:/, '')}` : `sip:${to}@${this.sip?.aor.split('@')[1]}`;
    this.current.session.refer(uri);
  }

  private signOut(): void {
    if (this.meetingView?.state !== 'ended') this.meeting?.session.terminate();
    this.meeting = null;
    this.meetingView = null;
    this.current?.session.terminate();
    this.current = null;
    this.call = null;
    this.stopMeter();
    this.sip?.stop();
    this.sip = null;
    this.state = 'signed-out';
    this.lines = [];
  }

  private send(e: Event): void {
    e.preventDefault();
    if (!this.sip) return;
    const form = e.target as HTMLFormElement;
    const f = new FormData(form);
    const text = String(f.get('text')).trim();
    if (!text) return;
    const line = this.sip.send(String(f.get('to')), text, (done) => {
      this.lines = this.lines.map((l) => (l.id === done.id ? done : l));
    });
    this.lines = [...this.lines, line];
    (form.elements.namedItem('text') as HTMLTextAreaElement).value = '';
  }

  private renderLine(l: ChatLine) {
    const who = l.direction === 'in' ? `From ${l.peer}` : `To ${l.peer}`;
    const state = { sending: 'sending', sent: 'delivered', failed: 'not delivered', received: '' }[l.state];
    return html`<li class=${l.direction}>
      <div class="meta">${who} · ${when(l.at.toISOString())}${state ? html` · <span>${state}</span>` : ''}</div>
      <div class="text">${l.text}</div>
      ${l.problem ? html`<div class="error" role="alert">${l.problem}</div>` : ''}
    </li>`;
  }

  render() {
    const signedIn = this.state === 'signed-in';
    return html`<header>
        <strong>Verbatim</strong>
        ${signedIn && this.sip
          ? html`<span class="who">Signed in as ${this.sip.aor}</span>
              <button class="secondary" @click=${this.signOut}>Sign out</button>`
          : ''}
      </header>
      <main>
        ${this.problem ? html`<p class="error" role="alert">${this.problem}</p>` : ''}
        ${signedIn
          ? html`${this.renderCalls()}${this.renderMeeting()}${this.renderChat()}${this.renderHistory()}`
          : this.renderSignIn()}
      </main>`;
  }

  private renderSignIn() {
    return html`<h1>Sign in</h1>
      <form @submit=${this.signIn}>
        <label>SIP address <input name="address" autocomplete="username" placeholder="alice@example.com" required autofocus /></label>
        <label>Password <input name="password" type="password" autocomplete="current-password" required /></label>
        <button type="submit" ?disabled=${!this.settings || this.state === 'signing-in'}>
          ${this.state === 'signing-in' ? 'Signing in…' : 'Sign in'}
        </button>
      </form>`;
  }

  private renderCalls() {
    const c = this.call;
    const live = c && c.state !== 'ended';
    const stateText: Record<string, string> = {
      calling: 'Calling…',
      ringing: 'Ringing…',
      incoming: 'Incoming call',
      connected: 'Connected',
      held: 'On hold',
      ended: 'Call ended',
    };
    return html`<section aria-labelledby="calls">
      <h1 id="calls">Calls</h1>
      <form class="inline" @submit=${this.dial}>
        <label>Call <input name="to" autocomplete="off" placeholder="bob@example.com or a number" required /></label>
        <button type="submit" ?disabled=${!!live}>Call</button>
      </form>
      ${c
        ? html`<div class="call" role="region" aria-label="Current call">
            <div role="status" aria-live="polite">
              <strong>${c.direction === 'in' ? `From ${c.peer}` : `To ${c.peer}`}</strong> · <span>${stateText[c.state]}</span>
            </div>
            ${this.renderIndicators(c, !!live)}
            ${live && (c.state === 'connected' || c.state === 'held')
              ? html`<label>Their voice <meter min="0" max="1" .value=${this.level}></meter></label>`
              : ''}
            <div class="actions">
              ${c.state === 'incoming'
                ? html`<button @click=${() => this.current && this.sip?.answer(this.current.session)}>Answer</button>
                    <button class="secondary" @click=${() => this.current?.session.terminate({ status_code: 603 })}>Decline</button>`
                : ''}
              ${c.state === 'connected' ? html`<button class="secondary" @click=${() => this.current?.session.hold()}>Hold</button>` : ''}
              ${c.state === 'held' ? html`<button class="secondary" @click=${() => this.current?.session.unhold()}>Resume</button>` : ''}
              ${live && c.state !== 'incoming' ? html`<button @click=${() => this.current?.session.terminate()}>Hang up</button>` : ''}
              ${c.state === 'ended' ? html`<button class="secondary" @click=${() => (this.call = null)}>Close</button>` : ''}
            </div>
            ${c.state === 'connected' || c.state === 'held'
              ? html`<form class="inline" @submit=${this.transfer}>
                  <label>Transfer to <input name="target" autocomplete="off" required /></label>
                  <button class="secondary" type="submit">Transfer</button>
                </form>`
              : ''}
          </div>`
        : ''}
    </section>`;
  }

  // What a call or meeting shows of its recording and its end: the banner while anyone is
  // recorded, the removal warning, why it failed or ended; and the other side's audio.
  private renderIndicators(v: CallView, live: boolean) {
    return html`${v.recorded && live
        ? html`<div class="recording" role="status" aria-live="polite">
            <span class="dot" aria-hidden="true"></span><span>Recording</span> · <span>${v.banner}</span>
          </div>`
        : ''}
      ${v.warning && live ? html`<p class="error" role="alert">${v.warning}</p>` : ''}
      ${v.problem ? html`<p class="error" role="alert">${v.problem}</p>` : ''}
      <audio autoplay .srcObject=${v.remote ?? null}></audio>`;
  }

  private renderMeeting() {
    const v = this.meetingView;
    const m = this.meeting;
    const live = v && v.state !== 'ended';
    return html`<section aria-labelledby="meetings">
      <h1 id="meetings">Meetings</h1>
      <form class="inline" @submit=${this.join}>
        <label>Meeting address <input name="meeting" autocomplete="off" placeholder="meet-…@example.com" required /></label>
        <label><input type="checkbox" name="camera" checked /> Camera</label>
        <button type="submit" ?disabled=${!!live}>Join</button>
      </form>
      ${v
        ? html`<div class="call" role="region" aria-label="Current meeting">
            <div role="status" aria-live="polite">
              <strong>${v.peer}</strong> ·
              <span>${v.state === 'connected' ? 'In the meeting' : v.state === 'ended' ? 'Left the meeting' : 'Joining…'}</span>
            </div>
            ${this.renderIndicators(v, !!live)}
            ${m && live
              ? html`<div class="actions">
                    ${m.cameras.map((s) => html`<video aria-label="Speaker" autoplay muted playsinline width="320" .srcObject=${s}></video>`)}
                    ${m.screen ? html`<video aria-label="Shared screen" autoplay muted playsinline width="480" .srcObject=${m.screen}></video>` : ''}
                  </div>
                  <h2>In the meeting</h2>
                  <ul aria-label="Roster">
                    ${m.roster.map(
                      (r) => html`<li>${r.name} (${r.aor})${r.recorded ? ' · recorded' : ''}${r.presenting ? ' · presenting' : ''}</li>`,
                    )}
                  </ul>
                  <div role="log" aria-live="polite" aria-label="Meeting chat">
                    <ol class="chat">
                      ${m.chat.map((l) => html`<li class=${l.from === 'me' ? 'out' : 'in'}>
                        <div class="meta">${l.from === 'me' ? 'You' : l.from} · ${when(l.at.toISOString())}</div>
                        <div class="text">${l.text}</div>
                      </li>`)}
                    </ol>
                  </div>
                  <form class="inline" @submit=${this.meetingMessage}>
                    <label>Message to the meeting <input name="text" autocomplete="off" maxlength="16000" required /></label>
                    <button type="submit" class="secondary">Send to the meeting</button>
                  </form>
                  <div class="actions">
                    <button class="secondary" @click=${() => void this.toggleShare()}>${m.sharing ? 'Stop sharing' : 'Share screen'}</button>
                    <button @click=${() => m.session.terminate()}>Leave</button>
                  </div>`
              : ''}
          </div>`
        : ''}
    </section>`;
  }

  private renderHistory() {
    if (this.history.length === 0) return '';
    return html`<section aria-labelledby="history">
      <h1 id="history">Call history</h1>
      <table>
        <thead><tr><th>When</th><th>Who</th><th>Outcome</th><th>Length</th><th>Recorded</th></tr></thead>
        <tbody>
          ${this.history.map(
            (h) => html`<tr>
              <td>${when(h.at)}</td>
              <td>${h.direction === 'in' ? 'From' : 'To'} ${h.peer}</td>
              <td>${h.outcome}</td>
              <td>${h.seconds ? `${Math.floor(h.seconds / 60)}:${String(h.seconds % 60).padStart(2, '0')}` : ''}</td>
              <td>${h.recorded ? 'yes' : ''}</td>
            </tr>`,
          )}
        </tbody>
      </table>
    </section>`;
  }

  private renderChat() {
    return html`<h1>Chat</h1>
      <div role="log" aria-live="polite" aria-label="Conversation">
        <ol class="chat">
          ${this.lines.map((l) => this.renderLine(l))}
        </ol>
      </div>
      <form @submit=${this.send}>
        <label>To <input name="to" autocomplete="off" placeholder="bob@example.com" required /></label>
        <label>Message <textarea name="text" rows="3" maxlength="16000" required></textarea></label>
        <button type="submit">Send</button>
      </form>`;
  }
}
customElements.define('vb-client', VbClient);
