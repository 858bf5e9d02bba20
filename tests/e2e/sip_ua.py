"""A small SIP user agent over UDP for the scenarios the phones at hand cannot play: SIPp runs
one dialog per scenario and Debian's baresip has no attended transfer, so the transferor of an
attended transfer (two dialogs at once, a REFER naming one in the other's Replaces) is this.

It does what a phone does and no more: REGISTER and INVITE with MD5 digest (RFC 2617 with
qop=auth), answer an INVITE, ACK, in-dialog REFER, and answer the NOTIFY/BYE/OPTIONS it gets.
Every wait is bounded; a message it did not expect fails the test with the message in the text.
"""
import hashlib
import os
import re
import socket
import struct
import threading
import time
import urllib.parse


def _md5(s):
    return hashlib.md5(s.encode()).hexdigest()


class Message:
    def __init__(self, data):
        text = data.decode("utf-8", "replace")
        head, _, self.body = text.partition("\r\n\r\n")
        lines = head.split("\r\n")
        self.first = lines[0]
        self.headers = []
        for line in lines[1:]:
            name, _, value = line.partition(":")
            self.headers.append((name.strip().lower(), value.strip()))
        self.status = int(self.first.split()[1]) if self.first.startswith("SIP/2.0") else 0
        self.method = "" if self.status else self.first.split()[0]

    def get(self, name):
        for n, v in self.headers:
            if n == name.lower():
                return v
        return None

    def all(self, name):
        return [v for n, v in self.headers if n == name.lower()]

    def tag(self, header):
        m = re.search(r";\s*tag=([^;>\s]+)", self.get(header) or "")
        return m.group(1) if m else None

    def __str__(self):
        return self.first + "\n" + "\n".join(f"{n}: {v}" for n, v in self.headers) + "\n\n" + self.body


class Dialog:
    def __init__(self, call_id, local_tag, remote_tag, local_uri, remote_uri, target):
        self.call_id, self.local_tag, self.remote_tag = call_id, local_tag, remote_tag
        self.local_uri, self.remote_uri, self.target = local_uri, remote_uri, target
        self.cseq = 1
        self.ended = False

    def talk(self, media_socket, sdp, seconds=30):
        """Sends A-law silence every 20 ms to where `sdp` says, until the dialog ends (at most
        `seconds`): what a phone's microphone would send."""
        host = re.search(r"c=IN IP4 (\S+)", sdp).group(1)
        port = int(re.search(r"m=audio (\d+)", sdp).group(1))
        ssrc = int.from_bytes(os.urandom(4), "big")

        def run():
            for n in range(seconds * 50):
                if self.ended:
                    return
                header = struct.pack("!BBHII", 0x80, 8, n & 0xFFFF, n * 160, ssrc)
                try:
                    media_socket.sendto(header + b"\xd5" * 160, (host, port))
                except OSError:
                    return
                time.sleep(0.02)

        threading.Thread(target=run, daemon=True).start()

    def replaces(self):
        """This dialog as a Replaces value (RFC 3891), escaped for a URI header."""
        value = f"{self.call_id};to-tag={self.remote_tag};from-tag={self.local_tag}"
        return urllib.parse.quote(value, safe="")


