// The portal's shell: who is signed in, the navigation their rights allow, the page the
// address names (#/search, #/recordings/ID), and the password prompt for sensitive actions.
import { LitElement, html, css } from 'lit';
import { api, ApiError, onReauthNeeded, onSessionEnded, setSession, type Session } from './api';
import { shared } from './styles';
import './signin';
import './search';
import './player';
import './cases';
import './approvals';
import './admin';
import './live';
import './audit';

interface Route {
  page: string;
  arg: string;
  params: URLSearchParams;
}

function route(): Route {
  const h = location.hash.replace(/^#\/?/, '');
  const [path, q] = h.split('?', 2);
  const [page, ...rest] = path.split('/');
  return { page: page || '', arg: decodeURIComponent(rest.join('/')), params: new URLSearchParams(q ?? '') };
}

export class VbApp extends LitElement {
  static properties = {
    session: { state: true },
    loading: { state: true },
    current: { state: true },
    reauthOpen: { state: true },
    reauthError: { state: true },
  };
  session: Session | null = null;
  loading = true;
  current: Route = route();
  reauthOpen = false;
  reauthError = '';
  private reauthDone: ((ok: boolean) => void) | null = null;

  static styles = [
    shared,
    css`
      header {
        display: flex;
        align-items: center;
        gap: 1.2rem;
        padding: 0.5rem 1rem;
        background: #14213d;
        color: #fff;
      }
      header a {
        color: #fff;
        text-decoration: none;
        padding: 0.2rem 0.3rem;
      }
      header a[aria-current='page'] {
        border-bottom: 2px solid #fca311;
      }
      header .brand {
        font-weight: 700;
        letter-spacing: 0.04em;
      }
      header .who {
        margin-left: auto;
        font-size: 0.9rem;
      }
      header button {
        background: transparent;
        border-color: #fff;
      }
      main {
        padding: 1rem;
        max-width: 1200px;
        margin: 0 auto;
      }
      dialog {
        border: 1px solid #6b7280;
        border-radius: 6px;
        padding: 1rem 1.2rem;
      }
    `,
  ];

  connectedCallback(): void {
    super.connectedCallback();
    window.addEventListener('hashchange', () => (this.current = route()));
    onSessionEnded(() => this.signedIn(null));
    onReauthNeeded(
      () =>
        new Promise<boolean>((resolve) => {
          this.reauthDone = resolve;
          this.reauthError = '';
          this.reauthOpen = true;
        }),
    );
    api<Session>('GET', '/api/v1/session')
      .then((s) => this.signedIn(s))
      .catch(() => this.signedIn(null));
  }

  updated(): void {
    const d = this.renderRoot.querySelector('dialog');
    if (d && this.reauthOpen && !d.open) d.showModal();
    this.renderRoot.querySelector('main')?.setAttribute('aria-busy', String(this.loading));
  }

  private signedIn(s: Session | null): void {
    setSession(s);
    this.session = s;
    this.loading = false;
    if (s && !location.hash) {
      location.hash = this.may('recordings-read')
        ? '#/search'
        : this.mayMonitor()
        ? '#/live'
        : this.may('policy-read')
        ? '#/admin'
        : this.may('ledger-read')
        ? '#/audit'
        : '#/account';
    }
  }

  // Live monitoring: compliance officers and supervisors.
  private mayMonitor(): boolean {
    return this.may('recordings-read') || this.session?.account.role === 'supervisor';
  }

  private may(right: string): boolean {
    return !!this.session?.rights.includes(right);
  }

  private async signOut(): Promise<void> {
    try {
      await api('DELETE', '/api/v1/session');
    } finally {
      this.signedIn(null);
      location.hash = '';
    }
  }

  private async reauth(e: Event): Promise<void> {
    e.preventDefault();
    const form = e.target as HTMLFormElement;
    const password = (form.elements.namedItem('password') as HTMLInputElement).value;
    try {
      await api('POST', '/api/v1/session/reauth', { password });
      this.closeReauth(true);
    } catch (err) {
      this.reauthError = err instanceof ApiError ? err.message : String(err);
    }
  }

  private closeReauth(ok: boolean): void {
    this.renderRoot.querySelector('dialog')?.close();
    this.reauthOpen = false;
    this.reauthDone?.(ok);
    this.reauthDone = null;
  }

  private nav(page: string, label: string) {
    return html`<a href="#/${page}" aria-current=${this.current.page === page ? 'page' : 'false'}>${label}</a>`;
  }

  render() {
    if (this.loading) return html`<main><p>Loading…</p></main>`;
    if (!this.session) {
      return html`<header><span class="brand">VERBATIM</span></header>
        <main><vb-signin @signed-in=${(e: CustomEvent<Session>) => this.signedIn(e.detail)}></vb-signin></main>`;
    }
    const s = this.session;
    return html`
      <header>
        <span class="brand">VERBATIM</span>
        <nav aria-label="Main">
          ${this.may('recordings-read') ? [this.nav('search', 'Search'), this.nav('cases', 'Cases')] : ''}
          ${this.mayMonitor() ? this.nav('live', 'Live') : ''}
          ${this.may('policy-read') ? this.nav('admin', 'Administration') : ''}
          ${this.may('ledger-read') || this.may('audit-read') ? this.nav('audit', 'Audit') : ''}
          ${this.may('recordings-hold') || this.may('accounts-manage') || this.may('recorders-write')
            ? this.nav('approvals', 'Approvals')
            : ''}
        </nav>
        <span class="who"
          >${s.account.name} · ${s.account.role}${s.cosigner ? html` · co-signed by ${s.cosigner}` : ''}</span
        >
        <button @click=${this.signOut}>Sign out</button>
      </header>
      <main>${this.page()}</main>
      ${this.reauthOpen
        ? html`<dialog aria-labelledby="reauth-title" @cancel=${() => this.closeReauth(false)}>
            <form @submit=${this.reauth}>
              <h2 id="reauth-title">Confirm it is you</h2>
              <p>This action needs your password again.</p>
              <label>Password <input name="password" type="password" autocomplete="current-password" required autofocus /></label>
              ${this.reauthError ? html`<p class="error" role="alert">${this.reauthError}</p>` : ''}
              <p class="row">
                <button type="submit">Confirm</button>
                <button type="button" class="secondary" @click=${() => this.closeReauth(false)}>Cancel</button>
              </p>
            </form>
          </dialog>`
        : ''}
    `;
  }

  private page() {
    const r = this.current;
    if (r.page === 'search' && this.may('recordings-read')) {
      return html`<vb-search .params=${r.params}></vb-search>`;
    }
    if (r.page === 'recordings' && r.arg && this.may('recordings-read')) {
      return html`<vb-player .recording=${r.arg} .reasonRequired=${this.session!.playbackReasonRequired}
        .mayRedact=${this.may('recordings-hold')}></vb-player>`;
    }
    if (r.page === 'cases' && this.may('recordings-read')) {
      return r.arg ? html`<vb-case .name=${r.arg}></vb-case>` : html`<vb-cases .params=${r.params}></vb-cases>`;
    }
    if (r.page === 'live' && this.mayMonitor()) return html`<vb-live></vb-live>`;
    if (r.page === 'audit' && (this.may('ledger-read') || this.may('audit-read'))) {
      return html`<vb-audit .rights=${this.session!.rights}></vb-audit>`;
    }
    if (r.page === 'admin' && this.may('policy-read')) {
      return html`<vb-admin .rights=${this.session!.rights}></vb-admin>`;
    }
    if (r.page === 'approvals') return html`<vb-approvals .account=${this.session!.account.name}></vb-approvals>`;
    const s = this.session!;
    return html`<h1>Your account</h1>
      <p>Signed in as <strong>${s.account.name}</strong> with the role <strong>${s.account.role}</strong>.</p>
      <p>Your role may: ${s.rights.join(', ') || 'nothing yet'}.</p>`;
  }
}
customElements.define('vb-app', VbApp);
