// The admin pages: policy changes as the cmdlets (the same interpreter and audit log as `verbatim
// admin`), previewed first (POST /api/v1/script/preview: whom the change would start or stop
// recording, nothing committed) and then applied (POST /api/v1/script, atomically); "why is X
// recorded" (GET /api/v1/explain); the recorder endpoints with the gateway's health checks; the
// roles' health and totals (GET /api/v1/status) with the missed-recording ratio and its trend over
// the last 30 days (GET /api/v1/missed-recordings/trend); quality and reliability per recorder
// application and per site, and usage per day, over the last 7 days (GET /api/v1/quality); and the
// audit log.
import { LitElement, html, css, nothing, svg } from 'lit';
import { api, ApiError } from './api';
import { shared, when } from './styles';

interface Change {
  user: string;
  recordedBefore: boolean;
  recordedAfter: boolean;
  policyBefore: string;
  policyAfter: string;
}
interface ScriptResult {
  output: string;
  changes?: Change[];
  usersCompared?: number;
  error?: { message: string; text?: string };
}
interface RoleStatus {
  status: Record<string, unknown> | null;
  ageSeconds: number | null;
}
type Obj = Record<string, unknown>;
interface TrendDay {
  day: string;
  expected: number;
  missed: number;
  recordedPercent: number | null;
}
interface QualityRow {
  application?: string;
  name?: string;
  region?: string;
  recordings: number;
  complete: number;
  partial: number;
  interrupted: number;
  completePercent: number | null;
  streams: number;
  packets: number;
  lossPercent: number | null;
  mos: { average: number; lowest: number } | null;
  poorStreams: number;
  jitterMs: number | null;
}
interface Quality {
  days: number;
  usage: { day: string; recordings: number; minutes: number }[];
  recordings: number;
  poorMos: number;
  byRecorder: QualityRow[];
  bySite: QualityRow[];
}
interface Trend {
  days: TrendDay[];
  expected: number;
  missed: number;
  recordedPercent: number | null;
  targetPercent: number;
}

const message = (e: unknown) => (e instanceof ApiError ? e.message : String(e));
const policyName = (p: string) => p || '(none)';

export class VbAdmin extends LitElement {
  static properties = {
    rights: { attribute: false },
    result: { state: true },
    applied: { state: true },
    explained: { state: true },
    endpoints: { state: true },
    status: { state: true },
    audit: { state: true },
    trend: { state: true },
    quality: { state: true },
    error: { state: true },
  };
  trend: Trend | null = null;
  quality: Quality | null = null;
  rights: string[] = [];
  result: ScriptResult | null = null;
  applied = false;
  explained: Obj | null = null;
  endpoints: Obj[] = [];
  status: Record<string, RoleStatus> | null = null;
  audit: Obj[] = [];
  error = '';
  static styles = [
    shared,
    css`
      textarea {
        width: 100%;
        font-family: ui-monospace, 'DejaVu Sans Mono', monospace;
      }
      pre {
        background: #f4f5f7;
        padding: 0.5rem;
        overflow: auto;
        max-height: 16rem;
      }
      section {
        margin-bottom: 1.5rem;
      }
      .up {
        color: #1d6b2f;
      }
      .down {
        color: #a11a1a;
        font-weight: 600;
      }
    `,
  ];

  connectedCallback(): void {
    super.connectedCallback();
    this.refresh();
  }

  private async refresh(): Promise<void> {
    try {
      const [e, s, a] = await Promise.all([
        api<{ objects: Obj[] }>('GET', '/api/v1/recorder-endpoints'),
        api<Record<string, RoleStatus>>('GET', '/api/v1/status'),
        this.rights.includes('audit-read')
          ? api<{ objects: Obj[] }>('GET', '/api/v1/audit?Last=15')
          : Promise.resolve({ objects: [] }),
      ]);
      this.endpoints = e.objects;
      this.status = s;
      this.audit = a.objects;
    } catch (err) {
      this.error = message(err);
    }
    // Only for accounts that read calls or recordings without a scope; others go without.
    try {
      this.trend = await api<Trend>('GET', '/api/v1/missed-recordings/trend?days=30');
    } catch {
      this.trend = null;
    }
    try {
      this.quality = await api<Quality>('GET', '/api/v1/quality?days=7');
    } catch {
      this.quality = null;
    }
  }

