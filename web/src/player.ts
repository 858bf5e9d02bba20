// The player: one lane per participant (we record unmixed), each with its own waveform
// (wavesurfer.js) and audio element, played together from one clock; mute and solo per lane;
// speed 0.5x-2x with the pitch kept; skip silence (runs of 1 s or more where no lane has sound,
// found in the decoded audio); the transcript in time order, the word being said marked, a click
// on a word or an utterance's time seeks every lane; the call's events on the timeline; related
// interactions; each lane's download, as Opus or WAV. Everything comes from GET /api/v1/recordings/{id} and the
// media URLs it names (range requests: the browser seeks without fetching the file whole);
// every open and every playback request is in the archive's ledger.
// Redaction: the versions a role may play (the original and the redacted ones; the latest plays
// first), and for officers who may redact, spans chosen by dragging on a lane, clicking words
// or typing times, hidden by silence or a tone in a new version the recorder makes
// (POST .../redactions); the transcript hides the words of the version being played.
// Notes: anchored at the time being played, kept as written and in the ledger (POST
// .../annotations), shown on the timeline and listed (a click seeks there).
import { LitElement, html, css, nothing } from 'lit';
import WaveSurfer from 'wavesurfer.js';
import RegionsPlugin from 'wavesurfer.js/dist/plugins/regions.esm.js';
import { keyed } from 'lit/directives/keyed.js';
import { api, ApiError } from './api';
import { marked, partyName } from './search';
import { duration, shared, when } from './styles';

interface Participant {
  id: string;
  name?: string;
  aor?: string;
  media?: string;
  talkRatio?: number;
  sentiment?: { score: number; label: string };
}
interface Word {
  word: string;
  start: number;
  end: number;
}
interface Utterance {
  speaker: string;
  start: number;
  end: number;
  text: string;
  words?: Word[];
}
interface TimelineEvent {
  atSeconds: number;
  type: string;
  label: string;
}
interface Related {
  id: string;
  why: string;
  started?: string;
  parties?: { name?: string; aor: string; role: string }[];
}
interface Span {
  start: number;
  end: number;
  participant?: string;
}
interface VersionFile {
  name: string;
  participants?: string[];
  url: string;
  redacted?: boolean;
}
interface Version {
  version: number;
  label: string;
  playable: boolean;
  files: VersionFile[];
  spans?: Span[];
  fill?: string;
  reason?: string;
  requestedBy?: string;
}
interface RedactionRequest {
  request: number;
  state: string;
  error?: string;
  version?: number;
}
interface Detail {
  id: string;
  status: string;
  created: string;
  completed?: string;
  retentionUntil?: string;
  legalHolds?: string[];
  metadata: Record<string, unknown>;
  participants: Participant[];
  transcript: { utterances: Utterance[] } | null;
  sentiment?: { overall?: { label: string; score: number } };
  related: Related[];
  timeline?: TimelineEvent[];
  versions?: Version[];
  version?: number;
  annotations?: Annotation[];
}
interface Annotation {
  id: number;
  atSeconds: number;
  text: string;
  author: string;
  created: string;
}

const SPEEDS = [0.5, 0.75, 1, 1.25, 1.5, 2];
const FRAME = 0.05;  // seconds per frame of the silence map
const SILENCE_LEVEL = 0.02;  // peak amplitude below which a frame is silent
const MIN_SKIP = 1.0;  // silent runs at least this long are skipped

export class VbPlayer extends LitElement {
  static properties = {
    recording: {},
    reasonRequired: { attribute: false },
    mayRedact: { attribute: false },
    version: { state: true },
    redacting: { state: true },
    spans: { state: true },
    redactNote: { state: true },
    noteError: { state: true },
    reasonGiven: { state: true },
    detail: { state: true },
    error: { state: true },
    playing: { state: true },
    time: { state: true },
    total: { state: true },
    muted: { state: true },
    solo: { state: true },
    speed: { state: true },
    skipSilence: { state: true },
    ready: { state: true },
  };
  recording = '';
  reasonRequired = false;
  mayRedact = false;
  version = 0;
  redacting = false;
  spans: Span[] = [];
  redactNote = '';
  noteError = '';
  reasonGiven = false;
  detail: Detail | null = null;
  error = '';
  playing = false;
  time = 0;
  total = 0;
  muted = new Set<string>();
  solo = '';
  speed = 1;
  skipSilence = false;
  ready = 0;
  private lanes: { id: string; ws: WaveSurfer; regions: RegionsPlugin }[] = [];
  private active: Uint8Array | null = null;
  private drawing = false;  // 1 where some lane has sound, per FRAME

