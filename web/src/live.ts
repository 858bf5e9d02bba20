// Live monitoring: the calls being recorded now (GET /api/v1/live, refreshed every 3 s), with who
// is on them, the policy and the recorders; and listening to one in the browser. Listening opens
// the WebSocket /api/v1/live/{id}/listen: the server sends the mix of every participant as 20 ms
// Opus packets, each with the time its first sample reached the recorder; WebCodecs decodes them
// and WebAudio plays them back to back, so the page shows how far behind real time it is (about
// 1.5 s: the recorder flushes its evidence once a second). Listening only: nothing goes into the
// call. Each listen is in the archive's ledger (access.listen, with its start and end).
//
// Call control: every call at the gateway within the caller's scope (recorded or not) with
// Pause / Resume (a card payment: nothing said in the pause reaches a recorder), Record (on
// demand, with a policy's recorders) and Stop recording (only what was recorded on demand).
// Each asks for a reason, which goes into the ledger (POST /api/v1/live/calls/{callId}/{action}).
import { LitElement, html, css, nothing } from 'lit';
import { api, ApiError } from './api';
import { partyName } from './search';
import { duration, shared, when } from './styles';

interface LiveCall {
  id: string;
  started: string;
  durationSeconds?: number;
  direction?: string;
  policy?: string;
  recorders?: { application: string; name?: string }[];
  groups?: string[];
  parties?: { name?: string; aor: string; role: string }[];
}
interface GatewayParty {
  aor: string;
  display?: string;
  user?: string;
  policy?: string;
  recorded?: boolean;
}
interface GatewayCall {
  callId: string;
  startedAt: string;
  state: string;
  caller: GatewayParty;
  callee: GatewayParty;
  emergency?: boolean;
  paused?: { by: string; reason: string; since: string };
  recordings: { party: string; policy: string; onDemandBy?: string }[];
  recordingIds: string[];
}
function gatewayParty(p: GatewayParty): string {
  return p.display ? `${p.display} <${p.aor}>` : p.aor;
}
type Action = 'pause' | 'resume' | 'record' | 'stop-recording';
const kActionNames: Record<Action, string> = {
  pause: 'Pause recording',
  resume: 'Resume recording',
  record: 'Record on demand',
  'stop-recording': 'Stop recording',
};
interface Header {
  recording: string;
  participants: { id: string; name?: string; aor?: string }[];
  policy?: string;
  sampleRate: number;
  delayMs: number;
}

// What a listen measured, for the tests and the benchmark (window.vbLive).
interface LiveStats {
  frames: number;
  sound: number;
  behindMs: number[];
}
declare global {
  interface Window {
    vbLive?: LiveStats;
  }
}

export class VbLive extends LitElement {
  static properties = {
    calls: { state: true },
    error: { state: true },
    listening: { state: true },
    status: { state: true },
    behind: { state: true },
    gatewayCalls: { state: true },
    gatewayError: { state: true },
    asking: { state: true },
    outcome: { state: true },
  };
  calls: LiveCall[] = [];
  gatewayCalls: GatewayCall[] = [];
  gatewayError = '';
  asking: { call: GatewayCall; action: Action } | null = null;
  outcome = '';
  error = '';
  listening = '';
  status = '';
  behind = 0;
  private timer = 0;
  private socket: WebSocket | null = null;
  private ctx: AudioContext | null = null;
  private decoder: AudioDecoder | null = null;
  private playhead = 0;
  private captured = new Map<number, number>();  // chunk timestamp (µs) -> capture time (ms)

  static styles = [
    shared,
    css`
      .listening {
        border: 1px solid #0b5394;
        border-radius: 4px;
        padding: 0.4rem 0.8rem;
        margin: 0.8rem 0;
      }
    `,
  ];

  connectedCallback(): void {
    super.connectedCallback();
    void this.refresh();
    this.timer = window.setInterval(() => void this.refresh(), 3000);
  }

  disconnectedCallback(): void {
    super.disconnectedCallback();
    window.clearInterval(this.timer);
    this.stop();
  }

  private async refresh(): Promise<void> {
    try {
      const live = await api<{ calls: LiveCall[]; gatewayCalls?: GatewayCall[]; gatewayError?: string }>(
        'GET',
        '/api/v1/live',
      );
      this.calls = live.calls;
      this.gatewayCalls = live.gatewayCalls ?? [];
      this.gatewayError = live.gatewayError ?? '';
      this.error = '';
    } catch (e) {
      this.error = e instanceof ApiError ? e.message : String(e);
    }
  }

