// Search: the REST search's filters as a form (GET /api/v1/recordings, newest first, in the
// officer's scope), the address keeping the query so a search can be bookmarked or sent back;
// facets over the results listed (direction, status, policy, group, region, application: a click adds
// the filter); saved searches (GET/POST /api/v1/saved-searches); keyword hits in context with the
// words found marked.
import { LitElement, html, css, nothing } from 'lit';
import { api, ApiError, query } from './api';
import { duration, shared, when } from './styles';

interface Party {
  role: string;
  name?: string;
  aor: string;
  number?: string;
}
interface Match {
  kind: string;
  speaker: string;
  atSeconds: number;
  text: string;
}
export interface Hit {
  id: string;
  started: string;
  durationSeconds?: number;
  status: string;
  direction?: string;
  internal?: boolean;
  policy?: string;
  region?: string;
  application?: string;
  groups?: string[];
  parties: Party[];
  sentiment?: { score: number; label: string };
  matches?: Match[];
}
interface Page {
  recordings: Hit[];
  count: number;
  next: string | null;
}
interface Saved {
  name: string;
  params: Record<string, string>;
}

// The form's fields: [parameter, label, input type or select options].
const FIELDS: [string, string, string | string[]][] = [
  ['participant', 'Participant (name, address or number)', 'search'],
  ['text', 'Words said', 'search'],
  ['keywords', 'Keyword list (comma-separated)', 'search'],
  ['from', 'From', 'date'],
  ['to', 'To', 'date'],
  ['direction', 'Direction', ['', 'inbound', 'outbound', 'internal']],
  ['status', 'Status', ['', 'recording', 'complete', 'partial', 'interrupted', 'disposed', 'missed']],
  ['sentiment', 'Sentiment', ['', 'positive', 'neutral', 'negative']],
  ['policy', 'Policy', 'text'],
  ['group', 'Group', 'text'],
  ['minDuration', 'Min. seconds', 'number'],
];
// [the hit's field, the search parameter a click sets, the label].
const FACETS: [keyof Hit, string, string][] = [
  ['direction', 'direction', 'Direction'],
  ['status', 'status', 'Status'],
  ['policy', 'policy', 'Policy'],
  ['groups', 'group', 'Group'],
  ['region', 'region', 'Region'],
  ['application', 'application', 'Application'],
];

// "the [market] price" -> the words in brackets marked.
export function marked(text: string) {
  return text.split(/(\[[^\]]*\])/).map((part) =>
    part.startsWith('[') && part.endsWith(']') ? html`<mark>${part.slice(1, -1)}</mark>` : part,
  );
}

export function partyName(p: Party): string {
  return p.name ? `${p.name} <${p.aor}>` : p.aor;
}

export class VbSearch extends LitElement {
  static properties = {
    params: { attribute: false },
    hits: { state: true },
    next: { state: true },
    error: { state: true },
    busy: { state: true },
    saved: { state: true },
    took: { state: true },
  };
  params = new URLSearchParams();
  hits: Hit[] | null = null;
  next: string | null = null;
  error = '';
  busy = false;
  saved: Saved[] = [];
  took = 0;

  static styles = [
    shared,
    css`
      form {
        margin-bottom: 1rem;
      }
      .layout {
        display: grid;
        grid-template-columns: 13rem 1fr;
        gap: 1rem;
      }
      aside ul {
        list-style: none;
        padding: 0;
        margin: 0 0 0.8rem;
      }
      aside button {
        background: none;
        border: none;
        color: #0b5394;
        padding: 0.1rem 0;
        text-decoration: underline;
      }
      td.match {
        font-size: 0.9rem;
      }
      .saved {
        display: flex;
        gap: 0.4rem;
        flex-wrap: wrap;
        align-items: center;
        margin-bottom: 0.6rem;
      }
    `,
  ];

  connectedCallback(): void {
    super.connectedCallback();
    this.loadSaved();
  }

  willUpdate(changed: Map<string, unknown>): void {
    if (changed.has('params')) this.run(false);
  }

  private async loadSaved(): Promise<void> {
    try {
      const r = await api<{ savedSearches: Saved[] }>('GET', '/api/v1/saved-searches');
      this.saved = r.savedSearches;
    } catch {
      this.saved = [];
    }
  }

  private current(): Record<string, string> {
    const o: Record<string, string> = {};
    this.params.forEach((v, k) => {
      if (v) o[k] = v;
    });
    return o;
  }

  private async run(more: boolean): Promise<void> {
    const p = this.current();
    if (!Object.keys(p).length && !more) {
      p.limit = '50';
    }
    if (more && this.next) p.cursor = this.next;
    this.busy = true;
    this.error = '';
    const t0 = performance.now();
    try {
      const page = await api<Page>('GET', '/api/v1/recordings' + query(p));
      this.hits = more && this.hits ? [...this.hits, ...page.recordings] : page.recordings;
      this.next = page.next;
      this.took = Math.round(performance.now() - t0);
    } catch (e) {
      this.error = e instanceof ApiError ? e.message : String(e);
      if (!more) this.hits = [];
    } finally {
      this.busy = false;
    }
  }