  static styles = [
    shared,
    css`
      .lane {
        display: grid;
        grid-template-columns: 15rem 1fr;
        gap: 0.6rem;
        align-items: center;
        border-bottom: 1px solid #d7dbe3;
        padding: 0.4rem 0;
      }
      .lane .wave {
        min-height: 64px;
      }
      .lane > div:first-child {
        overflow-wrap: anywhere;
        min-width: 0;
      }
      .controls {
        display: flex;
        gap: 0.6rem;
        align-items: center;
        flex-wrap: wrap;
        margin: 0.8rem 0;
      }
      .transcript {
        max-height: 22rem;
        overflow: auto;
        border: 1px solid #d7dbe3;
        border-radius: 4px;
        padding: 0.4rem 0.6rem;
      }
      .utt {
        margin: 0.3rem 0;
      }
      .utt button {
        background: none;
        border: none;
        color: #0b5394;
        padding: 0;
        text-decoration: underline;
      }
      .word {
        cursor: pointer;
      }
      .word.now {
        background: #ffe58a;
      }
      .word.hidden {
        background: #3d3d3d;
        color: #ffffff;
      }
      .redact {
        border: 1px solid #d7dbe3;
        border-radius: 4px;
        padding: 0.4rem 0.8rem;
        margin: 0.8rem 0;
      }
      .redact table {
        border-collapse: collapse;
      }
      .redact td,
      .redact th {
        padding: 0.1rem 0.6rem 0.1rem 0;
        text-align: left;
      }
      .timeline {
        position: relative;
        height: 1.6rem;
        margin-left: 15.6rem;
        border-bottom: 1px solid #d7dbe3;
      }
      .timeline button {
        position: absolute;
        top: 0;
        transform: translateX(-50%);
        font-size: 0.75rem;
        padding: 0 0.3rem;
        background: #14213d;
        border-color: #14213d;
      }
      dl {
        display: grid;
        grid-template-columns: max-content 1fr;
        gap: 0.2rem 1rem;
      }
      dt {
        color: #4a5468;
      }
      dd {
        margin: 0;
      }
    `,
  ];

  willUpdate(changed: Map<string, unknown>): void {
    if (changed.has('recording')) this.load();
  }

  disconnectedCallback(): void {
    super.disconnectedCallback();
    this.destroyLanes();
  }

  private destroyLanes(): void {
    for (const l of this.lanes) l.ws.destroy();
    this.lanes = [];
    this.active = null;
    this.ready = 0;
  }

  private async load(keepReason = false): Promise<void> {
    this.destroyLanes();
    this.detail = null;
    this.error = '';
    try {
      this.detail = await api<Detail>('GET', `/api/v1/recordings/${encodeURIComponent(this.recording)}`);
    } catch (e) {
      this.error = e instanceof ApiError ? e.message : String(e);
      return;
    }
    this.version = this.detail.version ?? 0;
    this.reasonGiven = keepReason || !this.reasonRequired;
    await this.updateComplete;
    if (this.reasonGiven) this.makeLanes();
  }

  // The role gives a reason before listening; it goes into the ledger (access.reason).
  private async giveReason(e: Event): Promise<void> {
    e.preventDefault();
    const reason = String(new FormData(e.target as HTMLFormElement).get('reason') ?? '').trim();
    try {
      await api('POST', `/api/v1/recordings/${encodeURIComponent(this.recording)}/reason`, { reason });
      this.reasonGiven = true;
      this.error = '';
      await this.updateComplete;
      this.makeLanes();
    } catch (err) {
      this.error = err instanceof ApiError ? err.message : String(err);
    }
  }

