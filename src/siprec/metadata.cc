#include "siprec/metadata.h"

#include <algorithm>
#include <initializer_list>
#include <pugixml.hpp>
#include <sstream>

#include "common/strings.h"

namespace verbatim::siprec {

namespace {

// The element or attribute name without its namespace prefix.
std::string_view local_name(const char* name) {
  std::string_view n(name);
  const size_t colon = n.find(':');
  return colon == std::string_view::npos ? n : n.substr(colon + 1);
}

bool is(const pugi::xml_node& n, std::string_view name) {
  return iequals(local_name(n.name()), name);
}

std::string text_of(const pugi::xml_node& n) {
  return std::string(trim(std::string_view(n.child_value())));
}

// The first of the attributes present (vendors say participant_id, id, or session=).
std::string attr(const pugi::xml_node& n, std::initializer_list<std::string_view> names) {
  for (std::string_view want : names) {
    for (const pugi::xml_attribute& a : n.attributes()) {
      if (iequals(local_name(a.name()), want)) return std::string(trim(a.value()));
    }
  }
  return {};
}

std::string as_xml(const pugi::xml_node& n) {
  std::ostringstream os;
  n.print(os, "", pugi::format_raw);
  return os.str();
}

class Parser {
 public:
  Parser(std::string_view xml, std::vector<MetadataProblem>* problems)
      : xml_(xml), problems_(problems) {}

  uint32_t line_of(const pugi::xml_node& n) const {
    const ptrdiff_t off = n.offset_debug();
    if (off < 0 || static_cast<size_t>(off) > xml_.size()) return 0;
    return 1 + static_cast<uint32_t>(
                   std::count(xml_.begin(), xml_.begin() + static_cast<ptrdiff_t>(off), '\n'));
  }
  void problem(const pugi::xml_node& n, std::string message) {
    if (problems_) problems_->push_back({n ? line_of(n) : 0, std::move(message)});
  }

  // The element with this id, added when the document has not defined it (yet): association
  // elements may come before what they associate.
  template <typename T>
  static T& by_id(std::vector<T>& v, const std::string& id) {
    for (auto& x : v) {
      if (x.id == id) return x;
    }
    v.push_back(T{});
    v.back().id = id;
    return v.back();
  }
  Participant& participant(const std::string& id) { return by_id(m_.participants, id); }
  CommunicationSession& session(const std::string& id) { return by_id(m_.sessions, id); }

  void times(const pugi::xml_node& child, std::string& associate, std::string& disassociate) {
    if (is(child, "associate-time")) associate = text_of(child);
    if (is(child, "disassociate-time")) disassociate = text_of(child);
  }

  void group(const pugi::xml_node& n) {
    Group g;
    g.id = attr(n, {"group_id", "id"});
    for (const auto& c : n.children()) {
      if (c.type() != pugi::node_element) continue;
      if (is(c, "associate-time") || is(c, "disassociate-time")) {
        times(c, g.associate_time, g.disassociate_time);
      } else {
        g.extensions.push_back(as_xml(c));
      }
    }
    m_.groups.push_back(std::move(g));
  }

  void session_element(const pugi::xml_node& n) {
    CommunicationSession& s = session(attr(n, {"session_id", "id"}));
    if (std::string g = attr(n, {"group", "group_id"}); !g.empty()) s.group_id = g;
    for (const auto& c : n.children()) {
      if (c.type() != pugi::node_element) continue;
      if (is(c, "start-time")) {
        s.start_time = text_of(c);
      } else if (is(c, "stop-time")) {
        s.stop_time = text_of(c);
      } else if (is(c, "group-ref")) {
        s.group_id = text_of(c);
      } else if (is(c, "sipSessionID")) {
        if (std::string v = text_of(c);
            !v.empty() && std::find(s.sip_session_ids.begin(), s.sip_session_ids.end(), v) ==
                              s.sip_session_ids.end()) {
          s.sip_session_ids.push_back(std::move(v));
        }
      } else {
        s.extensions.push_back(as_xml(c));
      }
    }
  }