  private qualityTable(caption: string, rows: QualityRow[], key: (r: QualityRow) => string) {
    const fixed = (v: number | null | undefined, digits: number, unit = '') => (v == null ? '—' : `${v.toFixed(digits)}${unit}`);
    return html`<table>
      <caption class="muted">${caption}</caption>
      <thead><tr>
        <th scope="col">${caption.startsWith('Per recorder') ? 'Recorder' : 'Site'}</th><th scope="col">Recordings</th>
        <th scope="col">Complete</th><th scope="col">Partial / interrupted</th><th scope="col">Packet loss</th>
        <th scope="col">MOS (average, lowest)</th><th scope="col">Poor streams</th><th scope="col">Jitter</th>
      </tr></thead>
      <tbody>
        ${rows.map((r) => html`<tr>
          <td>${key(r)}</td><td>${r.recordings}</td><td>${fixed(r.completePercent, 1, ' %')}</td>
          <td class=${r.partial + r.interrupted ? 'down' : ''}>${r.partial} / ${r.interrupted}</td>
          <td>${fixed(r.lossPercent, 2, ' %')}</td>
          <td>${r.mos ? `${r.mos.average.toFixed(2)}, ${r.mos.lowest.toFixed(2)}` : '—'}</td>
          <td class=${r.poorStreams ? 'down' : ''}>${r.poorStreams} of ${r.streams}</td>
          <td>${fixed(r.jitterMs, 1, ' ms')}</td>
        </tr>`)}
      </tbody>
    </table>`;
  }

  private qualityViews() {
    const q = this.quality;
    if (!q) return nothing;
    return html`<section aria-labelledby="quality-h">
      <h2 id="quality-h">Usage, quality and reliability</h2>
      <p class="muted">The ${q.recordings} recordings that ended in the last ${q.days} days: how they ended, and what the recorder received
        on their streams (MOS estimated from codec, loss and jitter; poor below ${q.poorMos}).</p>
      ${q.recordings
        ? html`${this.qualityTable('Per recorder application', q.byRecorder, (r) => r.name || r.application || '(unknown)')}
            ${this.qualityTable('Per site (the recorded users\' region)', q.bySite, (r) => r.region || '(none)')}`
        : html`<p>No recording ended in that time.</p>`}
      <table>
        <caption class="muted">Usage per day</caption>
        <thead><tr><th scope="col">Day</th><th scope="col">Recordings</th><th scope="col">Minutes recorded</th></tr></thead>
        <tbody>
          ${q.usage.map((d) => html`<tr><td>${d.day}</td><td>${d.recordings}</td><td>${d.minutes.toFixed(1)}</td></tr>`)}
        </tbody>
      </table>
    </section>`;
  }

  // Recorded as expected per day, as bars against the 100 % target (the axis from 90 %: below it a
  // bar is drawn at the bottom, in red); the figures in a table beside for screen readers.
  private trendChart() {
    const t = this.trend;
    if (!t) return nothing;
    const w = 600, h = 120, floor = 90;
    const bw = w / t.days.length;
    const y = (p: number) => h - ((Math.max(p, floor) - floor) / (100 - floor)) * h;
    const summary = t.recordedPercent == null
      ? 'No recorded call was checked in the last 30 days.'
      : `${t.recordedPercent.toFixed(2)} % recorded as expected in the last 30 days (${t.expected - t.missed} of ${t.expected}; target ${t.targetPercent} %).`;
    return html`<figure>
      <svg viewBox="0 0 ${w} ${h + 16}" width=${w} style="max-width: 100%; height: auto" role="img" aria-label=${summary}>
        <line x1="0" x2=${w} y1=${y(100)} y2=${y(100)} stroke="#1d6b2f" stroke-dasharray="4 3"></line>
        ${t.days.map((d, i) => {
          if (d.recordedPercent == null) return nothing;
          const bad = d.missed > 0;
          return svg`<rect x=${i * bw + 1} y=${y(d.recordedPercent)} width=${bw - 2}
            height=${Math.max(2, h - y(d.recordedPercent))} fill=${bad ? '#a11a1a' : '#0b5394'}>
            <title>${d.day}: ${d.recordedPercent.toFixed(2)} % (${d.missed} missed of ${d.expected})</title></rect>`;
        })}
        <text x="0" y=${h + 14} font-size="11">${t.days[0]?.day}</text>
        <text x=${w} y=${h + 14} font-size="11" text-anchor="end">${t.days[t.days.length - 1]?.day}</text>
      </svg>
      <figcaption>${summary} Each bar is a day: blue when nothing was missed, red when something was (the axis starts at ${floor} %).</figcaption>
    </figure>
    <details>
      <summary>The figures per day</summary>
      <table>
        <thead><tr><th scope="col">Day</th><th scope="col">Expected</th><th scope="col">Missed</th><th scope="col">Recorded as expected</th></tr></thead>
        <tbody>
          ${t.days.filter((d) => d.expected > 0).map((d) => html`<tr><td>${d.day}</td><td>${d.expected}</td><td>${d.missed}</td>
            <td>${d.recordedPercent?.toFixed(2)} %</td></tr>`)}
        </tbody>
      </table>
    </details>`;
  }