  private playable(): Participant[] {
    return (this.detail?.participants ?? []).filter((p) => p.media);
  }

  // A lane's audio in the version being played.
  private mediaUrl(p: Participant, format = ''): string {
    const q = new URLSearchParams();
    if ((this.detail?.versions?.length ?? 0) > 1) q.set('version', String(this.version));
    if (format) q.set('format', format);
    const qs = q.toString();
    return p.media! + (qs ? `?${qs}` : '');
  }

  private async chooseVersion(v: number): Promise<void> {
    this.destroyLanes();
    this.playing = false;
    this.version = v;
    await this.updateComplete;
    this.makeLanes();
  }

  private makeLanes(): void {
    for (const p of this.playable()) {
      const container = this.renderRoot.querySelector<HTMLElement>(`[data-wave="${CSS.escape(p.id)}"]`);
      const media = this.renderRoot.querySelector<HTMLAudioElement>(`audio[data-lane="${CSS.escape(p.id)}"]`);
      if (!container || !media) continue;
      const regions = RegionsPlugin.create();
      const ws = WaveSurfer.create({
        container,
        media,
        url: this.mediaUrl(p),
        plugins: [regions],
        height: 64,
        waveColor: '#7d8597',
        progressColor: '#0b5394',
        cursorColor: '#7a2e00',
        normalize: true,
        interact: true,
        fetchParams: { credentials: 'same-origin' },
      });
      ws.on('ready', (d) => {
        this.total = Math.max(this.total, d);
        this.ready++;
        if (this.ready === this.lanes.length) this.mapSilence();
      });
      ws.on('interaction', (t) => this.seek(t));
      ws.on('error', (e) => (this.error = `${partyName({ role: '', aor: p.aor ?? p.id, name: p.name })}: ${e}`));
      // Dragging on a lane while redacting marks a span of that participant.
      regions.enableDragSelection({ color: 'rgba(176, 0, 32, 0.25)' });
      regions.on('region-created', (r) => {
        if (this.drawing) return;  // one of ours (drawSpans)
        if (!this.redacting) {
          r.remove();
          return;
        }
        this.spans = [...this.spans, { start: round(r.start), end: round(r.end), participant: p.id }];
        r.remove();
        this.drawSpans();
      });
      this.lanes.push({ id: p.id, ws, regions });
    }
    const master = this.lanes[0];
    if (!master) return;
    master.ws.on('timeupdate', (t) => this.tick(t));
    master.ws.on('finish', () => (this.playing = false));
    this.applyVolumes();
  }

  // Frames where any lane has sound: what skip-silence keeps.
  private mapSilence(): void {
    const frames = Math.ceil(this.total / FRAME);
    const active = new Uint8Array(frames);
    for (const { ws } of this.lanes) {
      const buf = ws.getDecodedData();
      if (!buf) continue;
      const data = buf.getChannelData(0);
      const per = Math.max(1, Math.round(buf.sampleRate * FRAME));
      for (let f = 0; f < frames && f * per < data.length; f++) {
        const end = Math.min(data.length, (f + 1) * per);
        for (let i = f * per; i < end; i++) {
          if (Math.abs(data[i]) > SILENCE_LEVEL) {
            active[f] = 1;
            break;
          }
        }
      }
    }
    this.active = active;
  }

  // The spans chosen so far, drawn on their lanes (or on every lane).
  private drawSpans(): void {
    this.drawing = true;
    for (const { id, regions } of this.lanes) {
      regions.clearRegions();
      for (const s of this.spans) {
        if (s.participant && s.participant !== id) continue;
        regions.addRegion({ start: s.start, end: s.end, color: 'rgba(176, 0, 32, 0.35)', drag: false, resize: false });
      }
    }
    this.drawing = false;
  }

  private addSpan(e: Event): void {
    e.preventDefault();
    const f = new FormData(e.target as HTMLFormElement);
    const start = Number(f.get('start'));
    const end = Number(f.get('end'));
    if (!(start >= 0 && end > start)) {
      this.redactNote = 'A span runs from a start to a later end, in seconds.';
      return;
    }
    const who = String(f.get('participant') ?? '');
    this.spans = [...this.spans, { start, end, ...(who ? { participant: who } : {}) }];
    this.redactNote = '';
    this.drawSpans();
  }