  // RFC 7865 <participant> (nameID) and the draft's (aor, name, send/recv with <id>).
  void participant_element(const pugi::xml_node& n) {
    const std::string id = attr(n, {"participant_id", "id"});
    if (id.empty()) problem(n, "participant without an id");
    Participant& p = participant(id);
    if (std::string s = attr(n, {"session"}); !s.empty()) p.sessions.push_back(s);
    for (const auto& c : n.children()) {
      if (c.type() != pugi::node_element) continue;
      if (is(c, "nameID")) {
        NameId name{attr(c, {"aor"}), {}};
        if (auto nm = c.find_child([](const pugi::xml_node& x) { return is(x, "name"); })) {
          name.name = text_of(nm);
        }
        p.names.push_back(std::move(name));
      } else if (is(c, "aor")) {
        p.names.push_back(NameId{text_of(c), {}});
      } else if (is(c, "name")) {
        if (p.names.empty()) p.names.push_back(NameId{});
        p.names.back().name = text_of(c);
      } else if (is(c, "send") || is(c, "recv")) {
        auto& list = is(c, "send") ? p.send : p.recv;
        p.streams_given = true;
        bool any = false;
        for (const auto& idn : c.children()) {
          if (idn.type() == pugi::node_element && is(idn, "id")) {
            list.push_back(text_of(idn));
            any = true;
          }
        }
        if (!any && !text_of(c).empty()) list.push_back(text_of(c));
      } else if (is(c, "associate-time") || is(c, "disassociate-time")) {
        times(c, p.associate_time, p.disassociate_time);
      } else {
        p.extensions.push_back(as_xml(c));
      }
    }
  }

  void participant_session_assoc(const pugi::xml_node& n) {
    const std::string pid = attr(n, {"participant_id", "participant"});
    const std::string sid = attr(n, {"session_id", "session"});
    if (pid.empty()) {
      problem(n, "participantsessionassoc without a participant_id");
      return;
    }
    Participant& p = participant(pid);
    if (!sid.empty() && std::find(p.sessions.begin(), p.sessions.end(), sid) == p.sessions.end())
      p.sessions.push_back(sid);
    for (const auto& c : n.children()) {
      if (c.type() == pugi::node_element) times(c, p.associate_time, p.disassociate_time);
    }
  }

  void participant_stream_assoc(const pugi::xml_node& n) {
    const std::string pid = attr(n, {"participant_id", "participant"});
    if (pid.empty()) {
      problem(n, "participantstreamassoc without a participant_id");
      return;
    }
    Participant& p = participant(pid);
    p.streams_given = true;
    for (const auto& c : n.children()) {
      if (c.type() != pugi::node_element) continue;
      if (is(c, "send")) p.send.push_back(text_of(c));
      if (is(c, "recv")) p.recv.push_back(text_of(c));
    }
  }

  void stream_element(const pugi::xml_node& n) {
    Stream s;
    s.id = attr(n, {"stream_id", "id"});
    s.session_id = attr(n, {"session_id", "session"});
    for (const auto& c : n.children()) {
      if (c.type() != pugi::node_element) continue;
      if (is(c, "label")) {
        s.label = text_of(c);
      } else if (is(c, "mode")) {
        s.mode = text_of(c);
      } else {
        s.extensions.push_back(as_xml(c));
      }
    }
    if (s.id.empty()) {
      problem(n, "stream with an empty id" + (s.label.empty() ? "" : " (label " + s.label + ")") +
                     ": no participant can refer to it");
    }
    if (s.label.empty()) problem(n, "stream " + s.id + " has no label: it names no m-line");
    m_.streams.push_back(std::move(s));
  }

  void data_mode(const pugi::xml_node& n) {
    const std::string v = to_lower(text_of(n));
    if (v == "partial") {
      m_.partial = true;
    } else if (v != "complete") {
      problem(n, "dataMode '" + v + "' is neither complete nor partial; read as complete");
    }
  }

  void top_level(const pugi::xml_node& c) {
    if (is(c, "dataMode")) {
      data_mode(c);
    } else if (is(c, "group")) {
      group(c);
    } else if (is(c, "session")) {
      session_element(c);
    } else if (is(c, "sessionrecordingassoc")) {
      CommunicationSession& s = session(attr(c, {"session_id", "session"}));
      for (const auto& t : c.children()) {
        if (t.type() == pugi::node_element) times(t, s.associate_time, s.disassociate_time);
      }
    } else if (is(c, "participant")) {
      participant_element(c);
    } else if (is(c, "participantsessionassoc")) {
      participant_session_assoc(c);
    } else if (is(c, "participantstreamassoc")) {
      participant_stream_assoc(c);
    } else if (is(c, "stream")) {
      stream_element(c);
    } else if (is(c, "recording") && m_.dialect == Metadata::Dialect::kDraft) {
      m_.recording_id = attr(c, {"id"});
      m_.extensions.push_back(as_xml(c));
    } else {
      m_.extensions.push_back(as_xml(c));  // <extensiondata>, vendor elements
    }
  }

