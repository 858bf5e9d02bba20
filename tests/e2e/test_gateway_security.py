"""The security review's findings on the gateway's signalling, each as the attack it names, against
the real gateway on loopback (issue 15): the trunk told from users by source and transport (and
optionally its digest login), calls from the trunk never routed back out to it, Max-Forwards
carried across the B2BUA and loops refused, digest realms from configuration, answers bound to
their Request-URI, and no replay of an answer after a restart."""
import os
import re
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from helpers import free_udp_port, main, wait_until  # noqa: E402
from sip_ua import Message, SipUA  # noqa: E402
from test_gateway import SETUP, GatewayTestCase  # noqa: E402

BOB = "+14255550101"  # Bob's number: what a trunk dials
ALICE = "sip:alice@contoso.com"
OFFER = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
         "m=audio 40000 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\n")


class RawPeer:
    """A UDP (or TCP) socket that sends one request as written and reads the final answer:
    what a trunk, or an attacker posing as one, sends."""

    def __init__(self, port=0, tcp=False, gw_port=None):
        self.tcp = tcp
        kind = socket.SOCK_STREAM if tcp else socket.SOCK_DGRAM
        self.sock = socket.socket(socket.AF_INET, kind)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.port = self.sock.getsockname()[1]
        self.gw = ("127.0.0.1", gw_port)
        if tcp:
            self.sock.connect(self.gw)
        self.buffer = b""

    def invite(self, to_user, extra="", via_extra="", max_forwards=70, call_id=None,
               from_uri="sip:+442071234567@127.0.0.1"):
        self.call_id = call_id or os.urandom(8).hex()
        transport = "TCP" if self.tcp else "UDP"
        text = (f"INVITE sip:{to_user}@127.0.0.1:{self.gw[1]} SIP/2.0\r\n"
                f"Via: SIP/2.0/{transport} 127.0.0.1:{self.port};branch=z9hG4bK{os.urandom(6).hex()};rport\r\n"
                f"{via_extra}"
                f"From: <{from_uri}>;tag={os.urandom(4).hex()}\r\n"
                f"To: <sip:{to_user}@127.0.0.1>\r\nCall-ID: {self.call_id}\r\nCSeq: 1 INVITE\r\n"
                f"Contact: <sip:trunk@127.0.0.1:{self.port}>\r\nMax-Forwards: {max_forwards}\r\n{extra}"
                f"Content-Type: application/sdp\r\nContent-Length: {len(OFFER)}\r\n\r\n{OFFER}")
        if self.tcp:
            self.sock.sendall(text.encode())
        else:
            self.sock.sendto(text.encode(), self.gw)
        return self.final()

    def final(self, timeout=10):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self.sock.settimeout(max(0.05, end - time.monotonic()))
            try:
                data = self.sock.recv(65535)
            except socket.timeout:
                break
            for m in self._messages(data):
                if m.status >= 200 and m.get("call-id") == self.call_id:
                    return m
        raise AssertionError("no final response")

    def _messages(self, data):
        """The whole messages in what was just read: a datagram is one; a TCP stream is framed
        by Content-Length, and one read often holds two answers (a 100 and the final one)."""
        if not self.tcp:
            yield Message(data)
            return
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:
            head, _, rest = self.buffer.partition(b"\r\n\r\n")
            length = re.search(rb"(?im)^(?:content-length|l)\s*:\s*(\d+)", head)
            size = int(length.group(1)) if length else 0
            if len(rest) < size:
                return
            self.buffer = rest[size:]
            yield Message(head + b"\r\n\r\n" + rest[:size])

    def close(self):
        self.sock.close()


