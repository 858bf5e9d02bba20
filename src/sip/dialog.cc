#include "sip/dialog.h"

#include <algorithm>

#include "common/strings.h"

namespace verbatim::sip {

namespace {

Error bad(const std::string& why) { return make_error(ErrorCode::kInvalidArgument, why); }

std::string without_params(const NameAddr& na) {
  // The URI part of a From/To as it should appear in new requests (display name kept).
  std::string s;
  if (!na.display_name.empty()) s += std::string(na.display_name) + " ";
  s += "<" + std::string(na.uri.text) + ">";
  return s;
}

std::vector<std::string> record_route_values(const Message& m) {
  std::vector<std::string> out;
  for (const Header* h : m.all(HeaderId::kRecordRoute)) {
    auto list = parse_name_addr_list(h->value);
    if (!list) continue;
    for (const auto& na : list.value()) {
      std::string v = "<" + std::string(na.uri.text) + ">";
      for (const auto& p : na.params) {
        v += ";" + std::string(p.name);
        if (p.value) v += "=" + std::string(*p.value);
      }
      out.push_back(v);
    }
  }
  return out;
}

std::optional<std::string> contact_uri(const Message& m) {
  auto c = m.contacts();
  if (!c || c.value().empty()) return std::nullopt;
  return std::string(c.value().front().uri.text);
}

}  // namespace

std::string Dialog::id() const { return call_id_ + ";" + local_tag_ + ";" + remote_tag_; }

std::string Dialog::id_of(const Message& m) {
  auto from = m.from();
  auto to = m.to();
  auto call_id = m.call_id();
  if (!from || !to || !call_id) return {};
  const std::string ftag(from.value().tag().value_or(""));
  const std::string ttag(to.value().tag().value_or(""));
  // In a request we receive our tag is in To (whichever side created the dialog); in a
  // response we receive, it is in From.
  const bool local_in_from = !m.is_request();
  return std::string(call_id.value()) + ";" + (local_in_from ? ftag : ttag) + ";" +
         (local_in_from ? ttag : ftag);
}

Result<Dialog> Dialog::as_uas(const Message& request, const Message& response) {
  auto from = request.from();
  auto to = response.to();
  auto call_id = request.call_id();
  auto cseq = request.cseq();
  if (!from || !to || !call_id || !cseq) return bad("the request lacks the headers of a dialog");
  if (!to.value().tag() || to.value().tag()->empty()) return bad("the response has no To tag");
  Dialog d;
  d.uac_ = false;
  d.call_id_ = std::string(call_id.value());
  d.local_tag_ = std::string(*to.value().tag());
  d.remote_tag_ = std::string(from.value().tag().value_or(""));
  d.local_uri_ = without_params(to.value());
  d.remote_uri_ = without_params(from.value());
  auto target = contact_uri(request);
  if (!target) return bad("the request has no Contact");
  d.remote_target_ = *target;
  d.route_set_ = record_route_values(request);  // in order, as received
  d.remote_cseq_ = cseq.value().number;
  d.state_ = response.status() < 200 ? State::kEarly : State::kConfirmed;
  return d;
}

Result<Dialog> Dialog::as_uac(const Message& request, const Message& response) {
  auto from = request.from();
  auto to = response.to();
  auto call_id = request.call_id();
  auto cseq = request.cseq();
  if (!from || !to || !call_id || !cseq) return bad("the messages lack the headers of a dialog");
  if (!to.value().tag() || to.value().tag()->empty()) return bad("the response has no To tag");
  Dialog d;
  d.uac_ = true;
  d.call_id_ = std::string(call_id.value());
  d.local_tag_ = std::string(from.value().tag().value_or(""));
  d.remote_tag_ = std::string(*to.value().tag());
  d.local_uri_ = without_params(from.value());
  d.remote_uri_ = without_params(to.value());
  d.remote_target_ = contact_uri(response).value_or(std::string(request.request_uri()));
  d.route_set_ = record_route_values(response);
  std::reverse(d.route_set_.begin(), d.route_set_.end());  // §12.1.2: reversed at the UAC
  d.local_cseq_ = cseq.value().number;
  d.state_ = response.status() < 200 ? State::kEarly : State::kConfirmed;
  return d;
}

Dialog::Saved Dialog::save() const {
  return Saved{call_id_,       local_tag_, remote_tag_, local_uri_, remote_uri_,
               remote_target_, route_set_, local_cseq_, uac_};
}

Dialog Dialog::restore(const Saved& s, uint32_t skip) {
  Dialog d;
  d.call_id_ = s.call_id;
  d.local_tag_ = s.local_tag;
  d.remote_tag_ = s.remote_tag;
  d.local_uri_ = s.local_uri;
  d.remote_uri_ = s.remote_uri;
  d.remote_target_ = s.remote_target;
  d.route_set_ = s.route_set;
  d.local_cseq_ = s.local_cseq + skip;
  d.uac_ = s.uac;
  d.state_ = State::kConfirmed;
  return d;
}

Status Dialog::confirm(const Message& response) {
  if (response.status() < 200 || response.status() >= 300) {
    return bad("only a 2xx confirms a dialog");
  }
  if (auto t = contact_uri(response)) remote_target_ = *t;
  if (uac_) {
    route_set_ = record_route_values(response);
    std::reverse(route_set_.begin(), route_set_.end());
  }
  state_ = State::kConfirmed;
  return ok_status();
}

Message Dialog::make_request(std::string_view method, std::string_view contact,
                             std::optional<uint32_t> ack_for_cseq) {
  std::string request_uri = remote_target_;
  std::vector<std::string> routes = route_set_;
  if (!routes.empty()) {
    auto first = parse_name_addr(routes.front());
    if (first && !first.value().uri.has_param("lr")) {
      // Strict routing (§12.2.1.1): the first route becomes the Request-URI, the remote
      // target goes last.
      request_uri = std::string(first.value().uri.text);
      routes.erase(routes.begin());
      routes.push_back("<" + remote_target_ + ">");
    }
  }
  Message m = Message::request(method, request_uri);
  for (const auto& r : routes) m.add_header("Route", r);
  m.add_header("Max-Forwards", "70");
  m.add_header("From", local_uri_ + (local_tag_.empty() ? "" : ";tag=" + local_tag_));
  m.add_header("To", remote_uri_ + (remote_tag_.empty() ? "" : ";tag=" + remote_tag_));
  m.add_header("Call-ID", call_id_);
  const uint32_t n = ack_for_cseq ? *ack_for_cseq : ++local_cseq_;
  m.add_header("CSeq", std::to_string(n) + " " + std::string(method));
  if (!contact.empty() && method != "ACK" && method != "BYE") m.add_header("Contact", contact);
  return m;
}

Result<void> Dialog::receive(const Message& request) {
  auto cseq = request.cseq();
  if (!cseq) return cseq.error();
  const std::string_view method = request.method();
  if (method != "ACK" && method != "CANCEL") {
    if (remote_cseq_ && cseq.value().number < *remote_cseq_) {
      return protocol_error(500, "CSeq " + std::to_string(cseq.value().number) +
                                     " is lower than the last one in this dialog (" +
                                     std::to_string(*remote_cseq_) + ")");
    }
    remote_cseq_ = cseq.value().number;
  }
  if (method == "INVITE" || method == "UPDATE") {
    if (auto t = contact_uri(request)) remote_target_ = *t;
  }
  if (method == "BYE") state_ = State::kTerminated;
  return boost::outcome_v2::success();
}

Result<SessionTimer> negotiate_session_timer(const Message& invite, const SessionTimerPolicy& p) {
  bool supported = false;
  if (auto s = invite.tokens(HeaderId::kSupported)) {
    for (auto t : s.value()) supported |= iequals(t, "timer");
  }
  if (auto r = invite.tokens(HeaderId::kRequire)) {
    for (auto t : r.value()) supported |= iequals(t, "timer");
  }
  SessionTimer t;
  const Header* se = invite.find(HeaderId::kSessionExpires);
  if (!se) {
    if (!supported) return t;  // no session timer at all
    t.interval = p.preferred;
    t.refresher_is_uac = true;
    return t;
  }
  // "delta-seconds *(;se-params)", refresher=uac|uas
  const std::string_view v = se->value;
  const size_t semi = v.find(';');
  auto delta = parse_number(v.substr(0, semi), 0xffffffffu);
  if (!delta) return protocol_error(400, "Session-Expires: " + delta.error().message, se->line);
  if (std::chrono::seconds(delta.value()) < p.min_se) {
    return protocol_error(422,
                          "Session-Expires " + std::to_string(delta.value()) +
                              " is below our Min-SE " + std::to_string(p.min_se.count()),
                          se->line);
  }
  t.interval = std::chrono::seconds(delta.value());
  const bool wants_uas = semi != std::string_view::npos &&
                         v.substr(semi).find("refresher=uas") != std::string_view::npos;
  // A UAC that does not support timers cannot refresh (a proxy added Session-Expires): then
  // we, the UAS, do (RFC 4028 §9).
  t.refresher_is_uac = supported && !wants_uas;
  return t;
}

std::string session_expires_value(const SessionTimer& t) {
  return std::to_string(t.interval.count()) + ";refresher=" + (t.refresher_is_uac ? "uac" : "uas");
}

}  // namespace verbatim::sip