  // What a complete snapshot must make sense of on its own.
  void check_references(const pugi::xml_node& root) {
    for (const auto& p : m_.participants) {
      for (const auto* list : {&p.send, &p.recv}) {
        for (const auto& sid : *list) {
          if (sid.empty()) {
            problem(root, "participant " + p.id + " names an empty stream id");
          } else if (!m_.stream(sid)) {
            problem(root, "participant " + p.id + " refers to stream " + sid +
                              ", which the metadata does not define");
          }
        }
      }
    }
  }

  Result<Metadata> run() {
    pugi::xml_document doc;
    const pugi::xml_parse_result r = doc.load_buffer(xml_.data(), xml_.size(), pugi::parse_default);
    if (!r) {
      const size_t off =
          std::min(static_cast<size_t>(std::max<ptrdiff_t>(r.offset, 0)), xml_.size());
      const auto line =
          1 + std::count(xml_.begin(), xml_.begin() + static_cast<ptrdiff_t>(off), '\n');
      return make_error(ErrorCode::kInvalidArgument, "metadata line " + std::to_string(line) +
                                                         ": not well-formed XML (" +
                                                         r.description() + ")");
    }
    const pugi::xml_node root = doc.document_element();
    if (!root) return make_error(ErrorCode::kInvalidArgument, "metadata: no root element");
    if (is(root, "recording_metadata")) {
      m_.dialect = Metadata::Dialect::kDraft;
    } else if (!is(root, "recording")) {
      return make_error(ErrorCode::kInvalidArgument,
                        "metadata line " + std::to_string(line_of(root)) +
                            ": the root element is <" + root.name() + ">, not <recording>");
    }
    const std::string_view root_name(root.name());
    const size_t colon = root_name.find(':');
    const std::string ns_attr = colon == std::string_view::npos
                                    ? "xmlns"
                                    : "xmlns:" + std::string(root_name.substr(0, colon));
    m_.namespace_uri = root.attribute(ns_attr.c_str()).value();
    static constexpr std::string_view kKnown[] = {"urn:ietf:params:xml:ns:recording:1",
                                                  "urn:ietf:params:xml:ns:recording",
                                                  "urn:ietf:params:xml:ns:siprec"};
    if (std::find(std::begin(kKnown), std::end(kKnown), m_.namespace_uri) == std::end(kKnown)) {
      problem(root, "unexpected namespace '" + m_.namespace_uri +
                        "' (expected urn:ietf:params:xml:ns:recording:1); read as RFC 7865");
    }
    if (m_.dialect == Metadata::Dialect::kRfc7865) m_.recording_id = attr(root, {"id"});
    for (const auto& c : root.children()) {
      if (c.type() == pugi::node_element) top_level(c);
    }
    if (!m_.partial) check_references(root);
    return std::move(m_);
  }