class SipUA:
    def __init__(self, user, password, gateway_port, domain="contoso.com"):
        self.user, self.password, self.domain = user, password, domain
        self.gateway = ("127.0.0.1", gateway_port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.media = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # where our SDP says we are
        self.media.bind(("127.0.0.1", 0))
        self.aor = f"sip:{user}@{domain}"
        self.contact = f"<sip:{user}@127.0.0.1:{self.port}>"
        self.pending = []  # requests that arrived while waiting for something else
        self.log = []      # every message, both ways, for failure messages
        self.notify_frags = []

    def close(self):
        self.sock.close()
        self.media.close()

    # --- wire ------------------------------------------------------------------------------

    def send(self, text):
        self.log.append(">>> " + text.split("\r\n")[0])
        self.sock.sendto(text.encode(), self.gateway)

    def receive(self, timeout):
        """The next message, or None after `timeout` seconds."""
        self.sock.settimeout(timeout)
        try:
            data, _ = self.sock.recvfrom(65535)
        except socket.timeout:
            return None
        m = Message(data)
        self.log.append("<<< " + m.first)
        return m

    def sdp(self):
        return ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
                f"m=audio {self.media.getsockname()[1]} RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\n")

    def request(self, method, uri, call_id, from_tag, to, cseq, extra="", body="", ctype=None, branch=None):
        """`branch`: the INVITE's, for the ACK of a non-2xx answer (RFC 3261 §17.1.1.3)."""
        self.branch = branch or "z9hG4bK" + os.urandom(6).hex()
        branch = self.branch
        text = (f"{method} {uri} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP 127.0.0.1:{self.port};branch={branch};rport\r\n"
                f"From: <{self.aor}>;tag={from_tag}\r\nTo: {to}\r\nCall-ID: {call_id}\r\n"
                f"CSeq: {cseq} {method}\r\nContact: {self.contact}\r\nMax-Forwards: 70\r\n{extra}")
        if body:
            text += f"Content-Type: {ctype or 'application/sdp'}\r\n"
        return text + f"Content-Length: {len(body.encode())}\r\n\r\n{body}"

    def reply(self, req, status, reason, to_tag=None, body="", extra=""):
        to = req.get("to")
        if to_tag and ";tag=" not in to:
            to += f";tag={to_tag}"
        text = "SIP/2.0 %d %s\r\n" % (status, reason)
        text += "".join(f"Via: {v}\r\n" for v in req.all("via"))
        text += (f"From: {req.get('from')}\r\nTo: {to}\r\nCall-ID: {req.get('call-id')}\r\n"
                 f"CSeq: {req.get('cseq')}\r\nContact: {self.contact}\r\n{extra}")
        if body:
            text += "Content-Type: application/sdp\r\n"
        self.send(text + f"Content-Length: {len(body.encode())}\r\n\r\n{body}")

    def answer_in_dialog(self, req):
        """The requests a phone in a call answers by itself."""
        if req.method == "NOTIFY":
            self.notify_frags.append(req.body.split("\r\n")[0])
            self.notifies = getattr(self, "notifies", []) + [req]
            self.reply(req, 200, "OK")
        elif req.method == "BYE":
            self.byes = getattr(self, "byes", []) + [req]
            self.reply(req, 200, "OK")
            for d in getattr(self, "dialogs", []):
                if d.call_id == req.get("call-id"):
                    d.ended = True
        elif req.method == "ACK":
            pass
        elif req.method == "REFER":
            # Taken (202); the test acts on it (calls the Refer-To) and reports with notify_refer().
            self.refers = getattr(self, "refers", []) + [req]
            self.reply(req, 202, "Accepted")
        else:
            if req.method == "MESSAGE":
                self.messages = getattr(self, "messages", []) + [req]
            self.reply(req, 200, "OK")

    def wait_response(self, call_id, method, timeout=10):
        """The final response to our request (provisional ones skipped); requests that arrive
        meanwhile are answered."""
        end = time.time() + timeout
        while time.time() < end:
            m = self.receive(max(0.05, end - time.time()))
            if m is None:
                continue
            if m.status:
                if m.get("call-id") == call_id and m.get("cseq").endswith(method) and m.status >= 200:
                    return m
                continue
            self.answer_in_dialog(m)
        raise AssertionError(f"{self.user}: no final response to {method}\n" + "\n".join(self.log))

    def authorization(self, challenge, method, uri):
        fields = dict(re.findall(r'(\w+)="?([^",]*)"?', challenge))
        ha1 = _md5(f"{self.user}:{fields['realm']}:{self.password}")
        ha2 = _md5(f"{method}:{uri}")
        cnonce = os.urandom(8).hex()
        if "qop" in fields:
            resp = _md5(f"{ha1}:{fields['nonce']}:00000001:{cnonce}:auth:{ha2}")
            qop = f', qop=auth, nc=00000001, cnonce="{cnonce}"'
        else:
            resp, qop = _md5(f"{ha1}:{fields['nonce']}:{ha2}"), ""
        opaque = f', opaque="{fields["opaque"]}"' if "opaque" in fields else ""
        return (f'Authorization: Digest username="{self.user}", realm="{fields["realm"]}", '
                f'nonce="{fields["nonce"]}", uri="{uri}", response="{resp}", algorithm=MD5{qop}{opaque}\r\n')

    # --- what a phone does ------------------------------------------------------------------

    def register(self):
        call_id, tag = os.urandom(8).hex(), os.urandom(4).hex()
        uri = f"sip:{self.domain}"
        self.send(self.request("REGISTER", uri, call_id, tag, f"<{self.aor}>", 1, "Expires: 600\r\n"))
        r = self.wait_response(call_id, "REGISTER")
        if r.status == 401:
            auth = self.authorization(r.get("www-authenticate"), "REGISTER", uri)
            self.send(self.request("REGISTER", uri, call_id, tag, f"<{self.aor}>", 2, "Expires: 600\r\n" + auth))
            r = self.wait_response(call_id, "REGISTER")
        assert r.status == 200, str(r)

    def answer(self, timeout=20):
        """Waits for an INVITE, rings, answers; the dialog."""
        end = time.time() + timeout
        while time.time() < end:
            m = self.receive(max(0.05, end - time.time()))
            if m is None:
                continue
            if m.method != "INVITE":
                if not m.status:
                    self.answer_in_dialog(m)
                continue
            tag = os.urandom(4).hex()
            self.reply(m, 180, "Ringing", tag)
            self.reply(m, 200, "OK", tag, self.sdp())
            target = re.search(r"<([^>]+)>", m.get("contact")).group(1)
            d = Dialog(m.get("call-id"), tag, m.tag("from"), self.aor,
                       re.search(r"<([^>]+)>", m.get("from")).group(1), target)
            self.dialogs = getattr(self, "dialogs", []) + [d]
            self.wait_request("ACK", d.call_id)
            d.talk(self.media, m.body)
            return d
        raise AssertionError(f"{self.user}: no INVITE\n" + "\n".join(self.log))

    def wait_request(self, method, call_id, timeout=10):
        end = time.time() + timeout
        while time.time() < end:
            m = self.receive(max(0.05, end - time.time()))
            if m is None:
                continue
            if m.method == method and m.get("call-id") == call_id:
                if method not in ("ACK",):
                    self.answer_in_dialog(m)
                return m
            if not m.status:
                self.answer_in_dialog(m)
        raise AssertionError(f"{self.user}: no {method}\n" + "\n".join(self.log))

    def attempt(self, user, sdp=None):
        """An INVITE that may be refused: its final response (a refusal is ACKed)."""
        call_id, tag = os.urandom(8).hex(), os.urandom(4).hex()
        uri = f"sip:{user}@{self.domain}"
        to = f"<{uri}>"
        offer = self.sdp() if sdp is None else sdp
        for cseq in (1, 2):
            auth = "" if cseq == 1 else self.authorization(r.get("www-authenticate"), "INVITE", uri)
            self.send(self.request("INVITE", uri, call_id, tag, to, cseq, auth, body=offer))
            branch = self.branch
            r = self.wait_response(call_id, "INVITE", timeout=15)
            if r.status >= 300:
                self.send(self.request("ACK", uri, call_id, tag, r.get("to"), cseq, branch=branch))
            if r.status != 401:
                return r
        return r

    def serve(self, seconds):
        """Answers what arrives (in-dialog requests: a meeting's chat, a BYE) for `seconds`."""
        end = time.time() + seconds
        while time.time() < end:
            m = self.receive(max(0.01, end - time.time()))
            if m is not None and not m.status:
                self.answer_in_dialog(m)

    def message(self, user, text, ctype="text/plain;charset=utf-8"):
        """A MESSAGE outside any dialog (answering its challenge): the final response."""
        call_id, tag = os.urandom(8).hex(), os.urandom(4).hex()
        uri = f"sip:{user}@{self.domain}"
        auth = ""
        for cseq in (1, 2):
            self.send(self.request("MESSAGE", uri, call_id, tag, f"<{uri}>", cseq, auth, body=text, ctype=ctype))
            r = self.wait_response(call_id, "MESSAGE")
            if r.status != 401:
                return r
            auth = self.authorization(r.get("www-authenticate"), "MESSAGE", uri)
        return r

    def call(self, user, sdp=None, talk=True):
        """Calls another user (or a meeting) through the gateway (answering its challenge); the
        dialog, whose `answer` is the 200's SDP. `sdp`: our offer (default: PCMA on self.media);
        `talk`: send A-law silence as a phone would (else the test sends the media itself)."""
        call_id, tag = os.urandom(8).hex(), os.urandom(4).hex()
        uri = f"sip:{user}@{self.domain}"
        to = f"<{uri}>"
        offer = sdp or self.sdp()
        self.send(self.request("INVITE", uri, call_id, tag, to, 1, body=offer))
        invite_branch = self.branch
        r = self.wait_response(call_id, "INVITE")
        if r.status == 401:
            self.send(self.request("ACK", uri, call_id, tag, r.get("to"), 1, branch=invite_branch))
            auth = self.authorization(r.get("www-authenticate"), "INVITE", uri)
            self.send(self.request("INVITE", uri, call_id, tag, to, 2, auth, body=offer))
            r = self.wait_response(call_id, "INVITE", timeout=15)
        assert r.status == 200, str(r)
        target = re.search(r"<([^>]+)>", r.get("contact")).group(1)
        d = Dialog(call_id, tag, r.tag("to"), self.aor, uri, target)
        d.cseq = 2
        self.send(self.request("ACK", target, call_id, tag, r.get("to"), d.cseq))
        self.dialogs = getattr(self, "dialogs", []) + [d]
        d.answer = r.body
        d.response = r
        if talk:
            d.talk(self.media, r.body)
        return d

    def in_dialog(self, d, method, extra="", body="", ctype=None):
        d.cseq += 1
        to = f"<{d.remote_uri}>;tag={d.remote_tag}"
        self.send(self.request(method, d.target, d.call_id, d.local_tag, to, d.cseq, extra, body, ctype))
        return self.wait_response(d.call_id, method)

    def notify_refer(self, d, status, reason):
        """The REFER's outcome as a phone reports it (RFC 3515 §2.4.5: message/sipfrag)."""
        state = "active;expires=60" if status < 200 else "terminated;reason=noresource"
        return self.in_dialog(d, "NOTIFY", f"Event: refer\r\nSubscription-State: {state}\r\n",
                              f"SIP/2.0 {status} {reason}\r\n", "message/sipfrag")

    def hold(self, d):
        r = self.in_dialog(d, "INVITE", body=self.sdp().replace("a=rtpmap", "a=sendonly\r\na=rtpmap"))
        self.send(self.request("ACK", d.target, d.call_id, d.local_tag, r.get("to"), d.cseq))
        return r

    def attended_transfer(self, held, consultation, to_user):
        """REFER on `held` naming `consultation` in Replaces (RFC 5589 §7)."""
        refer_to = f"<sip:{to_user}@{self.domain}?Replaces={consultation.replaces()}>"
        return self.in_dialog(held, "REFER", f"Refer-To: {refer_to}\r\nReferred-By: <{self.aor}>\r\n")

    def serve_until(self, done, timeout=15):
        """Answers what arrives until done() is true."""
        end = time.time() + timeout
        while time.time() < end and not done():
            m = self.receive(0.2)
            if m is not None and not m.status:
                self.answer_in_dialog(m)
        return done()


