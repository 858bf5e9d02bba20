// The web client's SIP side: JsSIP (a well-kept SIP over WebSocket stack, RFC 7118) registered
// with the gateway as the signed-in user, over the secure WebSocket whose port the server
// publishes (GET /api/v1/client). The gateway treats the browser as one more phone: the same
// registrar, digest credentials and policy.
import JsSIP from 'jssip';
import type { IncomingMessageEvent, OutgoingMessageEvent, RTCSessionEvent } from 'jssip/lib/UA';
import type { RTCSession } from 'jssip/lib/RTCSession';

export interface ClientSettings {
  webSocketPort: number;
  secure: boolean;
}

export interface ChatLine {
  id: number;
  direction: 'in' | 'out';
  peer: string; // "bob@contoso.com"
  text: string;
  at: Date;
  state: 'sending' | 'sent' | 'failed' | 'received';
  problem?: string;
}

// What a failed sign-in or message tells the user, from JsSIP's cause and the SIP response.
// `reason`: the text of the response's Reason header (the recording policy's explanation).
export function problemText(cause: string | undefined, status?: number, reason?: string): string {
  if (status === 403 || cause === JsSIP.C.causes.AUTHENTICATION_ERROR) return 'Wrong address or password, or this browser is signed in as someone else.';
  if (status === 404) return 'There is no such user.';
  if (status === 480) return reason ? `Not delivered: ${reason}.` : 'Not delivered: they are not signed in anywhere.';
  if (status === 413) return 'The message is too long.';
  if (cause === JsSIP.C.causes.CONNECTION_ERROR) return 'Cannot reach the server.';
  if (cause === JsSIP.C.causes.REQUEST_TIMEOUT) return 'The server did not answer in time.';
  if (reason) return `Not delivered: ${reason}.`;
  return status ? `Refused (${status}).` : cause ?? 'Failed.';
}

// The text of a Reason header (RFC 3326) a response carries: the recording policy's explanation.
export function reasonText(response: { getHeader(name: string): string | undefined } | null | undefined): string {
  const r = response?.getHeader('Reason') ?? '';
  const m = /text="([^"]*)"/.exec(r);
  return m ? m[1] : '';
}

export type Events = {
  registered: () => void;
  failed: (problem: string) => void;
  disconnected: () => void;
  message: (line: ChatLine) => void;
  // A call to this user: `peer` calls; `request` is the INVITE (its Call-Info says whether the
  // call is recorded).
  incoming: (session: RTCSession, peer: string, request: { getHeader(name: string): string | undefined }) => void;
};

// Calls are audio; the gateway is an ICE-lite peer at a known address, so no STUN or TURN
// server is needed. `Supported: record-aware` (RFC 7866 §6.2): this client shows the recording
// indicator, so the gateway sends it instead of playing the spoken notice.
const CALL_OPTIONS = {
  mediaConstraints: { audio: true, video: false },
  pcConfig: { iceServers: [], rtcpMuxPolicy: 'require' as const, bundlePolicy: 'balanced' as const },
  extraHeaders: ['Supported: record-aware'],
};

// "sip:Bob@Contoso.com" or "bob@contoso.com" -> "bob@contoso.com"; a number stays a number.
export function normalise(to: string): string {
  return to.trim().replace(/^sips?:/, '').toLowerCase();
}

let nextId = 1;

export class SipClient {
  private ua: JsSIP.UA;
  readonly aor: string;

  constructor(settings: ClientSettings, address: string, password: string, private on: Events) {
    const scheme = settings.secure ? 'wss' : 'ws';
    const socket = new JsSIP.WebSocketInterface(`${scheme}://${location.hostname}:${settings.webSocketPort}`);
    this.aor = address.replace(/^sips?:/, '').toLowerCase();
    this.ua = new JsSIP.UA({
      sockets: [socket],
      uri: `sip:${this.aor}`,
      password,
      register: true,
      register_expires: 600,
      session_timers: false,
      user_agent: 'Verbatim web client',
    });
    this.ua.on('registered', () => this.on.registered());
    this.ua.on('registrationFailed', (e) => {
      const res = e.response as unknown as { status_code?: number } | undefined;
      this.on.failed(problemText(e.cause, res?.status_code));
    });
    this.ua.on('disconnected', () => this.on.disconnected());
    this.ua.on('newMessage', (e: IncomingMessageEvent | OutgoingMessageEvent) => {
      if (e.originator !== 'remote') return;
      const req = e.request as unknown as { body: string; from: { uri: { user: string; host: string } } };
      this.on.message({
        id: nextId++,
        direction: 'in',
        peer: `${req.from.uri.user}@${req.from.uri.host}`,
        text: req.body,
        at: new Date(),
        state: 'received',
      });
    });
    this.ua.on('newRTCSession', (e: RTCSessionEvent) => {
      if (e.originator !== 'remote') return;
      const req = e.request as unknown as {
        from: { uri: { user: string; host: string } };
        getHeader(name: string): string | undefined;
      };
      this.on.incoming(e.session, `${req.from.uri.user}@${req.from.uri.host}`, req);
    });
    this.ua.start();
  }

  // Calls `to` (a user's address, or a number the gateway routes).
  call(to: string): RTCSession {
    const peer = normalise(to);
    return this.ua.call(peer.includes('@') ? `sip:${peer}` : `sip:${peer}@${this.aor.split('@')[1]}`, CALL_OPTIONS);
  }

  // Joins a meeting (its SIP URI) with audio and, with `camera`, video. Each stream gets its own
  // transport (max-compat: the gateway's meeting lines each have their port), so the screen
  // share added later is a stream of its own too.
  join(uri: string, camera: boolean): RTCSession {
    return this.ua.call(uri, {
      ...CALL_OPTIONS,
      mediaConstraints: { audio: true, video: camera },
      pcConfig: { ...CALL_OPTIONS.pcConfig, bundlePolicy: 'max-compat' as const },
    });
  }

  // A text message to `uri` (a meeting's chat), without a line in the one-to-one chat.
  message(uri: string, text: string): void {
    this.ua.sendMessage(uri, text, { contentType: 'text/plain' });
  }

  answer(session: RTCSession): void {
    session.answer(CALL_OPTIONS);
  }

  // Sends a chat message; `update` gets the line again when its delivery is known.
  send(to: string, text: string, update: (line: ChatLine) => void): ChatLine {
    const peer = normalise(to);
    const line: ChatLine = { id: nextId++, direction: 'out', peer, text, at: new Date(), state: 'sending' };
    this.ua.sendMessage(`sip:${peer}`, text, {
      contentType: 'text/plain',
      eventHandlers: {
        succeeded: () => update({ ...line, state: 'sent' }),
        failed: (e) => {
          const res = e.response as unknown as
            | { status_code?: number; getHeader(n: string): string | undefined }
            | null;
          update({ ...line, state: 'failed', problem: problemText(e.cause, res?.status_code, reasonText(res)) });
        },
      },
    });
    return line;
  }

  stop(): void {
    this.ua.stop(); // unregisters, then closes the WebSocket
  }
}
