// The web client (issue 20): a user of the directory signs in with their SIP address and password
// and is then one more phone of theirs: chat with other users now; calls and meetings come with
// the gateway's WebRTC media. Keyboard accessible; what changes is announced (aria-live).
import { LitElement, html, css } from 'lit';
import { shared, when } from '../styles';
import { SipClient, type ChatLine, type ClientSettings } from './sip';

export class VbClient extends LitElement {
  static properties = {
    settings: { state: true },
    state: { state: true },
    problem: { state: true },
    lines: { state: true },
  };
  settings: ClientSettings | null = null;
  state: 'signed-out' | 'signing-in' | 'signed-in' = 'signed-out';
  problem = '';
  lines: ChatLine[] = [];
  private sip: SipClient | null = null;

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
    });
  }

  private signOut(): void {
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
        ${signedIn ? this.renderChat() : this.renderSignIn()}
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