  private listen(id: string): void {
    this.stop();
    if (typeof AudioDecoder === 'undefined') {
      this.error = 'This browser cannot decode Opus (WebCodecs): listen in a current Chromium, Chrome, Edge or Firefox.';
      return;
    }
    window.vbLive = { frames: 0, sound: 0, behindMs: [] };
    this.listening = id;
    this.status = 'Connecting…';
    this.ctx = new AudioContext({ sampleRate: 48000 });
    this.playhead = 0;
    this.decoder = new AudioDecoder({
      output: (d) => this.play(d),
      error: (e) => (this.status = `Decoding failed: ${e.message}`),
    });
    this.decoder.configure({ codec: 'opus', sampleRate: 48000, numberOfChannels: 1 });
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new WebSocket(`${scheme}//${location.host}/api/v1/live/${encodeURIComponent(id)}/listen`);
    ws.binaryType = 'arraybuffer';
    this.socket = ws;
    let t = 0;
    ws.onmessage = (m) => {
      if (typeof m.data === 'string') {
        const h = JSON.parse(m.data) as Header;
        const who = h.participants.map((p) => p.name || p.aor || p.id).join(', ');
        this.status = `Listening to ${who || 'the call'}${h.policy ? ` (${h.policy})` : ''}.`;
        return;
      }
      const buf = m.data as ArrayBuffer;
      const captureMs = new DataView(buf).getFloat64(0, true);
      t += 20000;
      this.captured.set(t, captureMs);
      this.decoder?.decode(new EncodedAudioChunk({ type: 'key', timestamp: t, data: new Uint8Array(buf, 8) }));
    };
    ws.onclose = (e) => {
      if (this.socket !== ws) return;
      this.status = e.code === 1000 ? 'The call ended.' : `Listening stopped (${e.reason || 'connection closed'}).`;
      this.socket = null;
    };
  }

  // Each decoded 20 ms right after the one before; after a stall, from now.
  private play(d: AudioData): void {
    const ctx = this.ctx;
    if (!ctx) {
      d.close();
      return;
    }
    const samples = new Float32Array(d.numberOfFrames);
    d.copyTo(samples, { planeIndex: 0, format: 'f32-planar' });
    const captureMs = this.captured.get(d.timestamp) ?? Date.now();
    this.captured.delete(d.timestamp);
    const buffer = ctx.createBuffer(1, d.numberOfFrames, d.sampleRate);
    buffer.copyToChannel(samples, 0);
    d.close();
    const src = ctx.createBufferSource();
    src.buffer = buffer;
    src.connect(ctx.destination);
    if (this.playhead < ctx.currentTime + 0.02) this.playhead = ctx.currentTime + 0.1;
    src.start(this.playhead);
    const playsAtMs = Date.now() + (this.playhead - ctx.currentTime) * 1000;
    this.playhead += buffer.duration;
    const stats = window.vbLive!;
    stats.frames++;
    if (samples.some((v) => Math.abs(v) > 0.01)) stats.sound++;
    const behind = playsAtMs - captureMs;
    if (stats.behindMs.length < 5000) stats.behindMs.push(behind);
    if (stats.frames % 25 === 0) this.behind = behind;
  }

  private stop(): void {
    const ws = this.socket;
    this.socket = null;
    ws?.close();
    if (this.decoder && this.decoder.state !== 'closed') this.decoder.close();
    this.decoder = null;
    void this.ctx?.close();
    this.ctx = null;
    if (this.listening) this.status = 'Stopped.';
    this.listening = '';
  }

  // The form of the action being asked: a reason always (but to resume), and for a recording on
  // demand which party and which policy's recorders.
  private async submit(e: Event): Promise<void> {
    e.preventDefault();
    if (!this.asking) return;
    const { call, action } = this.asking;
    const form = e.target as HTMLFormElement;
    const data = new FormData(form);
    const body: Record<string, string> = { reason: String(data.get('reason') ?? '') };
    if (data.get('party')) body.party = String(data.get('party'));
    if (data.get('policy')) body.policy = String(data.get('policy'));
    try {
      const r = await api<{ result: string }>(
        'POST',
        `/api/v1/live/calls/${encodeURIComponent(call.callId)}/${action}`,
        body,
      );
      this.outcome = `${kActionNames[action]}: ${r.result}.`;
      this.asking = null;
      await this.refresh();
    } catch (err) {
      this.outcome = `${kActionNames[action]} refused: ${err instanceof ApiError ? err.message : String(err)}`;
    }
  }

  private controlForm() {
    if (!this.asking) return nothing;
    const { call, action } = this.asking;
    const who = `${gatewayParty(call.caller)} and ${gatewayParty(call.callee)}`;
    return html`<form class="listening" aria-label="${kActionNames[action]}" @submit=${(e: Event) => this.submit(e)}>
      <p><strong>${kActionNames[action]}</strong> — the call of ${who}.</p>
      ${action === 'record'
        ? html`<label>Party <select name="party">
              <option value="">Each party that is a user</option>
              <option value="caller">${gatewayParty(call.caller)} (caller)</option>
              <option value="callee">${gatewayParty(call.callee)} (callee)</option>
            </select></label>
            <label>Policy <input name="policy" placeholder="the party's own" autocomplete="off" /></label>`
        : nothing}
      <label>Reason <input name="reason" ?required=${action !== 'resume'} maxlength="500" size="40"
        .value=${action === 'pause' ? 'Card payment' : ''} autocomplete="off" /></label>
      <button type="submit">${kActionNames[action]}</button>
      <button type="button" @click=${() => (this.asking = null)}>Cancel</button>
    </form>`;
  }

