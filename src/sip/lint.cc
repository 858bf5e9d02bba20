#include "sip/lint.h"

#include "common/strings.h"
#include "sip/message.h"

namespace verbatim::sip {

namespace {

using nlohmann::json;

std::string text(std::string_view s) { return std::string(s); }

// JSON strings must be valid UTF-8; SIP text may not be (escaped NULs, binary bodies).
std::string printable(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (c >= 0x20 && c < 0x7f) {
      out.push_back(static_cast<char>(c));
    } else if (c == '\r' || c == '\n' || c == '\t') {
      out.push_back(static_cast<char>(c));
    } else {
      static const char* hex = "0123456789abcdef";
      out += "\\x";
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  return out;
}

json params_json(const std::vector<Param>& ps) {
  json j = json::object();
  for (const auto& p : ps)
    j[printable(p.name)] = p.value ? json(printable(*p.value)) : json(nullptr);
  return j;
}

json uri_json(const Uri& u) {
  json j = {{"text", printable(u.text)}, {"scheme", printable(u.scheme_text)}};
  if (u.scheme == Uri::Scheme::kOther) return j;
  if (!u.user.empty()) {
    j["user"] = printable(u.user);
    if (u.user_unescaped() != u.user) j["userUnescaped"] = printable(u.user_unescaped());
  }
  if (!u.host.empty()) j["host"] = text(u.host);
  if (u.port) j["port"] = *u.port;
  if (!u.params.empty()) j["params"] = params_json(u.params);
  if (!u.headers.empty()) j["headers"] = params_json(u.headers);
  return j;
}

json name_addr_json(const NameAddr& na) {
  json j = {{"uri", uri_json(na.uri)}};
  if (!na.display_name.empty()) j["displayName"] = printable(unquote(na.display_name));
  if (!na.params.empty()) j["params"] = params_json(na.params);
  return j;
}

std::string normalise_line_ends(std::string_view in) {
  std::string out;
  out.reserve(in.size() + in.size() / 16);
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '\n' && (i == 0 || in[i - 1] != '\r')) out.push_back('\r');
    out.push_back(in[i]);
  }
  return out;
}

}  // namespace

json LintReport::to_json() const {
  json j = {{"valid", valid}, {"problems", problems}, {"notes", notes}};
  if (!parsed.is_null()) j["message"] = parsed;
  return j;
}

std::string LintReport::to_text() const {
  std::string s = valid ? "valid" : "invalid";
  if (!parsed.is_null()) {
    s += parsed.contains("method") ? ": " + parsed["method"].get<std::string>() + " " +
                                         parsed["requestUri"]["text"].get<std::string>()
                                   : ": response " + std::to_string(parsed["status"].get<int>());
    s += " (" + std::to_string(parsed["headers"].size()) + " header fields, body " +
         std::to_string(parsed["bodyLength"].get<size_t>()) + " bytes)";
  }
  s += "\n";
  for (const auto& p : problems) s += "  problem: " + p + "\n";
  for (const auto& n : notes) s += "  note: " + n + "\n";
  return s;
}

std::string read_capture(std::string_view bytes, std::vector<std::string>* notes) {
  std::string data(bytes);
  const size_t head_end = data.find("\n\n");
  if (data.find("\r\n") == std::string::npos && data.find('\n') != std::string::npos) {
    // Pasted with LF line ends: the header section certainly had CRLF on the wire; the body
    // too when Content-Length says so.
    const std::string head = normalise_line_ends(std::string_view(data).substr(
        0, head_end == std::string::npos ? data.size() : head_end + 2));
    const std::string body = head_end == std::string::npos ? "" : data.substr(head_end + 2);
    std::string candidate = head + body;
    auto m = Message::parse(candidate);
    if (!m && head_end != std::string::npos) {
      std::string both = head + normalise_line_ends(body);
      if (Message::parse(both)) candidate = std::move(both);
    }
    data = std::move(candidate);
    if (notes) notes->emplace_back("line ends were LF only; read as CRLF");
  }
  return data;
}