  private removeSpan(i: number): void {
    this.spans = this.spans.filter((_, j) => j !== i);
    this.drawSpans();
  }

  // Asks for the new version, then waits for the recorder to make it (bounded) and shows it.
  private async redact(e: Event): Promise<void> {
    e.preventDefault();
    const f = new FormData(e.target as HTMLFormElement);
    const base = `/api/v1/recordings/${encodeURIComponent(this.recording)}/redactions`;
    let asked: RedactionRequest;
    try {
      asked = await api<RedactionRequest>('POST', base, {
        spans: this.spans,
        fill: String(f.get('fill')),
        reason: String(f.get('reason') ?? '').trim(),
      });
    } catch (err) {
      this.redactNote = err instanceof ApiError ? err.message : String(err);
      return;
    }
    this.redactNote = `Redaction ${asked.request} asked for; the recorder is making the new version…`;
    for (let i = 0; i < 180; i++) {
      await new Promise((r) => setTimeout(r, 1000));
      let list: { requests: RedactionRequest[] };
      try {
        list = await api<{ requests: RedactionRequest[] }>('GET', base);
      } catch {
        continue;
      }
      const mine = list.requests.find((r) => r.request === asked.request);
      if (mine?.state === 'failed') {
        this.redactNote = `Redaction ${asked.request} failed: ${mine.error ?? 'unknown error'}`;
        return;
      }
      if (mine?.state === 'done') {
        this.spans = [];
        this.redacting = false;
        await this.load(true);
        this.redactNote = `Version ${mine.version} made: it is the one playing now. The original is kept intact.`;
        return;
      }
    }
    this.redactNote = `Redaction ${asked.request} is still waiting for the recorder; look again later.`;
  }

  // The spans hidden in the version being played, with the speakers (file names) they cover.
  private hiddenSpans(): { start: number; end: number; names: string[] | null }[] {
    const out: { start: number; end: number; names: string[] | null }[] = [];
    for (const v of this.detail?.versions ?? []) {
      if (v.version === 0 || v.version > this.version) continue;
      for (const s of v.spans ?? []) {
        const names = s.participant
          ? v.files.filter((f) => f.name === s.participant || f.participants?.includes(s.participant!)).map((f) => f.name)
          : null;
        out.push({ start: s.start, end: s.end, names });
      }
    }
    return out;
  }

  private tick(t: number): void {
    this.time = t;
    // Keep the other lanes on the master's clock.
    for (const { ws } of this.lanes.slice(1)) {
      if (Math.abs(ws.getCurrentTime() - t) > 0.15 && t < ws.getDuration()) ws.setTime(t);
    }
    if (this.skipSilence && this.playing && this.active) {
      const f = Math.floor(t / FRAME);
      let g = f;
      while (g < this.active.length && !this.active[g]) g++;
      if ((g - f) * FRAME >= MIN_SKIP) this.seek(Math.min(this.total, g * FRAME - 0.1));
    }
  }

  private seek(t: number): void {
    for (const { ws } of this.lanes) ws.setTime(Math.min(t, ws.getDuration() || t));
    this.time = t;
  }

  private async toggle(): Promise<void> {
    if (this.playing) {
      for (const { ws } of this.lanes) ws.pause();
      this.playing = false;
      return;
    }
    const t = this.lanes[0]?.ws.getCurrentTime() ?? 0;
    this.seek(t >= this.total - 0.05 ? 0 : t);
    this.playing = true;
    try {
      await Promise.all(this.lanes.map(({ ws }) => ws.play()));
    } catch (e) {
      this.playing = false;
      this.error = `playback: ${e}`;
    }
  }

  private setSpeed(rate: number): void {
    this.speed = rate;
    for (const { ws } of this.lanes) ws.setPlaybackRate(rate, true);
  }

  private applyVolumes(): void {
    for (const { id, ws } of this.lanes) ws.setMuted(this.solo ? this.solo !== id : this.muted.has(id));
  }

