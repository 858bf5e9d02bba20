// A call of the web client: one JsSIP RTCSession (WebRTC media with the gateway, which speaks
// ICE-lite and DTLS-SRTP and relays to the other party), and what the user sees of it: its state,
// whether anyone in it is recorded (the gateway's a=record:on, RFC 7866 §6.1, in the SDP we get)
// with the policy's banner text (the Call-Info header's banner parameter), and why it failed or
// ended (the Reason header's text: "There was a problem setting up the recording required by
// your organisation"). Calls end up in the history kept in this browser (localStorage).
import type { RTCSession } from 'jssip/lib/RTCSession';

export type CallState = 'calling' | 'ringing' | 'incoming' | 'connected' | 'held' | 'ended';

export interface CallView {
  id: number;
  peer: string; // "bob@contoso.com"
  direction: 'in' | 'out';
  state: CallState;
  recorded: boolean;
  banner: string; // what the indicator says when recorded
  problem: string; // why it failed or ended, when the other side or the policy said
  warning: string; // the removal warning (WarnUserOnRemoval): the call is about to be ended
  startedAt: Date;
  connectedAt?: Date;
  remote?: MediaStream; // what the other party sends (audio)
}

export interface HistoryEntry {
  peer: string;
  direction: 'in' | 'out';
  at: string; // ISO 8601
  seconds: number; // connected for; 0: never connected
  outcome: string; // "answered", "missed", "declined", or the problem
  recorded: boolean;
}

export const DEFAULT_BANNER = 'This call is being recorded.';
const WARNING_TYPE = 'application/vnd.verbatim.warning+json';
const HISTORY_LIMIT = 50;

// The banner text of a Call-Info header (`<urn:verbatim:recording>;purpose=recording;banner="…"`).
export function bannerOf(callInfo: string | undefined): string {
  if (!callInfo || !/purpose=recording/.test(callInfo)) return '';
  const m = /banner="((?:[^"\\]|\\.)*)"/.exec(callInfo);
  return m ? m[1].replace(/\\(.)/g, '$1') : DEFAULT_BANNER;
}

// A Reason header's text (RFC 3326), else the Warning's (RFC 3261 §20.43).
export function reasonOf(message: { getHeader(name: string): string | undefined } | null | undefined): string {
  const reason = /text="([^"]*)"/.exec(message?.getHeader('Reason') ?? '');
  if (reason) return reason[1];
  const warning = /^\d{3} \S+ "([^"]*)"/.exec(message?.getHeader('Warning') ?? '');
  return warning ? warning[1] : '';
}

// The history kept for one user in this browser, newest first.
export function loadHistory(aor: string): HistoryEntry[] {
  try {
    const v = JSON.parse(localStorage.getItem(`vb-history:${aor}`) ?? '[]') as HistoryEntry[];
    return Array.isArray(v) ? v : [];
  } catch {
    return [];
  }
}

export function remember(aor: string, entry: HistoryEntry): HistoryEntry[] {
  const all = [entry, ...loadHistory(aor)].slice(0, HISTORY_LIMIT);
  localStorage.setItem(`vb-history:${aor}`, JSON.stringify(all));
  return all;
}

type Message = { getHeader(name: string): string | undefined; status_code?: number } | null | undefined;

let nextCall = 1;

// Follows one RTCSession; `changed` gets the view after every change.
export class Call {
  view: CallView;