class TrunkTest(GatewayTestCase):
    def setUp(self):
        super().setUp()
        self.admin(SETUP)
        self.trunk_port = free_udp_port()

    def test_trunk_trusted_by_address_alone(self):
        """Only requests from the trunk's address and port over its transport are the trunk's.
        The same address from another port, or over TCP, is a stranger: it must authenticate."""
        gw, gw_port = self.start_gateway(trunk=f"127.0.0.1:{self.trunk_port}")
        stranger = RawPeer(gw_port=gw_port)
        r = stranger.invite(BOB, from_uri=ALICE)
        self.assertEqual(r.status, 401, str(r))  # a user must log in; no trunk trust
        self.assertEqual(stranger.invite(BOB).status, 403)  # and a PSTN caller's From is no user
        stranger.close()
        over_tcp = RawPeer(port=self.trunk_port, tcp=True, gw_port=gw_port)
        r = over_tcp.invite(BOB, from_uri=ALICE)
        self.assertEqual(r.status, 401, str(r))
        over_tcp.close()
        trunk = RawPeer(port=self.trunk_port, gw_port=gw_port)
        r = trunk.invite(BOB)
        self.assertEqual(r.status, 480, str(r))  # from the trunk: no login, Bob is not registered
        trunk.close()

    def test_trunk_call_routed_back_out_to_the_trunk(self):
        """A call from the trunk to a number that is no user here is refused, never sent back to
        the trunk (toll fraud through an open relay, and a loop)."""
        gw, gw_port = self.start_gateway(trunk=f"127.0.0.1:{self.trunk_port}")
        trunk = RawPeer(port=self.trunk_port, gw_port=gw_port)
        r = trunk.invite("+19005550199")
        self.assertEqual(r.status, 404, str(r))
        self.assertIn("never routed back out", r.get("warning"))
        # Nothing came back to the trunk: the only datagram it got was the answer.
        trunk.sock.settimeout(0.5)
        with self.assertRaises(socket.timeout):
            while True:
                m = Message(trunk.sock.recv(65535))
                if m.method == "INVITE":
                    self.fail("the gateway sent the call back out to the trunk: " + str(m))
        trunk.close()

    def test_trunk_digest_login_when_configured(self):
        secret = os.path.join(self.tmp, "trunk.pw")
        with open(secret, "w") as f:
            f.write("trunk-pass-9\n")
        os.chmod(secret, 0o600)
        gw, gw_port = self.start_gateway(trunk=f"127.0.0.1:{self.trunk_port}", trunk_username="pstn",
                                         trunk_password_file=secret, sip_domains=["contoso.com"])
        trunk = RawPeer(port=self.trunk_port, gw_port=gw_port)
        r = trunk.invite(BOB)
        self.assertEqual(r.status, 401, str(r))
        ua = SipUA("pstn", "trunk-pass-9", gw_port)
        uri = f"sip:{BOB}@127.0.0.1:{gw_port}"
        auth = ua.authorization(r.get("www-authenticate"), "INVITE", uri)
        r = trunk.invite(BOB, extra=auth)
        self.assertEqual(r.status, 480, str(r))  # logged in as the trunk; Bob is not registered
        wrong = SipUA("pstn", "guess", gw_port).authorization(
            trunk.invite(BOB).get("www-authenticate"), "INVITE", uri)
        self.assertEqual(trunk.invite(BOB, extra=wrong).status, 401)
        ua.close()
        trunk.close()


class LoopTest(GatewayTestCase):
    def test_max_forwards_decremented_across_the_b2bua_and_483_at_zero(self):
        self.admin(SETUP)
        gw, gw_port = self.start_gateway()
        peer = RawPeer(gw_port=gw_port)
        r = peer.invite("bob", max_forwards=0)
        self.assertEqual(r.status, 483, str(r))
        # A registered callee gets the caller's Max-Forwards less one.
        bob = SipUA("bob", "bob-secret-22", gw_port)
        bob.register()
        alice = SipUA("alice", "alice-secret-1", gw_port)
        call_id, tag = os.urandom(8).hex(), os.urandom(4).hex()
        uri = "sip:bob@contoso.com"
        alice.send(alice.request("INVITE", uri, call_id, tag, f"<{uri}>", 1, body=alice.sdp()))
        r = alice.wait_response(call_id, "INVITE")
        self.assertEqual(r.status, 401)
        alice.send(alice.request("ACK", uri, call_id, tag, r.get("to"), 1, branch=alice.branch))
        auth = alice.authorization(r.get("www-authenticate"), "INVITE", uri)
        text = alice.request("INVITE", uri, call_id, tag, f"<{uri}>", 2, auth, body=alice.sdp())
        alice.send(text.replace("Max-Forwards: 70", "Max-Forwards: 9"))
        invite = None
        end = time.monotonic() + 10
        while time.monotonic() < end and invite is None:
            m = bob.receive(0.2)
            if m is not None and m.method == "INVITE":
                invite = m
        self.assertIsNotNone(invite, "\n".join(bob.log))
        self.assertEqual(invite.get("max-forwards"), "8")
        bob.reply(invite, 486, "Busy Here", os.urandom(4).hex())
        self.assertEqual(alice.wait_response(call_id, "INVITE").status, 486)
        alice.close()
        bob.close()

    def test_loop_detected_when_our_own_request_comes_back(self):
        self.admin(SETUP)
        gw, gw_port = self.start_gateway()
        peer = RawPeer(gw_port=gw_port)
        r = peer.invite("bob", via_extra=f"Via: SIP/2.0/UDP 127.0.0.1:{gw_port};branch=z9hG4bKours\r\n")
        self.assertEqual(r.status, 482, str(r))
        peer.close()