class TlsSipUA(SipUA):
    """The same phone over TLS (RFC 3261 §26, connection reuse as RFC 5923 says): one TLS
    connection to the gateway carries its requests and the gateway's, verified against `cafile`.
    Its SDP offers SRTP with an SDES key (RFC 4568), which only ever travels inside TLS."""

    def __init__(self, user, password, gateway_tls_port, cafile, domain="contoso.com", certfile=None):
        import base64
        import ssl
        super().__init__(user, password, gateway_tls_port, domain)
        ctx = ssl.create_default_context(cafile=cafile)
        if certfile:
            ctx.load_cert_chain(*certfile)
        self.tls = ctx.wrap_socket(socket.create_connection(("127.0.0.1", gateway_tls_port)),
                                   server_hostname="127.0.0.1")
        self.port = self.tls.getsockname()[1]
        self.contact = f"<sip:{user}@127.0.0.1:{self.port};transport=tls>"
        self.key = base64.b64encode(os.urandom(30)).decode()
        self.buffer = b""

    def close(self):
        self.tls.close()
        super().close()

    def request(self, *args, **kwargs):
        return super().request(*args, **kwargs).replace("Via: SIP/2.0/UDP", "Via: SIP/2.0/TLS", 1)

    def send(self, text):
        self.log.append(">>> " + text.split("\r\n")[0])
        self.tls.sendall(text.encode())

    def receive(self, timeout):
        end = time.time() + timeout
        while True:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end >= 0:
                head = self.buffer[:head_end].decode("utf-8", "replace")
                m = re.search(r"^(?:Content-Length|l)\s*:\s*(\d+)", head, re.M | re.I)
                total = head_end + 4 + (int(m.group(1)) if m else 0)
                if len(self.buffer) >= total:
                    data, self.buffer = self.buffer[:total], self.buffer[total:]
                    msg = Message(data)
                    self.log.append("<<< " + msg.first)
                    return msg
            left = end - time.time()
            if left <= 0:
                return None
            self.tls.settimeout(left)
            try:
                chunk = self.tls.recv(65535)
            except (socket.timeout, TimeoutError):
                return None
            if not chunk:
                return None
            self.buffer += chunk

    def sdp(self):
        return ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
                f"m=audio {self.media.getsockname()[1]} RTP/SAVP 8\r\na=rtpmap:8 PCMA/8000\r\n"
                f"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{self.key}\r\n")
