#include "siprec/call_facts.h"

#include <algorithm>
#include <cctype>

#include <pugixml.hpp>

#include "common/strings.h"

namespace verbatim::siprec {

namespace {

constexpr size_t kMaxKey = 64;
constexpr size_t kMaxValue = 256;

std::string unprefixed(const char* qualified) {
  std::string_view n(qualified);
  const auto colon = n.find(':');
  return std::string(colon == std::string_view::npos ? n : n.substr(colon + 1));
}

std::string trimmed(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return std::string(s.substr(0, kMaxValue));
}

bool has_element_children(const pugi::xml_node& n) {
  for (const auto& c : n.children()) {
    if (c.type() == pugi::node_element) return true;
  }
  return false;
}

// Flattens one extension element into (key, value) pairs; `visit` sees every element too.
class Flattener {
 public:
  explicit Flattener(std::vector<std::pair<std::string, std::string>>& out) : out_(out) {}
  void add(std::string key, std::string value) {
    if (key.empty() || value.empty() || out_.size() >= kMaxData) return;
    key.resize(std::min(key.size(), kMaxKey));
    const std::pair<std::string, std::string> kv(std::move(key), std::move(value));
    if (std::find(out_.begin(), out_.end(), kv) == out_.end()) out_.push_back(kv);
  }
  void walk(const pugi::xml_node& n) {
    const std::string name = unprefixed(n.name());
    if (name == "header" && n.attribute("label")) {  // an SBC's copy of a SIP header
      add(n.attribute("label").value(), trimmed(n.child_value("value")));
      return;
    }
    if (!has_element_children(n)) {
      const std::string text = trimmed(n.text().get());
      if (!text.empty() && name != "extensiondata") {
        add(name, text);
        return;
      }
      for (const auto& a : n.attributes()) {
        const std::string an = a.name();
        if (an.starts_with("xmlns") || an == "id" || an == "parent" || an == "version") continue;
        add(unprefixed(a.name()), trimmed(a.value()));
      }
      return;
    }
    for (const auto& c : n.children()) {
      if (c.type() == pugi::node_element) walk(c);
    }
  }