LintReport lint_message(std::string_view bytes) {
  LintReport r;
  const std::string data = read_capture(bytes, &r.notes);
  auto m = Message::parse(data);
  if (!m) {
    const auto& e = m.error();
    r.problems.push_back(e.describe() +
                         (e.status == 0 ? " (a response like this is discarded)" : ""));
    return r;
  }
  const Message& msg = m.value();
  for (const auto& e : problems(msg)) {
    r.problems.push_back(e.describe() +
                         (e.status == 0 ? " (a response like this is discarded)" : ""));
  }
  r.valid = r.problems.empty();
  size_t lead = 0;
  while (lead < data.size() && (data[lead] == '\r' || data[lead] == '\n')) ++lead;
  if (const size_t used = lead + msg.serialize().size(); data.size() > used) {
    r.notes.push_back(std::to_string(data.size() - used) +
                      " bytes after the body are ignored (RFC 3261 §18.3)");
  }

  json j;
  if (msg.is_request()) {
    j["method"] = printable(msg.method());
    auto uri = parse_uri(msg.request_uri());
    j["requestUri"] = uri ? uri_json(uri.value()) : json{{"text", printable(msg.request_uri())}};
    static const char* known[] = {"INVITE",   "ACK",    "BYE",       "CANCEL", "OPTIONS",
                                  "REGISTER", "PRACK",  "UPDATE",    "INFO",   "MESSAGE",
                                  "REFER",    "NOTIFY", "SUBSCRIBE", "PUBLISH"};
    bool is_known = false;
    for (const char* k : known) is_known |= msg.method() == k;
    if (!is_known && r.valid) {
      r.notes.push_back("unknown method " + printable(msg.method()) +
                        ": a UAS answers 501 Not Implemented with Allow");
    }
    if (uri && !uri.value().is_sip() && r.valid) {
      r.notes.push_back("Request-URI scheme " + printable(uri.value().scheme_text) +
                        ": a UAS that does not support it answers 416 Unsupported URI Scheme");
    }
    if (auto mf = msg.max_forwards(); mf && mf.value() == 0) {
      r.notes.emplace_back("Max-Forwards is 0: a proxy answers 483 Too Many Hops");
    }
  } else {
    j["status"] = msg.status();
    j["reason"] = printable(msg.reason());
  }
  j["version"] = printable(msg.version());
  json headers = json::array();
  for (const Header& h : msg.headers()) {
    headers.push_back(
        {{"name", printable(h.name)}, {"value", printable(h.value)}, {"line", h.line}});
  }
  j["headers"] = headers;
  if (auto v = msg.vias()) {
    json vias = json::array();
    for (const auto& via : v.value()) {
      json x = {{"transport", text(via.transport)}, {"host", text(via.host)}};
      if (via.port) x["port"] = *via.port;
      if (!via.params.empty()) x["params"] = params_json(via.params);
      vias.push_back(x);
      if (const auto b = via.branch(); r.valid && (!b || b->rfind("z9hG4bK", 0) != 0)) {
        r.notes.emplace_back(
            "a Via without the z9hG4bK branch cookie: RFC 2543 transaction matching applies");
      }
    }
    j["via"] = vias;
  }
  if (auto f = msg.from()) j["from"] = name_addr_json(f.value());
  if (auto t = msg.to()) j["to"] = name_addr_json(t.value());
  if (auto c = msg.call_id()) j["callId"] = printable(c.value());
  if (auto c = msg.cseq())
    j["cseq"] = {{"number", c.value().number}, {"method", printable(c.value().method)}};
  if (auto mf = msg.max_forwards()) j["maxForwards"] = mf.value();
  if (auto c = msg.contacts(); c && !c.value().empty()) {
    json cs = json::array();
    for (const auto& na : c.value()) cs.push_back(name_addr_json(na));
    j["contact"] = cs;
  }
  if (auto ct = msg.content_type()) {
    j["contentType"] = text(ct.value().type) + "/" + text(ct.value().subtype);
  }
  j["bodyLength"] = msg.body().size();
  r.parsed = j;
  return r;
}

}  // namespace verbatim::sip
