// `verbatim meeting create | list | show | cancel`: meetings and their dial-in PINs
// (common/meetings.h), in <data_dir>/meetings.db beside the policy model; and `mute | unmute |
// remove` for a meeting in progress, carried out by the gateway that has it.
#include <chrono>
#include <iostream>

#include <fmt/format.h>

#include "app/cli.h"
#include "common/call_control.h"
#include "common/data_paths.h"
#include "common/exit_codes.h"
#include "common/meetings.h"
#include "policy/organizer.h"

namespace verbatim::cli {
namespace {

Result<std::unique_ptr<MeetingStore>> open_meetings(const Env& env) {
  return MeetingStore::open(DataPaths(env.config.data_dir).meetings_db());
}

void print_meeting(const Meeting& m) {
  std::cout << fmt::format(
      "meeting {}\n  uri:       {}\n  PIN:       {}\n  organiser: {}\n  subject:   {}\n", m.id,
      m.uri, m.pin, m.organizer, m.subject);
  if (!m.starts_at.empty()) std::cout << "  start:     " << m.starts_at << "\n";
  std::cout << "  created:   " << m.created_at << " by " << m.created_by << "\n";
  if (m.cancelled()) {
    std::cout << "  cancelled: " << m.cancelled_at << " by " << m.cancelled_by << ": "
              << m.cancel_reason << "\n";
  }
}

int run_create(Env& env, NewMeeting n, bool as_json) {
  auto svc = open_service(env);
  if (!svc) return fail(kExitUsage, svc.error().message);
  auto checked = policy::with_organizer(svc.value()->state(), std::move(n));
  if (!checked) return fail(kExitUsage, checked.error().message);
  checked.value().created_by = default_actor();
  auto store = open_meetings(env);
  if (!store) return fail(kExitUsage, store.error().message);
  auto m = store.value()->create(checked.value());
  if (!m) return fail(kExitUsage, m.error().message);
  if (as_json) {
    std::cout << m.value().to_json().dump(2) << "\n";
  } else {
    print_meeting(m.value());
  }
  return kExitOk;
}

int run_list(Env& env, const std::string& organizer, bool all, bool as_json) {
  auto store = open_meetings(env);
  if (!store) return fail(kExitUsage, store.error().message);
  auto list = store.value()->list(organizer, all);
  if (!list) return fail(kExitUsage, list.error().message);
  if (as_json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& m : list.value()) out.push_back(m.to_json());
    std::cout << out.dump(2) << "\n";
    return kExitOk;
  }
  std::cout << fmt::format("{:<10}  {:<21}  {:<12}  {:<28}  {}\n", "ID", "START", "PIN",
                           "ORGANISER", "SUBJECT");
  for (const auto& m : list.value()) {
    std::cout << fmt::format("{:<10}  {:<21}  {:<12}  {:<28}  {}{}\n", m.id,
                             m.starts_at.empty() ? "-" : m.starts_at, m.pin, m.organizer, m.subject,
                             m.cancelled() ? " (cancelled)" : "");
  }
  return kExitOk;
}

int run_show(Env& env, const std::string& id, bool as_json) {
  auto store = open_meetings(env);
  if (!store) return fail(kExitUsage, store.error().message);
  auto m = store.value()->get(id);
  if (!m) return fail(kExitUsage, m.error().message);
  if (!m.value()) return fail(kExitFinding, "no meeting " + id);
  if (as_json) {
    std::cout << m.value()->to_json().dump(2) << "\n";
  } else {
    print_meeting(*m.value());
  }
  return kExitOk;
}

int run_cancel(Env& env, const std::string& id, const std::string& reason) {
  if (reason.empty()) return fail(kExitUsage, "--reason: say why the meeting is cancelled");
  auto store = open_meetings(env);
  if (!store) return fail(kExitUsage, store.error().message);
  auto done = store.value()->cancel(id, default_actor(), reason);
  if (!done) return fail(kExitUsage, done.error().message);
  if (!done.value()) return fail(kExitFinding, "no meeting " + id + " that stands");
  std::cout << "meeting " << id << " cancelled; its PIN is free\n";
  return kExitOk;
}

// The organiser's controls of a meeting in progress: asked of the gateway that has it through
// the call control table (common/call_control.h), whose answer is waited for.
int run_control(Env& env, const std::string& action, const std::string& id, std::string participant,
                const std::string& reason) {
  auto store = open_meetings(env);
  if (!store) return fail(kExitUsage, store.error().message);
  auto m = store.value()->get(id);
  if (!m) return fail(kExitUsage, m.error().message);
  if (!m.value()) return fail(kExitUsage, "no meeting " + id);
  if (participant.find(':') == std::string::npos) participant = "sip:" + participant;
  auto control = CallControl::open(DataPaths(env.config.data_dir).call_control_db());
  if (!control) return fail(kExitUsage, control.error().message);
  ControlRequest r;
  r.call_id = "meet-" + id;
  r.action = action;
  r.party = participant;
  r.requested_by = default_actor();
  r.reason = reason;
  auto asked = control.value()->request(r);
  if (!asked) return fail(kExitUsage, asked.error().message);
  auto answer =
      control.value()->wait_answer(asked.value(), std::chrono::seconds(4), std::chrono::seconds(2));
  if (!answer) return fail(kExitUsage, answer.error().message);
  if (!answer.value()) {
    return fail(kExitFinding, "meeting " + id +
                                  " is not in progress at a running gateway (none answered "
                                  "within 4 s)");
  }
  if (answer.value()->state != "done") return fail(kExitFinding, answer.value()->result);
  std::cout << answer.value()->result << "\n";
  return kExitOk;
}

}  // namespace

