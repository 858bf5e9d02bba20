"""The CLI as a user drives it: exit codes 0/1/2, atomic scripts, data directory, config,
explain/decide, tokens."""
import json
import time
import os
import stat
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from helpers import BIN, SOURCE_DIR, VerbatimTestCase, http, main  # noqa: E402

SETUP = """
New-VbUser alice@contoso.com -DisplayName Alice -PhoneNumber +14255550100 -DataLocation EUR
New-CsOnlineApplicationInstance -UserPrincipalName rec@contoso.com -DisplayName Rec -ApplicationId 0f2a1b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b
New-VbRecorderEndpoint -ApplicationId 0f2a1b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b -Uri sip:rec.contoso.com -Region EUR
New-CsTeamsComplianceRecordingPolicy Traders -Enabled $true -ComplianceRecordingApplications @(New-CsTeamsComplianceRecordingApplication -Parent Traders -Id rec@contoso.com)
Grant-CsTeamsComplianceRecordingPolicy -Identity alice@contoso.com -PolicyName Traders
"""


class CliTest(VerbatimTestCase):
    def test_script_file_success_and_state_persists(self):
        path = os.path.join(self.tmp, "setup.ps1")
        with open(path, "w") as f:
            f.write(SETUP)
        self.run_vb("admin", path, check=0)
        r = self.run_vb("admin", "-c", "Get-CsOnlineUser alice@contoso.com | select TeamsComplianceRecordingPolicy", check=0)
        self.assertIn("Traders", r.stdout)
        mode = stat.S_IMODE(os.stat(self.data).st_mode)
        self.assertEqual(mode, 0o700, "the data directory must be owner-only")

    def test_failing_script_exits_1_and_changes_nothing(self):
        r = self.run_vb("admin", "-c", "New-CsTeamsComplianceRecordingPolicy Half\nGet-Bogus", check=1)
        self.assertIn("The term 'Get-Bogus' is not recognized", r.stderr)
        self.assertIn("At line:2 char:1", r.stderr)
        self.assertIn("No changes were made.", r.stderr)
        r = self.run_vb("admin", "-c", "Get-CsTeamsComplianceRecordingPolicy | ft Identity", check=0)
        self.assertNotIn("Half", r.stdout)

    def test_script_on_stdin(self):
        r = self.run_vb("admin", stdin=SETUP + "Get-CsOnlineUser | ft UserPrincipalName\n", check=0)
        self.assertIn("alice@contoso.com", r.stdout)

    def test_usage_and_config_errors_exit_2(self):
        self.run_vb("admin", "--no-such-flag", check=2)
        self.run_vb("--config", os.path.join(self.tmp, "missing.toml"), "config", "show", check=2)
        bad = os.path.join(self.tmp, "bad.toml")
        with open(bad, "w") as f:
            f.write("[log]\nfromat = 'json'\n")
        r = self.run_vb("--config", bad, "config", "show", check=2)
        self.assertIn("log.fromat", r.stderr)
        self.run_vb("admin", os.path.join(self.tmp, "no-such-script.ps1"), check=2)
        self.run_vb("serve", "--roles", "nonsense", check=2)
        self.run_vb("serve", "--http-listen", "not-an-address", check=2)

    def test_config_show_reflects_file_env_and_flags(self):
        cfg = os.path.join(self.tmp, "v.toml")
        with open(cfg, "w") as f:
            f.write("[admin_api]\nlisten = '127.0.0.1:9999'\n[log]\nformat = 'json'\n")
        r = self.run_vb("--config", cfg, "config", "show", check=0)
        self.assertIn("listen = '127.0.0.1:9999'", r.stdout)
        self.assertIn(f"data_dir = '{self.data}'", r.stdout)  # VERBATIM_DATA_DIR
        r = self.run_vb("--config", cfg, "--data-dir", "/srv/x", "config", "show", check=0)
        self.assertIn("data_dir = '/srv/x'", r.stdout)

    def test_explain_and_decide(self):
        self.run_vb("admin", "-c", SETUP, check=0)
        r = self.run_vb("policy", "explain", "alice@contoso.com", check=0)
        self.assertIn("Recorded:   YES", r.stdout)
        self.assertIn("direct assignment -> Tag:Traders", r.stdout)
        # What the meeting flags do, in words.
        self.assertIn("In meetings: one session for the whole meeting", r.stdout)
        self.assertIn("the user joins once it is in", r.stdout)
        j = json.loads(self.run_vb("policy", "explain", "+14255550100", "--json", check=0).stdout)
        self.assertTrue(j["recorded"])
        self.assertEqual(j["assignments"][0]["source"], "Direct")
        self.assertEqual(j["policy"]["invitations"][0]["recorder"]["endpoints"][0]["region"], "EUR")
        self.run_vb("policy", "explain", "nobody@contoso.com", check=1)
        j = json.loads(self.run_vb("policy", "decide", "sip:+14255550100@gw;user=phone", "--json", check=0).stdout)
        self.assertTrue(j["record"])
        j = json.loads(self.run_vb("policy", "decide", "sip:stranger@example.net", "--json", check=0).stdout)
        self.assertFalse(j["knownUser"])

    def test_actor_and_user_trusted_for_the_ledger(self):
        """The audit log names the local user by uid: neither --actor nor $USER decide it."""
        self.run_vb("admin", "--actor", "alice.admin", "-c", "New-VbGroup Desk", check=2)
        env = dict(self.env, USER="someone-else")
        self.run_vb("admin", "-c", "New-VbGroup Desk", env=env, check=0)
        r = self.run_vb("admin", "-c", "Get-VbAuditLog -Last 1", check=0)
        self.assertIn(f"os:{os.getuid()}", r.stdout)
        self.assertNotIn("someone-else", r.stdout)
        self.assertIn("New-VbGroup Desk", r.stdout)

    def test_interactive_shell_comment_with_a_quote_runs(self):
        """In the interactive shell (a terminal), `Get-CsOnlineUser # Bob's phone` runs at once:
        the apostrophe in the comment used to leave the shell waiting for the quote's end."""
        import pty
        import select
        self.run_vb("admin", "-c", "New-VbUser bob@contoso.com -DisplayName 'Bob Broker'", check=0)
        pid, fd = pty.fork()
        if pid == 0:
            os.execve(BIN, [BIN, "admin"], self.env)
        out = b""
        os.write(fd, b"Get-CsOnlineUser | ft DisplayName # Bob's phone\n")
        deadline = time.monotonic() + 10
        while b"Bob Broker" not in out and time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.2)
            if ready:
                try:
                    out += os.read(fd, 4096)
                except OSError:
                    break
        os.write(fd, b"exit\n")
        os.waitpid(pid, 0)
        os.close(fd)
        self.assertIn(b"Bob Broker", out, out.decode(errors="replace"))

    def test_accounts_and_tokens(self):
        self.run_vb("token", "create", "ci", check=1)  # no such account yet
        r = self.run_vb("account", "add", "ci", "--role", "janitor", check=2)
        self.assertIn("compliance-officer", r.stderr)
        self.run_vb("account", "add", "ci", "--role", "auditor", check=0)
        self.run_vb("account", "add", "ci", "--role", "auditor", check=1)
        r = self.run_vb("account", "add", "jane", "--role", "compliance-officer", "--groups", "FX Desk,Rates",
                        "--password-stdin", stdin="correct horse battery staple\n", check=0)
        self.assertIn("scope: groups FX Desk,Rates", r.stdout)
        accounts = json.loads(self.run_vb("account", "list", "--json", check=0).stdout)
        jane = [a for a in accounts if a["name"] == "jane"][0]
        self.assertEqual((jane["role"], jane["groups"], jane["password"]),
                         ("compliance-officer", ["FX Desk", "Rates"], True))
        t = self.run_vb("token", "create", "ci", check=0).stdout.strip()
        self.assertTrue(t.startswith("vbt_"))
        listed = self.run_vb("token", "list", check=0).stdout
        token_id = listed.split()[0]
        self.assertTrue(token_id.startswith("ci-"))
        self.assertIn("\tci\t", listed)
        self.run_vb("token", "revoke", token_id, check=0)
        self.run_vb("token", "revoke", token_id, check=1)

    def test_meetings_from_the_cli_reach_the_running_server_and_back(self):
        """`verbatim meeting create` prints the URI and the PIN; the running REST server lists the
        meeting at once, and one it schedules is the CLI's to show and cancel."""
        self.run_vb("admin", "-c", "New-VbUser alice@contoso.com -DisplayName Alice -SipAddress sip:alice@voice.contoso.com",
                    check=0)
        _, url = self.start_server()
        token = self.token()
        r = self.run_vb("meeting", "create", "--organizer", "alice@contoso.com", "--subject", "Q4 rates review",
                        "--start", "2026-12-09T15:00:00+01:00", "--pin", "482913", check=0)
        self.assertRegex(r.stdout, r"uri:\s+sip:meet-\d{10}@voice\.contoso\.com")
        self.assertRegex(r.stdout, r"PIN:\s+482913")
        self.assertIn("start:     2026-12-09T14:00:00Z", r.stdout)
        status, listed = http("GET", url + "/api/v1/meetings", token)
        self.assertEqual(status, 200, listed)
        self.assertEqual([m["subject"] for m in listed["meetings"]], ["Q4 rates review"])
        # Bad input: a clear error, exit 2, nothing stored.
        r = self.run_vb("meeting", "create", "--organizer", "alice@contoso.com", "--subject", "again", "--pin", "482913",
                        check=2)
        self.assertIn("PIN 482913 is in use by meeting", r.stderr)
        r = self.run_vb("meeting", "create", "--organizer", "mallory@contoso.com", "--subject", "x", check=2)
        self.assertIn("no user mallory@contoso.com in the directory", r.stderr)
        r = self.run_vb("meeting", "create", "--organizer", "alice@contoso.com", "--subject", "x", "--start", "soon",
                        check=2)
        self.assertIn("start: not a time", r.stderr)
        status, made = http("POST", url + "/api/v1/meetings", token,
                            {"organizer": "alice@contoso.com", "subject": "desk huddle"})
        self.assertEqual(status, 201, made)
        self.assertRegex(made["pin"], r"^\d{9}$")
        shown = json.loads(self.run_vb("meeting", "show", made["id"], "--json", check=0).stdout)
        self.assertEqual((shown["subject"], shown["createdBy"]), ("desk huddle", "api:e2e"))
        self.run_vb("meeting", "cancel", made["id"], "--reason", "not needed", check=0)
        self.run_vb("meeting", "cancel", made["id"], "--reason", "not needed", check=1)
        listed = json.loads(self.run_vb("meeting", "list", "--json", check=0).stdout)
        self.assertEqual([m["subject"] for m in listed], ["Q4 rates review"])
        status, one = http("GET", url + "/api/v1/meetings/" + made["id"], token)
        self.assertEqual((status, one["cancelReason"]), (200, "not needed"))

    def test_seed_policy_script_runs_as_pasted(self):
        demo = os.path.join(SOURCE_DIR, "demo")
        self.run_vb("admin", "-c", f"Import-VbDirectory '{demo}/directory/groups.csv'; Import-VbDirectory '{demo}/directory/users.csv'", check=0)
        r = self.run_vb("admin", os.path.join(demo, "seed-policy.ps1"), check=0)
        self.assertIn("TeamsComplianceRecordingPolicy : TestComplianceRecordingPolicy", r.stdout)
        r = self.run_vb("policy", "explain", "testuser@contoso.onmicrosoft.com", check=0)
        self.assertIn("Recorded:   YES", r.stdout)


if __name__ == "__main__":
    main()