  private toggleMute(id: string): void {
    const m = new Set(this.muted);
    if (m.has(id)) m.delete(id);
    else m.add(id);
    this.muted = m;
    this.applyVolumes();
  }

  private toggleSolo(id: string): void {
    this.solo = this.solo === id ? '' : id;
    this.applyVolumes();
  }

  private speaker(id: string): string {
    const p = this.detail?.participants.find((x) => x.id === id || x.aor === id || x.name === id);
    return p ? p.name ?? p.aor ?? p.id : id;
  }

  private lane(p: Participant) {
    const name = p.name ?? p.aor ?? p.id;
    return html`<div class="lane" data-participant=${p.id}>
      <div>
        <strong>${name}</strong>
        ${p.name && p.aor ? html`<div class="muted">${p.aor}</div>` : nothing}
        <div class="row">
          <button class="secondary" aria-pressed=${String(this.muted.has(p.id))} @click=${() => this.toggleMute(p.id)}
            aria-label="Mute ${name}">Mute</button>
          <button class="secondary" aria-pressed=${String(this.solo === p.id)} @click=${() => this.toggleSolo(p.id)}
            aria-label="Solo ${name}">Solo</button>
          <a href=${this.mediaUrl(p)} download aria-label="Download ${name} as Opus">Opus</a>
          <a href=${this.mediaUrl(p, 'wav')} download aria-label="Download ${name} as WAV">WAV</a>
        </div>
      </div>
      <div class="wave" data-wave=${p.id} role="img" aria-label="Waveform of ${name}"></div>
      <audio data-lane=${p.id} preload="auto" hidden></audio>
    </div>`;
  }

  private transcript() {
    const t = this.detail?.transcript;
    if (!t) return html`<p class="muted">No transcript yet.</p>`;
    const hidden = this.hiddenSpans();
    const isHidden = (speaker: string, a: number, b: number) =>
      hidden.some((s) => a < s.end && b > s.start && (!s.names || s.names.includes(speaker)));
    return html`<div class="transcript" aria-label="Transcript">
      ${t.utterances.map(
        (u) => html`<p class="utt">
          <button @click=${() => this.seek(u.start)} aria-label="Play from ${duration(u.start)}">${duration(u.start)}</button>
          <strong>${this.speaker(u.speaker)}:</strong>
          ${u.words?.length
            ? u.words.map(
                (w) => {
                  const gone = w.word === '[redacted]' || isHidden(u.speaker, w.start, w.end);
                  return html`<span class="word ${gone ? 'hidden' : ''} ${this.time >= w.start && this.time < w.end ? 'now' : ''}"
                    @click=${() => this.wordClicked(u, w)}>${gone ? '[redacted]' : w.word}</span> `;
                },
              )
            : marked(u.text)}
        </p>`,
      )}
    </div>`;
  }

  // A click on a word seeks; while redacting, it marks the word's span of that speaker instead.
  private wordClicked(u: Utterance, w: Word): void {
    if (!this.redacting) {
      this.seek(w.start);
      return;
    }
    // The speaker is the lane's name ("Name <address>"): the span is that lane's participant's.
    const lane = this.playable().find(
      (p) => u.speaker === p.id || u.speaker === p.name || u.speaker === p.aor || u.speaker === `${p.name} <${p.aor}>`,
    );
    this.spans = [...this.spans, { start: round(w.start), end: round(w.end), participant: lane?.id ?? u.speaker }];
    this.drawSpans();
  }

  private versions() {
    const all = (this.detail?.versions ?? []).filter((v) => v.playable);
    if ((this.detail?.versions?.length ?? 0) < 2) return nothing;
    return html`<label
      >Version
      <select aria-label="Version to play" @change=${(e: Event) => this.chooseVersion(Number((e.target as HTMLSelectElement).value))}>
        ${all.map(
          (v) => html`<option value=${v.version} ?selected=${v.version === this.version}>
            ${v.version === 0 ? 'Original' : `Redacted v${v.version} (${v.fill}, ${v.requestedBy}: ${v.reason})`}
          </option>`,
        )}
      </select></label
    >`;
  }

