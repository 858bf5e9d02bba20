// Four-eyes requests (GET /api/v1/approvals): those one may decide and one's own. Approving or
// rejecting is sensitive: the server asks for the password again when it was given long ago.
import { LitElement, html, nothing } from 'lit';
import { api, ApiError } from './api';
import { shared, when } from './styles';

interface Approval {
  id: number;
  action: Record<string, unknown> & { type: string };
  requestedBy: string;
  requestedAt: string;
  reason: string;
  status: string;
  decidedBy?: string;
  outcome?: string;
}

function what(a: Approval): string {
  const x = a.action;
  switch (x.type) {
    case 'release-case-hold':
      return `Release the legal hold of case ${x.case}`;
    case 'release-hold':
      return `Release hold ${x.case} of recording ${x.recording}`;
    case 'grant-role':
      return `Create account ${x.name} with the role ${x.role}`;
    default:
      return `${x.type} ${x.cmdlet ?? ''}`;
  }
}

export class VbApprovals extends LitElement {
  static properties = { account: {}, items: { state: true }, error: { state: true } };
  account = '';
  items: Approval[] | null = null;
  error = '';
  static styles = [shared];

  connectedCallback(): void {
    super.connectedCallback();
    this.load();
  }

  private async load(): Promise<void> {
    try {
      this.items = (await api<{ approvals: Approval[] }>('GET', '/api/v1/approvals')).approvals;
    } catch (e) {
      this.error = e instanceof ApiError ? e.message : String(e);
    }
  }

  private async decide(a: Approval, verb: 'approve' | 'reject'): Promise<void> {
    try {
      await api('POST', `/api/v1/approvals/${a.id}/${verb}`);
      this.error = '';
    } catch (e) {
      this.error = e instanceof ApiError ? e.message : String(e);
    }
    await this.load();
  }

  render() {
    return html`<h1>Approvals</h1>
      <p class="muted">Requests that need a second person. You cannot approve your own.</p>
      ${this.error ? html`<p class="error" role="alert">${this.error}</p>` : nothing}
      ${this.items == null
        ? html`<p>Loading…</p>`
        : html`<table>
            <thead><tr><th scope="col">Request</th><th scope="col">Asked by</th><th scope="col">Reason</th>
              <th scope="col">Status</th><th scope="col">Decision</th></tr></thead>
            <tbody>
              ${this.items.map(
                (a) => html`<tr>
                  <td>${what(a)}</td>
                  <td>${a.requestedBy}, ${when(a.requestedAt)}</td>
                  <td>${a.reason}</td>
                  <td>${a.status}${a.decidedBy ? ` by ${a.decidedBy}` : ''}</td>
                  <td>
                    ${a.status === 'pending' && a.requestedBy !== `api:${this.account}`
                      ? html`<button @click=${() => this.decide(a, 'approve')} aria-label="Approve request ${a.id}">Approve</button>
                          <button class="secondary" @click=${() => this.decide(a, 'reject')} aria-label="Reject request ${a.id}">Reject</button>`
                      : nothing}
                  </td>
                </tr>`,
              )}
            </tbody>
          </table>`}`;
  }
}
customElements.define('vb-approvals', VbApprovals);