  private gatewayTable() {
    if (this.gatewayError) return html`<p class="muted">Call control is not available: ${this.gatewayError}.</p>`;
    if (!this.gatewayCalls.length) return html`<p>No call at the gateway now.</p>`;
    return html`<table>
      <caption class="muted">${this.gatewayCalls.length} call${this.gatewayCalls.length === 1 ? '' : 's'} at the gateway</caption>
      <thead><tr><th>Started</th><th>Caller</th><th>Callee</th><th>State</th><th>Recording</th><th></th></tr></thead>
      <tbody>
        ${this.gatewayCalls.map((c) => {
          const recorded = c.recordings.length > 0;
          const onDemand = c.recordings.some((r) => r.onDemandBy);
          const unrecorded = !c.caller.recorded || !c.callee.recorded;
          const connected = c.state === 'connected';
          const label = `the call of ${gatewayParty(c.caller)} and ${gatewayParty(c.callee)}`;
          const button = (action: Action) =>
            html`<button @click=${() => ((this.asking = { call: c, action }), (this.outcome = ''))}
              aria-label="${kActionNames[action]}: ${label}">${kActionNames[action]}</button>`;
          return html`<tr>
            <td>${when(c.startedAt)}</td>
            <td>${gatewayParty(c.caller)}</td>
            <td>${gatewayParty(c.callee)}</td>
            <td>${c.state}</td>
            <td>
              ${recorded
                ? c.recordings.map((r) => html`<div>${r.party}: ${r.policy}${r.onDemandBy ? html` <span class="muted">(on demand, ${r.onDemandBy})</span>` : nothing}</div>`)
                : html`<span class="muted">not recorded</span>`}
              ${c.paused ? html`<div class="error"><strong>Paused</strong> since ${when(c.paused.since)} by ${c.paused.by}: ${c.paused.reason}</div>` : nothing}
            </td>
            <td>
              ${connected && recorded && !c.paused ? button('pause') : nothing}
              ${connected && c.paused ? button('resume') : nothing}
              ${connected && unrecorded && !c.emergency ? button('record') : nothing}
              ${connected && onDemand ? button('stop-recording') : nothing}
            </td>
          </tr>`;
        })}
      </tbody>
    </table>`;
  }

  render() {
    return html`<h1>Live calls</h1>
      <p class="muted">Calls being recorded now, within your scope. Listening is recorded in the ledger; nothing you do is heard in the call.</p>
      ${this.error ? html`<p class="error" role="alert">${this.error}</p>` : nothing}
      ${this.listening
        ? html`<section class="listening" aria-label="Listening">
            <p role="status">${this.status}${this.behind ? ` ${(this.behind / 1000).toFixed(1)} s behind real time.` : ''}</p>
            <button @click=${() => this.stop()}>Stop listening</button>
          </section>`
        : this.status
        ? html`<p role="status">${this.status}</p>`
        : nothing}
      ${this.calls.length
        ? html`<table>
            <caption class="muted">${this.calls.length} call${this.calls.length === 1 ? '' : 's'} in progress</caption>
            <thead>
              <tr><th>Started</th><th>For</th><th>Participants</th><th>Direction</th><th>Policy</th><th>Recorders</th><th></th></tr>
            </thead>
            <tbody>
              ${this.calls.map(
                (c) => html`<tr>
                  <td>${when(c.started)}</td>
                  <td>${duration((Date.now() - Date.parse(c.started)) / 1000)}</td>
                  <td>${(c.parties ?? []).map((p) => partyName(p)).join(', ')}</td>
                  <td>${c.direction ?? ''}</td>
                  <td>${c.policy ?? ''}</td>
                  <td>${(c.recorders ?? []).map((r) => r.name ?? r.application).join(', ')}</td>
                  <td>
                    <button ?disabled=${this.listening === c.id} @click=${() => this.listen(c.id)}
                      aria-label="Listen to the call started ${when(c.started)}">Listen</button>
                  </td>
                </tr>`,
              )}
            </tbody>
          </table>`
        : html`<p>No call is being recorded now.</p>`}
      <h2>Call control</h2>
      <p class="muted">Pause a recording while a card number is given (nothing said in the pause reaches a recorder; it resumes by itself after the configured limit), record a call on demand, or stop a recording made on demand. A recording the policy requires cannot be stopped, only paused. Each step and its reason go into the ledger.</p>
      ${this.outcome ? html`<p role="status">${this.outcome}</p>` : nothing}
      ${this.controlForm()}
      ${this.gatewayTable()}`;
  }
}
customElements.define('vb-live', VbLive);
