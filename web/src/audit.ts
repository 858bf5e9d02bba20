// The auditor's page: whether the archive verifies (the verifier's passes and findings, the
// ledger's signed head and public key), the ledger's entries (who read, listened to, redacted,
// noted, held or exported which recording: filtered by type and recording, newest first, page by
// page), and for roles that read the audit logs, the latest policy changes and security events.
// Everything is read-only.
import { LitElement, html, css, nothing } from 'lit';
import { api, ApiError } from './api';
import { auditTable } from './admin';
import { shared, when } from './styles';

type Obj = Record<string, unknown>;
interface Finding {
  where?: string;
  what?: string;
}

const TYPES = [
  ['', 'every entry'],
  ['access.', 'access (reads, listens, searches, reasons, notes, redactions, denials)'],
  ['recording.', 'recordings (created, completed, metadata)'],
  ['object.', 'objects sealed'],
  ['hold.', 'legal holds'],
  ['case.', 'cases'],
  ['retention.', 'retention'],
  ['dispos', 'disposals'],
  ['key.', 'keys'],
];

export class VbAudit extends LitElement {
  static properties = {
    rights: { attribute: false },
    error: { state: true },
    status: { state: true },
    head: { state: true },
    entries: { state: true },
    next: { state: true },
    audit: { state: true },
    security: { state: true },
  };
  rights: string[] = [];
  error = '';
  status: Obj | null = null;
  head: Obj | null = null;
  entries: Obj[] = [];
  next: number | null = null;
  audit: Obj[] = [];
  security: Obj[] = [];
  private filter = { type: 'access.', recording: '' };

  static styles = [
    shared,
    css`
      td code {
        overflow-wrap: anywhere;
      }
      .ok {
        color: #1b5e20;
        font-weight: 600;
      }
      .bad {
        color: #a50e0e;
        font-weight: 600;
      }
    `,
  ];

  connectedCallback(): void {
    super.connectedCallback();
    void this.load();
  }

  private async load(): Promise<void> {
    try {
      const ledger = this.rights.includes('ledger-read');
      const audit = this.rights.includes('audit-read');
      [this.status, this.head, this.audit, this.security] = await Promise.all([
        ledger ? api<Obj>('GET', '/api/v1/status') : Promise.resolve(null),
        ledger ? api<Obj>('GET', '/api/v1/ledger/head') : Promise.resolve(null),
        audit ? api<{ objects: Obj[] }>('GET', '/api/v1/audit?Last=20').then((r) => r.objects) : Promise.resolve([]),
        audit
          ? api<{ events: Obj[] }>('GET', '/api/v1/security-log').then((r) => r.events.slice(-20).reverse())
          : Promise.resolve([]),
      ]);
      if (ledger) await this.entriesPage(false);
    } catch (e) {
      this.error = e instanceof ApiError ? e.message : String(e);
    }
  }

  private async entriesPage(more: boolean): Promise<void> {
    const q = new URLSearchParams({ limit: '50' });
    if (this.filter.type) q.set('type', this.filter.type);
    if (this.filter.recording) q.set('recording', this.filter.recording);
    if (more && this.next != null) q.set('before', String(this.next));
    try {
      const page = await api<{ entries: Obj[]; next?: number }>('GET', `/api/v1/ledger/entries?${q}`);
      this.entries = more ? [...this.entries, ...page.entries] : page.entries;
      this.next = page.next ?? null;
    } catch (e) {
      this.error = e instanceof ApiError ? e.message : String(e);
    }
  }

  private search(e: Event): void {
    e.preventDefault();
    const f = new FormData(e.target as HTMLFormElement);
    this.filter = { type: String(f.get('type') ?? ''), recording: String(f.get('recording') ?? '').trim() };
    void this.entriesPage(false);
  }