 private:
  std::vector<std::pair<std::string, std::string>>& out_;
};

// Parses one kept extension (XML text); a fragment that does not parse is skipped.
bool parse(const std::string& xml, pugi::xml_document& doc) {
  return doc.load_string(xml.c_str(), pugi::parse_default).status == pugi::status_ok;
}

pugi::xml_node find_local(const pugi::xml_node& root, std::string_view name) {
  return root.find_node([&](const pugi::xml_node& n) {
    return n.type() == pugi::node_element && unprefixed(n.name()) == name;
  });
}

std::optional<PartyFacts> party(const Participant& p) {
  if (p.names.empty()) return std::nullopt;
  return PartyFacts{p.names.front().aor, p.names.front().name};
}

PartyFacts party_of_number(const std::string& aor) { return PartyFacts{aor, ""}; }

}  // namespace

std::vector<std::string> session_uuids(std::string_view session_id) {
  std::vector<std::string> out;
  size_t at = 0;
  bool first = true;
  while (at <= session_id.size()) {
    const size_t semi = std::min(session_id.find(';', at), session_id.size());
    std::string part = trimmed(session_id.substr(at, semi - at));
    at = semi + 1;
    if (!first) {
      if (part.size() < 7 || !iequals(std::string_view(part).substr(0, 7), "remote=")) continue;
      part = trimmed(std::string_view(part).substr(7));
    }
    const bool was_first = first;
    first = false;
    const bool is_uuid = part.size() == 32 && std::all_of(part.begin(), part.end(), [](char c) {
                           return std::isxdigit(static_cast<unsigned char>(c)) != 0;
                         });
    if (!is_uuid) {
      if (was_first) return {};  // not a Session-ID (a Call-ID, say)
      continue;
    }
    for (auto& c : part) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (part != std::string(32, '0') && std::find(out.begin(), out.end(), part) == out.end()) {
      out.push_back(std::move(part));
    }
  }
  return out;
}

CallFacts call_facts(const Metadata& m) {
  CallFacts f;
  Flattener flat(f.data);
  std::string observed;
  bool meeting = false;
  bool bw_orig = false, bw_term = false;
  std::string bw_calling, bw_called;
  for (const auto& x : m.extensions) {
    pugi::xml_document doc;
    if (!parse(x, doc)) continue;
    flat.walk(doc.document_element());
    meeting |= static_cast<bool>(find_local(doc, "meeting"));  // ours, for a meeting
    if (auto call = find_local(doc, "call"); call && call.attribute("observed")) {
      observed = call.attribute("observed").value();
      f.direction = call.attribute("direction").value();
      f.internal = std::string_view(call.attribute("internal").value()) == "true";
    }
    bw_orig |= static_cast<bool>(find_local(doc, "origCall"));
    bw_term |= static_cast<bool>(find_local(doc, "termCall"));
    if (auto n = find_local(doc, "callingPartyNumber")) bw_calling = trimmed(n.child_value());
    if (auto n = find_local(doc, "calledPartyNumber")) bw_called = trimmed(n.child_value());
  }
  for (const auto& s : m.sessions) {
    for (const auto& id : s.sip_session_ids) {
      flat.add("sipSessionID", trimmed(id));
      for (auto& uuid : session_uuids(id)) flat.add("session-uuid", std::move(uuid));
    }
    for (const auto& x : s.extensions) {
      pugi::xml_document doc;
      if (parse(x, doc)) flat.walk(doc.document_element());
    }
  }
  // A meeting has members, not a caller and a callee: its participants say who was in it.
  if (meeting) return f;
  const Participant* calling = nullptr;
  const Participant* called = nullptr;
  for (const auto& p : m.participants) {
    for (const auto& x : p.extensions) {
      pugi::xml_document doc;
      if (!parse(x, doc)) continue;
      if (auto cp = find_local(doc, "callingParty")) {
        (trimmed(cp.child_value()) == "true" ? calling : called) = &p;
      }
      // Per-participant values are about that party, not the call: only headers are kept.
      doc.find_node([&](const pugi::xml_node& n) {
        if (unprefixed(n.name()) == "header" && n.attribute("label")) flat.walk(n);
        return false;
      });
    }
  }
  auto other_than = [&](const Participant* p) -> const Participant* {
    for (const auto& q : m.participants) {
      if (&q != p && !q.names.empty()) return &q;
    }
    return nullptr;
  };
  if (!observed.empty()) {  // ours
    const Participant* mine = m.participant(observed);
    const Participant* peer = other_than(mine);
    const bool outbound = f.direction == "outbound";
    calling = outbound ? mine : peer;
    called = outbound ? peer : mine;
  } else if (!bw_calling.empty() || !bw_called.empty()) {  // BroadWorks, Webex
    if (bw_orig != bw_term) f.direction = bw_orig ? "outbound" : "inbound";
    if (!bw_calling.empty()) f.origin = party_of_number(bw_calling);
    if (!bw_called.empty()) f.dialed = party_of_number(bw_called);
    return f;
  } else if (calling || called) {  // Oracle, Acme, Avaya
    if (!calling) calling = other_than(called);
    if (!called) called = other_than(calling);
  } else {
    for (const auto& p : m.participants) {
      if (p.names.empty()) continue;
      (calling ? called : calling) = &p;
      if (called) break;
    }
  }
  if (calling) f.origin = party(*calling);
  if (called) f.dialed = party(*called);
  return f;
}

nlohmann::json call_json(const CallFacts& facts) {
  nlohmann::json j = nlohmann::json::object();
  if (!facts.direction.empty()) j["direction"] = facts.direction;
  if (facts.internal) j["internal"] = true;
  auto put = [&](const char* key, const std::optional<PartyFacts>& p) {
    if (!p) return;
    nlohmann::json o = {{"aor", p->aor}};
    if (!p->name.empty()) o["name"] = p->name;
    j[key] = o;
  };
  put("origin", facts.origin);
  put("dialed", facts.dialed);
  return j;
}

}  // namespace verbatim::siprec
