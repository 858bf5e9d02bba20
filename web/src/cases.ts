// Cases (GET/POST/PATCH /api/v1/cases...): the list of cases one may see, a new case (from a
// search's query, or empty, with an access list), and one case: its recordings, legal hold and
// the request to release it (a second officer approves on the Approvals page), export jobs with
// their progress and package, and its history, every step with who and when.
import { LitElement, html, css, nothing } from 'lit';
import { api, ApiError, download } from './api';
import { shared, when } from './styles';

interface CaseSummary {
  name: string;
  description: string;
  owner: string;
  held: boolean;
  created: string;
  query: Record<string, string>;
  members: string[];
  access: string[];
}
interface CaseRecording {
  id: string;
  status: string;
  started: string;
  participants: string[];
  member: boolean;
  legalHolds: string[];
}
interface ExportJob {
  id: number;
  state: string;
  done: number;
  total: number;
  error: string;
  requestedBy: string;
  requestedAt: string;
}
interface CaseView extends CaseSummary {
  recordings: CaseRecording[];
  history: { seq: number; at: string; actor: string; action: string; detail: Record<string, unknown> }[];
  exports: ExportJob[];
}

const message = (e: unknown) => (e instanceof ApiError ? e.message : String(e));
const list = (v: string) =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

export class VbCases extends LitElement {
  static properties = { params: { attribute: false }, cases: { state: true }, error: { state: true } };
  params = new URLSearchParams();
  cases: CaseSummary[] | null = null;
  error = '';
  static styles = [shared, css`form { margin: 1rem 0; }`];

  connectedCallback(): void {
    super.connectedCallback();
    api<{ cases: CaseSummary[] }>('GET', '/api/v1/cases')
      .then((r) => (this.cases = r.cases))
      .catch((e) => (this.error = message(e)));
  }

  private async create(e: Event): Promise<void> {
    e.preventDefault();
    const f = new FormData(e.target as HTMLFormElement);
    const query: Record<string, string> = {};
    this.params.forEach((v, k) => {
      if (k !== 'new' && v) query[k] = v;
    });
    const name = String(f.get('name') ?? '').trim();
    try {
      await api('POST', '/api/v1/cases', {
        name,
        description: f.get('description'),
        query,
        access: list(String(f.get('access') ?? '')),
      });
      location.hash = `#/cases/${encodeURIComponent(name)}`;
    } catch (err) {
      this.error = message(err);
    }
  }

  render() {
    const query = [...this.params].filter(([k]) => k !== 'new');
    return html`<h1>Cases</h1>
      ${this.error ? html`<p class="error" role="alert">${this.error}</p>` : nothing}
      <form class="row" @submit=${this.create} aria-label="New case">
        <label>Case name <input name="name" required pattern="[A-Za-z0-9][A-Za-z0-9._\\-]{0,63}" /></label>
        <label>Description <input name="description" /></label>
        <label>Access (accounts, comma-separated) <input name="access" /></label>
        <button type="submit">Create case</button>
        ${query.length
          ? html`<span class="muted">with the query ${query.map(([k, v]) => `${k}=${v}`).join(', ')}</span>`
          : nothing}
      </form>
      ${this.cases == null
        ? html`<p>Loading…</p>`
        : html`<table>
            <thead>
              <tr><th scope="col">Case</th><th scope="col">Description</th><th scope="col">Owner</th>
                <th scope="col">Hold</th><th scope="col">Created</th></tr>
            </thead>
            <tbody>
              ${this.cases.map(
                (c) => html`<tr>
                  <td><a href="#/cases/${encodeURIComponent(c.name)}">${c.name}</a></td>
                  <td>${c.description}</td>
                  <td>${c.owner}</td>
                  <td>${c.held ? 'held' : ''}</td>
                  <td>${when(c.created)}</td>
                </tr>`,
              )}
            </tbody>
          </table>`}`;
  }
}
customElements.define('vb-cases', VbCases);

export class VbCase extends LitElement {
  static properties = { name: {}, view: { state: true }, error: { state: true }, note: { state: true } };
  name = '';
  view: CaseView | null = null;
  error = '';
  note = '';
  private polling = 0;
  static styles = [
    shared,
    css`
      progress { width: 12rem; }
      .actions { margin: 0.8rem 0; }
    `,
  ];

  willUpdate(changed: Map<string, unknown>): void {
    if (changed.has('name')) this.load();
  }

  disconnectedCallback(): void {
    super.disconnectedCallback();
    clearTimeout(this.polling);
  }