  private redactPanel(lanes: Participant[]) {
    if (!this.mayRedact) return nothing;
    if (!this.redacting) {
      return html`<p>
        <button class="secondary" @click=${() => (this.redacting = true)}>Redact…</button>
        ${this.redactNote ? html`<span role="status">${this.redactNote}</span>` : nothing}
      </p>`;
    }
    return html`<section class="redact" aria-label="Redaction">
      <h2>Redact</h2>
      <p class="muted">
        Drag across a lane, click words in the transcript, or type a span. The new version is made from the version
        playing now; the original stays intact and verifiable.
      </p>
      <form class="row" @submit=${this.addSpan} aria-label="Add a span">
        <label>From (s) <input name="start" type="number" min="0" step="0.01" required size="6" /></label>
        <label>To (s) <input name="end" type="number" min="0" step="0.01" required size="6" /></label>
        <label
          >Participant
          <select name="participant">
            <option value="">Everyone</option>
            ${lanes.map((p) => html`<option value=${p.id}>${p.name ?? p.aor ?? p.id}</option>`)}
          </select></label
        >
        <button class="secondary" type="submit">Add span</button>
      </form>
      ${this.spans.length
        ? html`<table>
            <thead><tr><th>From</th><th>To</th><th>Participant</th><th></th></tr></thead>
            <tbody>
              ${this.spans.map(
                (s, i) => html`<tr>
                  <td>${s.start.toFixed(2)} s</td>
                  <td>${s.end.toFixed(2)} s</td>
                  <td>${s.participant ? this.speaker(s.participant) : 'Everyone'}</td>
                  <td><button class="secondary" @click=${() => this.removeSpan(i)} aria-label="Remove span ${i + 1}">Remove</button></td>
                </tr>`,
              )}
            </tbody>
          </table>`
        : html`<p class="muted">No span chosen yet.</p>`}
      <form class="row" @submit=${this.redact} aria-label="Create the redacted version">
        <label
          >Replace with
          <select name="fill">
            <option value="silence">Silence</option>
            <option value="tone">Tone</option>
          </select></label
        >
        <label>Reason (kept in the ledger) <input name="reason" required maxlength="500" size="40" /></label>
        <button type="submit" ?disabled=${!this.spans.length}>Create redacted version</button>
        <button type="button" class="secondary" @click=${() => ((this.redacting = false), (this.spans = []), this.drawSpans())}>Cancel</button>
      </form>
      ${this.redactNote ? html`<p role="status">${this.redactNote}</p>` : nothing}
    </section>`;
  }

  private async addNote(e: Event): Promise<void> {
    e.preventDefault();
    const form = e.target as HTMLFormElement;
    const text = String(new FormData(form).get('text') ?? '').trim();
    try {
      const made = await api<Annotation>('POST', `/api/v1/recordings/${encodeURIComponent(this.recording)}/annotations`, {
        atSeconds: round(this.time),
        text,
      });
      const list = [...(this.detail!.annotations ?? []), made].sort((a, b) => a.atSeconds - b.atSeconds);
      this.detail = { ...this.detail!, annotations: list };
      form.reset();
      this.noteError = '';
    } catch (err) {
      this.noteError = err instanceof ApiError ? err.message : String(err);
    }
  }

  private notes() {
    const list = this.detail?.annotations ?? [];
    return html`<h2>Notes</h2>
      ${list.length
        ? html`<ul aria-label="Notes">
            ${list.map(
              (n) => html`<li>
                <button class="secondary" @click=${() => this.seek(n.atSeconds)} aria-label="Play from ${duration(n.atSeconds)}">
                  ${duration(n.atSeconds)}</button>
                ${n.text} <span class="muted">(${n.author}, ${when(n.created)})</span>
              </li>`,
            )}
          </ul>`
        : html`<p class="muted">No notes yet.</p>`}
      ${this.playable().length
        ? html`<form class="row" @submit=${this.addNote} aria-label="Add a note">
            <label>Note at ${duration(this.time)} (kept as written, in the ledger)
              <input name="text" required maxlength="1000" size="60" /></label>
            <button type="submit">Add note</button>
          </form>`
        : nothing}
      ${this.noteError ? html`<p class="error" role="alert">${this.noteError}</p>` : nothing}`;
  }

