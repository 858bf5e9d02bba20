// A meeting in the web client: the INVITE to the meeting's URI (sip:meet-<id>@<domain>) with
// audio and, when asked, the camera; a screen share added and removed by re-INVITE (its m-line
// marked a=content:slides, RFC 4796, which is how the gateway tells it from a camera); the
// roster from the conference event package (RFC 4575: an in-dialog SUBSCRIBE, NOTIFYs with
// conference-info XML); chat as MESSAGE to the meeting's URI, and the others' messages as
// in-dialog MESSAGEs in message/cpim (RFC 3862) saying who wrote them.
//
// JsSIP answers in-dialog NOTIFYs other than `refer` with 489 and in-dialog MESSAGEs with 501:
// the session's two request handlers are wrapped here so that the conference NOTIFYs and the
// meeting's MESSAGEs are taken (and everything else still goes to JsSIP).
import type { RTCSession } from 'jssip/lib/RTCSession';

export interface RosterEntry {
  aor: string;
  name: string;
  recorded: boolean;
  presenting: boolean;
  screen: boolean; // shares its screen
}

export interface MeetingChatLine {
  id: number;
  from: string;
  text: string;
  at: Date;
}

type IncomingRequest = {
  method: string;
  body: string;
  event?: { event: string };
  getHeader(name: string): string | undefined;
  reply(code: number, reason?: string): void;
};

// The roster of a conference-info document (the gateway's: one <user> per address, its
// endpoints' media, and vb: extensions for recorded and presenting).
export function parseRoster(xml: string): RosterEntry[] {
  const doc = new DOMParser().parseFromString(xml, 'application/xml');
  const out: RosterEntry[] = [];
  for (const user of Array.from(doc.getElementsByTagNameNS('*', 'user'))) {
    const aor = (user.getAttribute('entity') ?? '').replace(/^sips?:/, '');
    const direct = (name: string) => Array.from(user.children).find((c) => c.localName === name);
    const media = Array.from(user.getElementsByTagNameNS('*', 'media'));
    out.push({
      aor,
      name: direct('display-text')?.textContent ?? aor,
      recorded: direct('recorded')?.textContent === 'true',
      presenting: Array.from(user.getElementsByTagNameNS('*', 'presenting')).some((p) => p.textContent === 'true'),
      screen: media.some((m) =>
        Array.from(m.children).some((c) => c.localName === 'display-text' && c.textContent === 'screen share'),
      ),
    });
  }
  return out;
}

// A message/cpim body: who wrote it and the text.
export function parseCpim(body: string): { from: string; text: string } | null {
  const parts = body.replace(/\r\n/g, '\n').split('\n\n');
  if (parts.length < 3) return null;
  const from = /^From:\s*(.*)$/m.exec(parts[0])?.[1] ?? '';
  const address = /<sips?:([^>]*)>/.exec(from)?.[1] ?? from;
  return { from: address, text: parts.slice(2).join('\n\n') };
}

// Marks the m-section that carries `trackId` (its a=msid names it) as a screen share.
export function markSlides(sdp: string, trackId: string): string {
  return sdp
    .split(/(?=\r\nm=)/)
    .map((s) => {
      if (!s.startsWith('\r\nm=video') || !s.includes(trackId) || s.includes('a=content:slides')) return s;
      return s.endsWith('\r\n') ? s + 'a=content:slides\r\n' : s + '\r\na=content:slides';
    })
    .join('');
}

let nextLine = 1;

export class Meeting {
  roster: RosterEntry[] = [];
  chat: MeetingChatLine[] = [];
  cameras: MediaStream[] = []; // the others' video, as the gateway sends it: the speaker's camera
  screen: MediaStream | null = null; // the presenter's screen
  private share: { stream: MediaStream; sender: RTCRtpSender } | null = null;

  constructor(
    readonly session: RTCSession,
    readonly uri: string,
    private changed: () => void,
  ) {
    const s = session as unknown as {
      on(event: string, fn: (e: Record<string, unknown>) => void): void;
      _receiveNotify(r: IncomingRequest): void;
      receiveRequest(r: IncomingRequest): void;
    };
    const notify = s._receiveNotify.bind(session);
    s._receiveNotify = (r) => {
      if (r.event?.event !== 'conference') return notify(r);
      r.reply(200);
      if (r.body) this.roster = parseRoster(r.body);
      this.changed();
    };
    const receive = s.receiveRequest.bind(session);
    s.receiveRequest = (r) => {
      if (r.method !== 'MESSAGE') return receive(r);
      r.reply(200);
      const m = /cpim/i.test(r.getHeader('Content-Type') ?? '') ? parseCpim(r.body) : { from: '', text: r.body };
      if (m) this.chat = [...this.chat, { id: nextLine++, from: m.from, text: m.text, at: new Date() }];
      this.changed();
    };
    s.on('sdp', (e) => {
      if (e.originator === 'local' && e.type === 'offer' && this.share) {
        e.sdp = markSlides(String(e.sdp), this.share.stream.getVideoTracks()[0].id);
      }
    });
    s.on('confirmed', () => {
      // RTCSession.sendRequest is JsSIP's (in the dialog), if not in its type declarations.
      (session as unknown as { sendRequest(method: string, options: object): void }).sendRequest('SUBSCRIBE', {
        extraHeaders: ['Event: conference', 'Expires: 3600', 'Accept: application/conference-info+xml'],
      });
    });
    s.on('peerconnection', (e) => this.watch(e.peerconnection as RTCPeerConnection));
  }

  private watch(pc: RTCPeerConnection): void {
    pc.addEventListener('track', (e) => {
      if (e.track.kind !== 'video') return;
      const stream = new MediaStream([e.track]);
      // The gateway answers the camera's m-line first and the screen share's after it.
      if (this.cameras.length === 0) this.cameras = [stream];
      else this.screen = stream;
      this.changed();
    });
  }

  get sharing(): boolean {
    return this.share !== null;
  }

  // Shares the screen (the browser asks which one); a re-INVITE adds it as slides.
  async startShare(): Promise<void> {
    const pc = (this.session as unknown as { connection: RTCPeerConnection }).connection;
    const stream = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
    const track = stream.getVideoTracks()[0];
    const sender = pc.addTrack(track, stream);
    this.share = { stream, sender };
    track.addEventListener('ended', () => void this.stopShare());
    this.session.renegotiate();
    this.changed();
  }

  async stopShare(): Promise<void> {
    if (!this.share) return;
    const pc = (this.session as unknown as { connection: RTCPeerConnection }).connection;
    for (const t of this.share.stream.getTracks()) t.stop();
    pc.removeTrack(this.share.sender);
    this.share = null;
    this.session.renegotiate();
    this.changed();
  }

  send(text: string, via: (uri: string, text: string) => void): void {
    via(this.uri, text);
    this.chat = [...this.chat, { id: nextLine++, from: 'me', text, at: new Date() }];
    this.changed();
  }
}