  private async load(): Promise<void> {
    try {
      this.view = await api<CaseView>('GET', `/api/v1/cases/${encodeURIComponent(this.name)}`);
      this.error = '';
      // While an export runs, look again.
      if (this.view.exports.some((j) => j.state === 'queued' || j.state === 'running')) {
        this.polling = window.setTimeout(() => this.load(), 500);
      }
    } catch (e) {
      this.error = message(e);
    }
  }

  private async act(method: string, path: string, body?: unknown, note = ''): Promise<void> {
    try {
      await api(method, `/api/v1/cases/${encodeURIComponent(this.name)}${path}`, body);
      this.note = note;
      await this.load();
    } catch (e) {
      this.error = message(e);
    }
  }

  private release(e: Event): void {
    e.preventDefault();
    const reason = String(new FormData(e.target as HTMLFormElement).get('reason') ?? '');
    this.act('DELETE', '/hold', { reason }, 'Release requested: another officer who sees this case approves it.');
  }

  private addMember(e: Event): void {
    e.preventDefault();
    const id = String(new FormData(e.target as HTMLFormElement).get('recording') ?? '').trim();
    if (id) this.act('PATCH', '', { addMembers: [id] });
  }

  private async save(job: ExportJob): Promise<void> {
    try {
      await download('GET', `/api/v1/cases/${encodeURIComponent(this.name)}/exports/${job.id}/package`,
        `case-${this.name}-${job.id}.tar`);
    } catch (e) {
      this.error = message(e);
    }
  }

  render() {
    const v = this.view;
    if (!v) {
      return this.error
        ? html`<h1>Case</h1><p class="error" role="alert">${this.error}</p><p><a href="#/cases">All cases</a></p>`
        : html`<p>Loading…</p>`;
    }
    const query = Object.entries(v.query);
    return html`<h1>Case ${v.name}</h1>
      <p>${v.description}</p>
      <p class="muted">
        Owner ${v.owner}; access: ${v.access.join(', ') || 'the owner only'};
        query: ${query.length ? query.map(([k, x]) => `${k}=${x}`).join(', ') : 'none'}.
        <strong>${v.held ? 'Under legal hold.' : 'Not held.'}</strong>
      </p>
      ${this.error ? html`<p class="error" role="alert">${this.error}</p>` : nothing}
      ${this.note ? html`<p role="status">${this.note}</p>` : nothing}
      <div class="actions row">
        ${v.held
          ? html`<form class="row" @submit=${this.release}>
              <label>Reason for release <input name="reason" required /></label>
              <button type="submit">Request release</button>
            </form>`
          : html`<button @click=${() => this.act('POST', '/hold', undefined, 'Held.')}>Place legal hold</button>`}
        <button @click=${() => this.act('POST', '/exports', undefined, 'Export started.')}>Export package</button>
        <form class="row" @submit=${this.addMember}>
          <label>Add recording (id) <input name="recording" /></label>
          <button type="submit" class="secondary">Add</button>
        </form>
      </div>
      <h2>Recordings (${v.recordings.length})</h2>
      <table>
        <thead><tr><th scope="col">Started</th><th scope="col">Participants</th><th scope="col">Status</th>
          <th scope="col">Holds</th><th scope="col">How</th></tr></thead>
        <tbody>
          ${v.recordings.map(
            (r) => html`<tr>
              <td><a href="#/recordings/${r.id}">${when(r.started)}</a></td>
              <td>${r.participants.join(', ')}</td>
              <td>${r.status}</td>
              <td>${r.legalHolds.join(', ')}</td>
              <td>${r.member ? 'added' : 'query'}</td>
            </tr>`,
          )}
        </tbody>
      </table>
      <h2>Exports</h2>
      ${v.exports.length
        ? html`<ul>
            ${v.exports.map(
              (j) => html`<li>
                Export ${j.id} by ${j.requestedBy}: ${j.state}
                <progress max=${j.total || 1} value=${j.done} aria-label="Export ${j.id} progress"></progress>
                ${j.done} of ${j.total}
                ${j.state === 'done' ? html`<button class="secondary" @click=${() => this.save(j)}>Download package ${j.id}</button>` : nothing}
                ${j.error ? html`<span class="error">${j.error}</span>` : nothing}
              </li>`,
            )}
          </ul>`
        : html`<p class="muted">None yet.</p>`}
      <h2>History</h2>
      <table>
        <thead><tr><th scope="col">When</th><th scope="col">Who</th><th scope="col">What</th><th scope="col">Detail</th></tr></thead>
        <tbody>
          ${v.history.map(
            (h) => html`<tr><td>${when(h.at)}</td><td>${h.actor}</td><td>${h.action}</td>
              <td class="muted">${JSON.stringify(h.detail)}</td></tr>`,
          )}
        </tbody>
      </table>`;
  }
}
customElements.define('vb-case', VbCase);