  private timeline() {
    const events = [
      ...(this.detail?.timeline ?? []),
      ...(this.detail?.annotations ?? []).map((n) => ({ atSeconds: n.atSeconds, type: 'note', label: `Note: ${n.text}` })),
    ];
    if (!events.length || !this.total) return nothing;
    return html`<div class="timeline" aria-label="Events">
      ${events.map(
        (e) => html`<button style="left: ${Math.min(100, (100 * e.atSeconds) / this.total)}%"
            title="${e.label} at ${duration(e.atSeconds)}" aria-label="${e.label} at ${duration(e.atSeconds)}"
            @click=${() => this.seek(e.atSeconds)}>${e.type}</button>`,
      )}
    </div>`;
  }

  render() {
    if (this.error && !this.detail) {
      return html`<h1>Recording</h1>
        <p class="error" role="alert">${this.error}</p>
        <p><a href="#/search">Back to search</a></p>`;
    }
    const d = this.detail;
    if (!d) return html`<p>Loading…</p>`;
    const lanes = this.playable();
    return html`<h1>Recording ${d.id.slice(0, 12)}…</h1>
      <dl>
        <dt>Status</dt>
        <dd>${d.status}</dd>
        <dt>Started</dt>
        <dd>${when(d.created)}</dd>
        <dt>Retained until</dt>
        <dd>${when(d.retentionUntil)}</dd>
        ${d.legalHolds?.length ? html`<dt>Legal holds</dt><dd>${d.legalHolds.join(', ')}</dd>` : nothing}
        ${d.sentiment?.overall
          ? html`<dt>Sentiment</dt><dd>${d.sentiment.overall.label} (${d.sentiment.overall.score.toFixed(2)})</dd>`
          : nothing}
      </dl>
      ${this.error ? html`<p class="error" role="alert">${this.error}</p>` : nothing}
      ${lanes.length && !this.reasonGiven
        ? html`<form class="row" @submit=${this.giveReason} aria-label="Reason for listening">
            <label>Why are you listening to this recording? (kept in the ledger)
              <input name="reason" required maxlength="500" size="50" /></label>
            <button type="submit">Continue to playback</button>
          </form>`
        : lanes.length
        ? html`<div class="controls">
              <button @click=${this.toggle} ?disabled=${this.ready < lanes.length}>${this.playing ? 'Pause' : 'Play'}</button>
              <span role="timer" aria-live="off">${duration(this.time)} / ${duration(this.total)}</span>
              <label
                >Speed
                <select @change=${(e: Event) => this.setSpeed(Number((e.target as HTMLSelectElement).value))}>
                  ${SPEEDS.map((s) => html`<option value=${s} ?selected=${s === this.speed}>${s}×</option>`)}
                </select></label
              >
              <label style="flex-direction: row; align-items: center"
                ><input type="checkbox" .checked=${this.skipSilence}
                  @change=${(e: Event) => (this.skipSilence = (e.target as HTMLInputElement).checked)} />
                Skip silence</label
              >
              ${this.versions()}
            </div>
            ${this.timeline()} ${keyed(this.version, lanes.map((p) => this.lane(p)))} ${this.redactPanel(lanes)}`
        : html`<p class="muted">No playback files yet: the playback job makes them after the call.</p>`}
      ${this.notes()}
      <h2>Transcript</h2>
      ${this.transcript()}
      <h2>Related interactions</h2>
      ${d.related.length
        ? html`<ul>
            ${d.related.map(
              (r) => html`<li>
                <a href="#/recordings/${r.id}">${when(r.started)} ${(r.parties ?? []).map((p) => p.name ?? p.aor).join(', ')}</a>
                <span class="muted">(${r.why})</span>
              </li>`,
            )}
          </ul>`
        : html`<p class="muted">None.</p>`}`;
  }
}
customElements.define('vb-player', VbPlayer);

function round(t: number): number {
  return Math.round(t * 100) / 100;
}