  private go(p: Record<string, string>): void {
    const q = new URLSearchParams(p).toString();
    location.hash = '#/search' + (q ? '?' + q : '');
  }

  private submit(e: Event): void {
    e.preventDefault();
    const f = new FormData(e.target as HTMLFormElement);
    const p: Record<string, string> = {};
    for (const [k] of FIELDS) {
      const v = String(f.get(k) ?? '').trim();
      if (v) p[k] = v;
    }
    this.go(p);
  }

  private async save(): Promise<void> {
    const name = prompt('Name this search');
    if (!name) return;
    try {
      await api('POST', '/api/v1/saved-searches', { name, params: this.current() });
      await this.loadSaved();
    } catch (e) {
      this.error = e instanceof ApiError ? e.message : String(e);
    }
  }

  private facets() {
    if (!this.hits?.length) return nothing;
    return FACETS.map(([key, param, label]) => {
      const counts = new Map<string, number>();
      for (const h of this.hits!) {
        const v = h[key];
        for (const one of Array.isArray(v) ? v : [v]) {
          if (typeof one === 'string' && one) counts.set(one, (counts.get(one) ?? 0) + 1);
        }
      }
      if (!counts.size) return nothing;
      return html`<h2>${label}</h2>
        <ul>
          ${[...counts].sort((a, b) => b[1] - a[1]).map(
            ([v, n]) => html`<li>
              <button @click=${() => this.go({ ...this.current(), [param]: v })}>${v}</button> (${n})
            </li>`,
          )}
        </ul>`;
    });
  }

  private row(h: Hit) {
    return html`<tr>
      <td><a href="#/recordings/${h.id}">${when(h.started)}</a></td>
      <td>${h.parties.map((p) => html`<div>${partyName(p)}</div>`)}</td>
      <td>${duration(h.durationSeconds)}</td>
      <td>${h.direction ?? ''}${h.internal ? ' (internal)' : ''}</td>
      <td>${h.status}</td>
      <td>${h.sentiment ? `${h.sentiment.label} (${h.sentiment.score.toFixed(2)})` : ''}</td>
      <td class="match">
        ${(h.matches ?? []).slice(0, 3).map(
          (m) => html`<div><span class="muted">${m.speaker} at ${duration(m.atSeconds)}:</span> ${marked(m.text)}</div>`,
        )}
      </td>
    </tr>`;
  }

  render() {
    const p = this.current();
    return html`<h1>Search recordings</h1>
      <form class="row" role="search" @submit=${this.submit}>
        ${FIELDS.map(([k, label, type]) =>
          Array.isArray(type)
            ? html`<label
                >${label}
                <select name=${k}>
                  ${type.map((o) => html`<option value=${o} ?selected=${p[k] === o}>${o || 'any'}</option>`)}
                </select></label
              >`
            : html`<label>${label} <input name=${k} type=${type} .value=${p[k] ?? ''} /></label>`,
        )}
        <button type="submit">Search</button>
        <button type="button" class="secondary" @click=${this.save}>Save search</button>
        <a href="#/cases?${new URLSearchParams(p).toString()}">Make a case of this search</a>
      </form>
      ${this.saved.length
        ? html`<div class="saved">
            <span class="muted">Saved:</span>
            ${this.saved.map(
              (s) => html`<button class="secondary" @click=${() => this.go(s.params)}>${s.name}</button>`,
            )}
          </div>`
        : nothing}
      ${this.error ? html`<p class="error" role="alert">${this.error}</p>` : nothing}
      <div class="layout">
        <aside aria-label="Facets">${this.facets()}</aside>
        <section aria-label="Results" aria-busy=${String(this.busy)}>
          ${this.hits == null
            ? html`<p>Searching…</p>`
            : html`<p class="muted" role="status">
                  ${this.hits.length} recording${this.hits.length === 1 ? '' : 's'}${this.next ? ' (more below)' : ''},
                  ${this.took} ms
                </p>
                <table>
                  <thead>
                    <tr>
                      <th scope="col">Started</th>
                      <th scope="col">Participants</th>
                      <th scope="col">Duration</th>
                      <th scope="col">Direction</th>
                      <th scope="col">Status</th>
                      <th scope="col">Sentiment</th>
                      <th scope="col">Hits</th>
                    </tr>
                  </thead>
                  <tbody>
                    ${this.hits.map((h) => this.row(h))}
                  </tbody>
                </table>
                ${this.next
                  ? html`<p><button class="secondary" @click=${() => this.run(true)}>More</button></p>`
                  : nothing}`}
        </section>
      </div>`;
  }
}
customElements.define('vb-search', VbSearch);
