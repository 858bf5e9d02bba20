// Live monitoring: the calls being recorded now (GET /api/v1/live, refreshed every 3 s), with who
// is on them, the policy and the recorders; and listening to one in the browser. Listening opens
// the WebSocket /api/v1/live/{id}/listen: the server sends the mix of every participant as 20 ms
// Opus packets, each with the time its first sample reached the recorder; WebCodecs decodes them
// and WebAudio plays them back to back, so the page shows how far behind real time it is (about
// 1.5 s: the recorder flushes its evidence once a second). Listening only: nothing goes into the
// call. Each listen is in the archive's ledger (access.listen, with its start and end).
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
  recorders?: string[];
  groups?: string[];
  parties?: { name?: string; aor: string; role: string }[];
}
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
  };
  calls: LiveCall[] = [];
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
      this.calls = (await api<{ calls: LiveCall[] }>('GET', '/api/v1/live')).calls;
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
                  <td>${(c.recorders ?? []).join(', ')}</td>
                  <td>
                    <button ?disabled=${this.listening === c.id} @click=${() => this.listen(c.id)}
                      aria-label="Listen to the call started ${when(c.started)}">Listen</button>
                  </td>
                </tr>`,
              )}
            </tbody>
          </table>`
        : html`<p>No call is being recorded now.</p>`}`;
  }
}
customElements.define('vb-live', VbLive);