  constructor(
    readonly session: RTCSession,
    peer: string,
    direction: 'in' | 'out',
    private changed: (v: CallView) => void,
    first?: Message,
  ) {
    this.view = {
      id: nextCall++,
      peer,
      direction,
      state: direction === 'in' ? 'incoming' : 'calling',
      recorded: false,
      banner: '',
      problem: '',
      warning: '',
      startedAt: new Date(),
    };
    this.indicate(first);
    const s = session as unknown as {
      on(event: string, fn: (e: Record<string, unknown>) => void): void;
      connection?: RTCPeerConnection;
    };
    if (s.connection) this.watch(s.connection);
    s.on('peerconnection', (e) => this.watch(e.peerconnection as RTCPeerConnection));
    s.on('progress', (e) => {
      if (direction === 'out') this.update({ state: 'ringing' });
      this.indicate(e.response as Message);
    });
    s.on('accepted', (e) => {
      this.indicate(e.response as Message);
      this.update({ state: 'connected', connectedAt: new Date() });
    });
    s.on('sdp', (e) => {
      if (e.originator === 'remote' && /^a=record:on\r?$/m.test(String(e.sdp))) {
        this.update({ recorded: true, banner: this.view.banner || DEFAULT_BANNER });
      }
    });
    s.on('reinvite', (e) => this.indicate(e.request as Message));
    // The gateway's removal warning (an INFO, application/vnd.verbatim.warning+json).
    s.on('newInfo', (e) => {
      const info = e.info as { contentType?: string; body?: string };
      if (e.originator !== 'remote' || info.contentType !== WARNING_TYPE) return;
      try {
        const w = JSON.parse(info.body ?? '{}') as { warning?: string; endsInMs?: number };
        const secs = Math.round((w.endsInMs ?? 0) / 1000);
        this.update({ warning: `${w.warning ?? 'The call is about to be ended'}${secs ? ` (in ${secs} s)` : ''}.` });
      } catch {
        /* not ours after all */
      }
    });
    s.on('hold', (e) => e.originator === 'local' && this.update({ state: 'held' }));
    s.on('unhold', (e) => e.originator === 'local' && this.update({ state: 'connected' }));
    s.on('failed', (e) => this.finish(e.message as Message, String(e.cause ?? '')));
    s.on('ended', (e) => this.finish(e.message as Message, String(e.cause ?? '')));
  }

  // The recording indicator from a message's Call-Info (the gateway's 180/200 or its INVITE).
  private indicate(m: Message): void {
    const banner = bannerOf(m?.getHeader('Call-Info'));
    if (banner) this.update({ recorded: true, banner });
  }

  private watch(pc: RTCPeerConnection): void {
    pc.addEventListener('track', (e) => {
      if (e.track.kind === 'audio') this.update({ remote: e.streams[0] ?? new MediaStream([e.track]) });
    });
  }

  private finish(m: Message, cause: string): void {
    if (this.view.state === 'ended') return;
    const reason = reasonOf(m);
    let problem = reason;
    if (!problem && this.view.state !== 'connected' && this.view.state !== 'held') {
      const status = m?.status_code;
      if (status === 486 || cause === 'Busy') problem = 'Busy.';
      else if (status === 480 || cause === 'Unavailable') problem = 'Not available: they are not signed in anywhere.';
      else if (status === 404 || cause === 'Not Found') problem = 'There is no such user.';
      else if (cause === 'Rejected') problem = 'Declined.';
      else if (cause === 'Canceled') problem = this.view.direction === 'in' ? 'Missed.' : '';
      else if (cause === 'User Denied Media Access') problem = 'This browser may not use the microphone.';
      else if (cause && cause !== 'Terminated' && cause !== 'Bye') problem = `The call failed (${cause}).`;
    }
    this.update({ state: 'ended', problem });
  }

  private update(part: Partial<CallView>): void {
    this.view = { ...this.view, ...part };
    this.changed(this.view);
  }

  // How the call goes into the history.
  entry(): HistoryEntry {
    const v = this.view;
    const seconds = v.connectedAt ? Math.round((Date.now() - v.connectedAt.getTime()) / 1000) : 0;
    let outcome = v.connectedAt ? 'answered' : v.problem || (v.direction === 'in' ? 'missed' : 'not answered');
    if (!v.connectedAt && v.problem === 'Missed.') outcome = 'missed';
    return { peer: v.peer, direction: v.direction, at: v.startedAt.toISOString(), seconds, outcome, recorded: v.recorded };
  }
}