 private:
  std::string_view xml_;
  std::vector<MetadataProblem>* problems_;
  Metadata m_;
};

// A partial update (RFC 7865 §6): elements it names by id get the fields it carries (and its
// extension data appended); new ones are added.
template <typename T, typename Fields>
void upsert(std::vector<T>& known, const std::vector<T>& update, Fields fields) {
  for (const T& u : update) {
    auto it = std::find_if(known.begin(), known.end(), [&](const T& k) { return k.id == u.id; });
    if (it == known.end()) {
      known.push_back(u);
      continue;
    }
    fields(*it, u);
    it->extensions.insert(it->extensions.end(), u.extensions.begin(), u.extensions.end());
  }
}

void set_if(std::string& to, const std::string& from) {
  if (!from.empty()) to = from;
}

void append(std::vector<std::string>& to, const std::vector<std::string>& from) {
  to.insert(to.end(), from.begin(), from.end());
}

}  // namespace

const Participant* Metadata::participant(std::string_view id) const {
  for (const auto& p : participants) {
    if (p.id == id) return &p;
  }
  return nullptr;
}

const Stream* Metadata::stream(std::string_view id) const {
  for (const auto& s : streams) {
    if (s.id == id) return &s;
  }
  return nullptr;
}

const Stream* Metadata::stream_by_label(std::string_view label) const {
  for (const auto& s : streams) {
    if (s.label == label) return &s;
  }
  return nullptr;
}

Result<Metadata> parse_metadata(std::string_view xml, std::vector<MetadataProblem>* problems) {
  return Parser(xml, problems).run();
}

void merge(Metadata& known, const Metadata& update) {
  if (!update.partial) {
    known = update;
    return;
  }
  known.dialect = update.dialect;
  set_if(known.namespace_uri, update.namespace_uri);
  set_if(known.recording_id, update.recording_id);
  upsert(known.groups, update.groups, [](Group& k, const Group& g) {
    set_if(k.associate_time, g.associate_time);
    set_if(k.disassociate_time, g.disassociate_time);
  });
  upsert(known.sessions, update.sessions,
         [](CommunicationSession& k, const CommunicationSession& s) {
           set_if(k.group_id, s.group_id);
           set_if(k.start_time, s.start_time);
           set_if(k.stop_time, s.stop_time);
           set_if(k.associate_time, s.associate_time);
           set_if(k.disassociate_time, s.disassociate_time);
           for (const auto& id : s.sip_session_ids) {
             if (std::find(k.sip_session_ids.begin(), k.sip_session_ids.end(), id) ==
                 k.sip_session_ids.end()) {
               k.sip_session_ids.push_back(id);
             }
           }
         });
  upsert(known.streams, update.streams, [](Stream& k, const Stream& st) {
    set_if(k.session_id, st.session_id);
    set_if(k.label, st.label);
    set_if(k.mode, st.mode);
  });
  upsert(known.participants, update.participants, [](Participant& k, const Participant& p) {
    if (!p.names.empty()) k.names = p.names;
    for (const auto& s : p.sessions) {
      if (std::find(k.sessions.begin(), k.sessions.end(), s) == k.sessions.end())
        k.sessions.push_back(s);
    }
    if (p.streams_given) {  // the update says what it sends and receives now
      k.send = p.send;
      k.recv = p.recv;
      k.streams_given = true;
    }
    set_if(k.associate_time, p.associate_time);
    set_if(k.disassociate_time, p.disassociate_time);
  });
  append(known.extensions, update.extensions);
}

namespace {

void add_text(pugi::xml_node parent, const char* name, const std::string& text) {
  if (!text.empty()) parent.append_child(name).text().set(text.c_str());
}

void add_times(pugi::xml_node n, const std::string& associate, const std::string& disassociate) {
  add_text(n, "associate-time", associate);
  add_text(n, "disassociate-time", disassociate);
}

void add_extensions(pugi::xml_node parent, const std::vector<std::string>& extensions) {
  for (const auto& x : extensions) {
    pugi::xml_document fragment;
    if (!fragment.load_buffer(x.data(), x.size(), pugi::parse_default)) continue;
    for (pugi::xml_node c : fragment.children()) parent.append_copy(c);
  }
}

}  // namespace

std::string serialize_metadata(const Metadata& m) {
  pugi::xml_document doc;
  auto decl = doc.append_child(pugi::node_declaration);
  decl.append_attribute("version") = "1.0";
  decl.append_attribute("encoding") = "UTF-8";
  pugi::xml_node root = doc.append_child("recording");
  root.append_attribute("xmlns") = "urn:ietf:params:xml:ns:recording:1";
  add_text(root, "datamode", m.partial ? "partial" : "complete");
  for (const auto& g : m.groups) {
    auto n = root.append_child("group");
    n.append_attribute("group_id") = g.id.c_str();
    add_times(n, g.associate_time, g.disassociate_time);
    add_extensions(n, g.extensions);
  }
  for (const auto& s : m.sessions) {
    auto n = root.append_child("session");
    n.append_attribute("session_id") = s.id.c_str();
    for (const auto& id : s.sip_session_ids) add_text(n, "sipSessionID", id);  // RFC 7865 order
    add_text(n, "group-ref", s.group_id);
    add_text(n, "start-time", s.start_time);
    add_text(n, "stop-time", s.stop_time);
    add_extensions(n, s.extensions);
  }
  for (const auto& p : m.participants) {
    auto n = root.append_child("participant");
    n.append_attribute("participant_id") = p.id.c_str();
    for (const auto& name : p.names) {
      auto id = n.append_child("nameID");
      id.append_attribute("aor") = name.aor.c_str();
      add_text(id, "name", name.name);
    }
    add_extensions(n, p.extensions);
  }
  for (const auto& s : m.streams) {
    auto n = root.append_child("stream");
    n.append_attribute("stream_id") = s.id.c_str();
    if (!s.session_id.empty()) n.append_attribute("session_id") = s.session_id.c_str();
    add_text(n, "label", s.label);
    add_extensions(n, s.extensions);
  }
  for (const auto& s : m.sessions) {
    if (s.associate_time.empty() && s.disassociate_time.empty()) continue;
    auto n = root.append_child("sessionrecordingassoc");
    n.append_attribute("session_id") = s.id.c_str();
    add_times(n, s.associate_time, s.disassociate_time);
  }
  for (const auto& p : m.participants) {
    for (const auto& sid : p.sessions) {
      auto n = root.append_child("participantsessionassoc");
      n.append_attribute("participant_id") = p.id.c_str();
      n.append_attribute("session_id") = sid.c_str();
      add_times(n, p.associate_time, p.disassociate_time);
    }
    if (p.send.empty() && p.recv.empty()) continue;
    auto n = root.append_child("participantstreamassoc");
    n.append_attribute("participant_id") = p.id.c_str();
    for (const auto& sid : p.send) add_text(n, "send", sid);
    for (const auto& sid : p.recv) add_text(n, "recv", sid);
  }
  add_extensions(root, m.extensions);
  for (const auto& x : m.client_extensions) {
    pugi::xml_node ext = root.append_child("extensiondata");
    ext.append_attribute(("xmlns:" + x.prefix).c_str()) = x.namespace_uri.c_str();
    pugi::xml_node e = ext.append_child((x.prefix + ":" + x.name).c_str());
    for (const auto& [k, v] : x.attributes) e.append_attribute(k.c_str()) = v.c_str();
  }
  std::ostringstream os;
  doc.save(os, "  ", pugi::format_indent, pugi::encoding_utf8);
  return os.str();
}

nlohmann::json to_json(const Metadata& m) {
  using nlohmann::json;
  json j = {{"dialect", m.dialect == Metadata::Dialect::kDraft ? "draft-siprec" : "rfc7865"},
            {"namespace", m.namespace_uri},
            {"dataMode", m.partial ? "partial" : "complete"}};
  if (!m.recording_id.empty()) j["recordingId"] = m.recording_id;
  auto times = [](json& o, const std::string& a, const std::string& d) {
    if (!a.empty()) o["associateTime"] = a;
    if (!d.empty()) o["disassociateTime"] = d;
  };
  j["groups"] = json::array();
  for (const auto& g : m.groups) {
    json o = {{"id", g.id}};
    times(o, g.associate_time, g.disassociate_time);
    if (!g.extensions.empty()) o["extensions"] = g.extensions;
    j["groups"].push_back(o);
  }
  j["sessions"] = json::array();
  for (const auto& s : m.sessions) {
    json o = {{"id", s.id}};
    if (!s.group_id.empty()) o["groupId"] = s.group_id;
    if (!s.start_time.empty()) o["startTime"] = s.start_time;
    if (!s.stop_time.empty()) o["stopTime"] = s.stop_time;
    times(o, s.associate_time, s.disassociate_time);
    if (!s.sip_session_ids.empty()) o["sipSessionIds"] = s.sip_session_ids;
    if (!s.extensions.empty()) o["extensions"] = s.extensions;
    j["sessions"].push_back(o);
  }
  j["participants"] = json::array();
  for (const auto& p : m.participants) {
    json o = {{"id", p.id},
              {"names", json::array()},
              {"sessions", p.sessions},
              {"send", p.send},
              {"recv", p.recv}};
    for (const auto& n : p.names) {
      json x = {{"aor", n.aor}};
      if (!n.name.empty()) x["name"] = n.name;
      o["names"].push_back(x);
    }
    times(o, p.associate_time, p.disassociate_time);
    if (!p.extensions.empty()) o["extensions"] = p.extensions;
    j["participants"].push_back(o);
  }
  j["streams"] = json::array();
  for (const auto& s : m.streams) {
    json o = {{"id", s.id}, {"label", s.label}};
    if (!s.session_id.empty()) o["sessionId"] = s.session_id;
    if (!s.mode.empty()) o["mode"] = s.mode;
    if (!s.extensions.empty()) o["extensions"] = s.extensions;
    j["streams"].push_back(o);
  }
  if (!m.extensions.empty()) j["extensions"] = m.extensions;
  return j;
}

nlohmann::json participants_json(const Metadata& m) {
  nlohmann::json people = nlohmann::json::array();
  for (const auto& p : m.participants) {
    nlohmann::json pj = {{"id", p.id}};
    if (!p.names.empty()) {
      pj["aor"] = p.names.front().aor;
      if (!p.names.front().name.empty()) pj["name"] = p.names.front().name;
    }
    nlohmann::json sends = nlohmann::json::array(), receives = nlohmann::json::array();
    for (const auto& id : p.send) {
      if (const Stream* st = m.stream(id)) sends.push_back(st->label);
    }
    for (const auto& id : p.recv) {
      if (const Stream* st = m.stream(id)) receives.push_back(st->label);
    }
    pj["sendsOnLabels"] = sends;
    pj["receivesOnLabels"] = receives;
    people.push_back(pj);
  }
  return people;
}

}  // namespace verbatim::siprec