  private script(): string {
    return (this.renderRoot.querySelector('textarea') as HTMLTextAreaElement).value;
  }

  private async run(preview: boolean): Promise<void> {
    this.error = '';
    try {
      this.result = await api<ScriptResult>('POST', preview ? '/api/v1/script/preview' : '/api/v1/script', {
        script: this.script(),
      });
      this.applied = !preview;
      if (!preview) this.refresh();
    } catch (err) {
      this.result = null;
      this.error = message(err);
    }
  }

  private async explain(e: Event): Promise<void> {
    e.preventDefault();
    const user = String(new FormData(e.target as HTMLFormElement).get('user') ?? '').trim();
    try {
      this.explained = await api<Obj>('GET', `/api/v1/explain?user=${encodeURIComponent(user)}`);
      this.error = '';
    } catch (err) {
      this.explained = null;
      this.error = message(err);
    }
  }

  private changes() {
    const r = this.result;
    if (!r) return nothing;
    return html`
      ${r.error ? html`<p class="error" role="alert">${r.error.message}</p>` : nothing}
      ${r.changes
        ? html`<p role="status">
              ${this.applied ? 'Applied.' : 'Preview, nothing changed:'} ${r.changes.length} of ${r.usersCompared}
              users would change.
            </p>
            <table aria-label="Who the change would record">
              <thead><tr><th scope="col">User</th><th scope="col">Recorded now</th><th scope="col">Recorded after</th>
                <th scope="col">Policy now</th><th scope="col">Policy after</th></tr></thead>
              <tbody>
                ${r.changes.map(
                  (c) => html`<tr><td>${c.user}</td><td>${c.recordedBefore ? 'yes' : 'no'}</td>
                    <td><strong>${c.recordedAfter ? 'yes' : 'no'}</strong></td>
                    <td>${policyName(c.policyBefore)}</td><td>${policyName(c.policyAfter)}</td></tr>`,
                )}
              </tbody>
            </table>`
        : html`<p role="status">Applied.</p>`}
      ${r.output ? html`<pre>${r.output}</pre>` : nothing}`;
  }

  private health() {
    const s = this.status;
    if (!s) return html`<p>Loading…</p>`;
    const role = (name: string, r: RoleStatus) => {
      const fresh = r.ageSeconds != null && r.ageSeconds < 30;
      return html`<li>
        ${name}:
        ${r.status == null
          ? html`<span class="muted">not running here</span>`
          : html`<span class=${fresh ? 'up' : 'down'}>${fresh ? 'running' : 'stopped or stalled'}</span>
              <span class="muted">(status ${Math.round(r.ageSeconds ?? 0)} s old)</span>`}
      </li>`;
    };
    const totals = ((s.gateway?.status as Obj | null)?.totals ?? {}) as Record<string, number>;
    const reconciled = totals.callsReconciled ?? 0;
    const missed = totals.missedRecordings ?? 0;
    const verify = (s.verification?.status ?? {}) as Obj;
    return html`<ul>
        ${role('Gateway', s.gateway)} ${role('Recorder', s.recorder)}
      </ul>
      <p>
        Recorded as expected: <strong>${reconciled ? (((reconciled - missed) / reconciled) * 100).toFixed(2) : '—'} %</strong>
        of ${reconciled} recorded calls checked (target 100 %); ${missed} missed.
        <a href="#/search?status=missed">The missed recordings</a>
      </p>
      <p>
        Archive verification: ${verify.passesCompleted ?? 0} passes,
        ${((verify.findings as unknown[]) ?? []).length + ((verify.lastPassFindings as unknown[]) ?? []).length} findings,
        last pass ${when(verify.lastPassFinished as string) || 'not yet'}.
      </p>`;
  }