class DigestTest(GatewayTestCase):
    def setUp(self):
        super().setUp()
        self.admin(SETUP)

    def register_answer(self, ua, gw_port):
        """A complete, authenticated REGISTER (as it went on the wire) and the 200 it got."""
        call_id, tag = os.urandom(8).hex(), os.urandom(4).hex()
        uri = "sip:contoso.com"
        ua.send(ua.request("REGISTER", uri, call_id, tag, f"<{ua.aor}>", 1, "Expires: 600\r\n"))
        r = ua.wait_response(call_id, "REGISTER")
        self.assertEqual(r.status, 401)
        auth = ua.authorization(r.get("www-authenticate"), "REGISTER", uri)
        text = ua.request("REGISTER", uri, call_id, tag, f"<{ua.aor}>", 2, "Expires: 600\r\n" + auth)
        ua.send(text)
        self.assertEqual(ua.wait_response(call_id, "REGISTER").status, 200)
        return text, call_id

    def test_digest_replay_after_a_restart(self):
        """An authenticated REGISTER captured on the wire and sent again after the gateway
        restarted (its replay table gone) is challenged, not accepted."""
        gw, gw_port = self.start_gateway()
        alice = SipUA("alice", "alice-secret-1", gw_port)
        captured, call_id = self.register_answer(alice, gw_port)
        gw.terminate()
        gw.wait(timeout=30)
        gw2, gw2_port = self.start_gateway()
        attacker = SipUA("alice", "unknown", gw2_port)
        attacker.send(captured.replace("CSeq: 2 REGISTER", "CSeq: 3 REGISTER"))
        r = attacker.wait_response(call_id, "REGISTER")
        self.assertEqual(r.status, 401, str(r))
        self.assertIn("stale=true", r.get("www-authenticate"))
        alice.close()
        attacker.close()

    def test_digest_replay_realm_from_the_request(self):
        """A request naming a domain that is not the tenant's gets 403 and no challenge: the
        realm (and the replay state kept per realm) is never the request's choice."""
        gw, gw_port = self.start_gateway()
        stranger = SipUA("alice", "x", gw_port, domain="attacker-chosen-realm.example")
        call_id, tag = os.urandom(8).hex(), os.urandom(4).hex()
        stranger.send(stranger.request("REGISTER", "sip:attacker-chosen-realm.example", call_id, tag,
                                       f"<{stranger.aor}>", 1, "Expires: 600\r\n"))
        r = stranger.wait_response(call_id, "REGISTER")
        self.assertEqual(r.status, 403, str(r))
        self.assertIn("not a SIP domain of this server", r.get("warning"))
        self.assertIsNone(r.get("www-authenticate"))
        stranger.close()

    def test_digest_replay_answer_moved_to_another_request_uri(self):
        """An INVITE answer computed for one Request-URI does not authenticate a request to
        another (RFC 3261 §22.4)."""
        gw, gw_port = self.start_gateway()
        alice = SipUA("alice", "alice-secret-1", gw_port)
        call_id, tag = os.urandom(8).hex(), os.urandom(4).hex()
        uri = "sip:bob@contoso.com"
        alice.send(alice.request("INVITE", uri, call_id, tag, f"<{uri}>", 1, body=alice.sdp()))
        r = alice.wait_response(call_id, "INVITE")
        alice.send(alice.request("ACK", uri, call_id, tag, r.get("to"), 1, branch=alice.branch))
        auth = alice.authorization(r.get("www-authenticate"), "INVITE", uri)
        other = "sip:carol@contoso.com"
        alice.send(alice.request("INVITE", other, call_id, tag, f"<{other}>", 2, auth, body=alice.sdp()))
        r = alice.wait_response(call_id, "INVITE")
        self.assertEqual(r.status, 401, str(r))
        alice.close()
        self.assertTrue(wait_until(lambda: "an answer for another URI" in open(gw.log).read(), 5))


if __name__ == "__main__":
    main()