void add_meeting_commands(CLI::App& app, Commands& commands) {
  struct Args {
    NewMeeting meeting;
    std::string id, organizer, reason, participant;
    bool all = false, json = false;
  };
  auto a = std::make_shared<Args>();
  auto* meeting = app.add_subcommand("meeting", "meetings: conference URIs with a dial-in PIN");
  meeting->require_subcommand(1);
  auto* create = meeting->add_subcommand("create", "schedule a meeting; prints its URI and PIN");
  create->add_option("--organizer", a->meeting.organizer, "the organiser: a directory user's UPN")
      ->required();
  create->add_option("--subject", a->meeting.subject, "what the meeting is about")->required();
  create->add_option("--start", a->meeting.start, "when it starts (ISO 8601)");
  create->add_option("--pin", a->meeting.pin, "the dial-in PIN, 4-12 digits (default: 9 random)");
  create->add_flag("--json", a->json, "print JSON");
  commands.on(create, [a](Env& env) { return run_create(env, a->meeting, a->json); });
  auto* list = meeting->add_subcommand("list", "the meetings, newest first");
  list->add_option("--organizer", a->organizer, "only this organiser's (UPN)");
  list->add_flag("--all", a->all, "cancelled ones too");
  list->add_flag("--json", a->json, "print JSON");
  commands.on(list, [a](Env& env) { return run_list(env, a->organizer, a->all, a->json); });
  auto* show = meeting->add_subcommand("show", "one meeting");
  show->add_option("id", a->id, "the meeting's id")->required();
  show->add_flag("--json", a->json, "print JSON");
  commands.on(show, [a](Env& env) { return run_show(env, a->id, a->json); });
  auto* cancel = meeting->add_subcommand("cancel", "cancel a meeting (kept, with who and why)");
  cancel->add_option("id", a->id, "the meeting's id")->required();
  cancel->add_option("--reason", a->reason, "why")->required();
  commands.on(cancel, [a](Env& env) { return run_cancel(env, a->id, a->reason); });
  for (const auto& [action, what] :
       {std::pair<std::string, std::string>{"mute",
                                            "mute a member: no one hears them (their "
                                            "recorders still do)"},
        {"unmute", "let a muted member be heard again"},
        {"remove", "remove a member from the meeting (their call ends, with why)"}}) {
    auto* c = meeting->add_subcommand(action, what + " (a meeting in progress)");
    c->add_option("id", a->id, "the meeting's id")->required();
    c->add_option("--participant", a->participant, "the member's SIP address or user")->required();
    c->add_option("--reason", a->reason, "why (logged)");
    commands.on(c, [a, name = action](Env& env) {
      return run_control(env, name, a->id, a->participant, a->reason);
    });
  }
}

}  // namespace verbatim::cli