  render() {
    const health = ((this.status?.gateway?.status as Obj | null)?.recorderEndpoints ?? {}) as Record<string, { up: boolean }>;
    const write = this.rights.includes('policy-write');
    return html`<h1>Administration</h1>
      ${this.error ? html`<p class="error" role="alert">${this.error}</p>` : nothing}
      ${write
        ? html`<section aria-labelledby="policy-h">
            <h2 id="policy-h">Change policy</h2>
            <label style="display: block">Cmdlets (as in <code>verbatim admin</code>; applied all or nothing, audited)
              <textarea rows="5" spellcheck="false"></textarea></label>
            <p class="row">
              <button @click=${() => this.run(true)}>Preview</button>
              <button class="secondary" @click=${() => this.run(false)}>Apply</button>
            </p>
            ${this.changes()}
          </section>`
        : nothing}
      <section aria-labelledby="explain-h">
        <h2 id="explain-h">Why is a user recorded?</h2>
        <form class="row" @submit=${this.explain}>
          <label>User (address, number or name) <input name="user" required /></label>
          <button type="submit">Explain</button>
        </form>
        ${this.explained
          ? html`<p role="status"><strong>${this.explained.recorded ? 'Recorded' : 'Not recorded'}</strong>:
                ${this.explained.reason}</p>
              <ul>
                ${((this.explained.assignments as Obj[]) ?? []).map(
                  (a) => html`<li>${a.effective ? html`<strong>effective</strong>` : 'overridden'}:
                    ${a.policyName} (${a.source}${a.groupName ? `, group ${a.groupName} rank ${a.rank}` : ''})</li>`,
                )}
              </ul>`
          : nothing}
      </section>
      <section aria-labelledby="rec-h">
        <h2 id="rec-h">Recorder endpoints</h2>
        <table>
          <thead><tr><th scope="col">URI</th><th scope="col">Region</th><th scope="col">Enabled</th><th scope="col">Health</th></tr></thead>
          <tbody>
            ${this.endpoints.map((e) => {
              const h = health[e.Uri as string];
              return html`<tr><td>${e.Uri}</td><td>${e.Region}</td><td>${e.Enabled ? 'yes' : 'no'}</td>
                <td>${h == null ? html`<span class="muted">not checked</span>` : h.up
                  ? html`<span class="up">up</span>` : html`<span class="down">down</span>`}</td></tr>`;
            })}
          </tbody>
        </table>
      </section>
      <section aria-labelledby="health-h">
        <h2 id="health-h">Health and missed recordings</h2>
        ${this.health()}
        ${this.trendChart()}
      </section>
      ${this.qualityViews()}
      ${this.audit.length
        ? html`<section aria-labelledby="audit-h">
            <h2 id="audit-h">Audit log (latest)</h2>
            ${auditTable(this.audit)}
          </section>`
        : nothing}`;
  }
}
customElements.define('vb-admin', VbAdmin);

// The audit log's entries (Get-VbAuditLog) as a table: here and on the Audit page.
export function auditTable(entries: Obj[]) {
  return html`<table>
    <thead><tr><th scope="col">#</th><th scope="col">When</th><th scope="col">Who</th><th scope="col">Command</th></tr></thead>
    <tbody>
      ${entries.map(
        (a) => html`<tr><td>${a.Sequence}</td><td>${when(a.Time as string)}</td><td>${a.Actor}</td>
          <td><code>${a.Command}</code></td></tr>`,
      )}
    </tbody>
  </table>`;
}