  private verification() {
    const v = ((this.status?.verification as Obj | undefined)?.status ?? null) as Obj | null;
    if (!v) return html`<p class="muted">The archive verifier has not reported here (serve --roles archive-verify).</p>`;
    const findings = [...((v.findings as Finding[]) ?? []), ...((v.lastPassFindings as Finding[]) ?? [])];
    return html`<p role="status">
        ${findings.length
          ? html`<span class="bad">${findings.length} finding${findings.length === 1 ? '' : 's'}</span>`
          : html`<span class="ok">Verifies</span>`}:
        ${v.passesCompleted ?? 0} full passes, the last finished ${when(v.lastPassFinished as string) || 'not yet'}.
      </p>
      ${findings.length
        ? html`<ul>${findings.slice(0, 50).map((f) => html`<li><code>${f.where}</code>: ${f.what}</li>`)}</ul>`
        : nothing}`;
  }

  private detail(e: Obj): string {
    const skip = new Set(['seq', 'type', 'by', 'at', 'time', 'prev', 'hash', 'recording', 'target']);
    return Object.entries(e)
      .filter(([k]) => !skip.has(k))
      .map(([k, v]) => `${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`)
      .join('; ');
  }

  render() {
    const ledger = this.rights.includes('ledger-read');
    return html`<h1>Audit</h1>
      ${this.error ? html`<p class="error" role="alert">${this.error}</p>` : nothing}
      ${ledger
        ? html`<section aria-labelledby="verify-h">
              <h2 id="verify-h">Archive verification</h2>
              ${this.verification()}
              ${this.head
                ? html`<dl>
                    <dt>Ledger entries</dt>
                    <dd>${this.head.size}</dd>
                    <dt>Latest signed head</dt>
                    <dd><code>${this.head.head || 'none yet'}</code></dd>
                    <dt>Signing public key</dt>
                    <dd><code>${this.head.publicKey}</code></dd>
                  </dl>`
                : nothing}
            </section>
            <section aria-labelledby="ledger-h">
              <h2 id="ledger-h">Ledger</h2>
              <form class="row" @submit=${this.search} aria-label="Filter the ledger">
                <label
                  >Entries
                  <select name="type">
                    ${TYPES.map(([v, label]) => html`<option value=${v} ?selected=${v === this.filter.type}>${label}</option>`)}
                  </select></label
                >
                <label>Recording <input name="recording" size="34" .value=${this.filter.recording} /></label>
                <button type="submit">Show</button>
              </form>
              <table>
                <thead>
                  <tr><th scope="col">#</th><th scope="col">When</th><th scope="col">Entry</th><th scope="col">By</th>
                    <th scope="col">Recording</th><th scope="col">Detail</th></tr>
                </thead>
                <tbody>
                  ${this.entries.map(
                    (e) => html`<tr>
                      <td>${e.seq}</td>
                      <td>${when((e.at ?? e.time) as string)}</td>
                      <td>${e.type}</td>
                      <td>${e.by ?? ''}</td>
                      <td>${e.recording || e.target
                        ? html`<code>${String(e.recording ?? e.target).slice(0, 12)}…</code>`
                        : ''}</td>
                      <td>${this.detail(e)}</td>
                    </tr>`,
                  )}
                </tbody>
              </table>
              ${this.entries.length ? nothing : html`<p class="muted">No entry of that kind.</p>`}
              ${this.next != null
                ? html`<p><button class="secondary" @click=${() => this.entriesPage(true)}>Older entries</button></p>`
                : nothing}
            </section>`
        : nothing}
      ${this.audit.length
        ? html`<section aria-labelledby="audit-h">
            <h2 id="audit-h">Policy changes (audit log, latest)</h2>
            ${auditTable(this.audit)}
          </section>`
        : nothing}
      ${this.security.length
        ? html`<section aria-labelledby="security-h">
            <h2 id="security-h">Security events (latest)</h2>
            <table>
              <thead><tr><th scope="col">#</th><th scope="col">When</th><th scope="col">Who</th><th scope="col">Event</th></tr></thead>
              <tbody>
                ${this.security.map(
                  (s) => html`<tr><td>${s.seq}</td><td>${when(s.at as string)}</td><td>${s.actor}</td><td>${s.action}</td></tr>`,
                )}
              </tbody>
            </table>
          </section>`
        : nothing}`;
  }
}
customElements.define('vb-audit', VbAudit);
