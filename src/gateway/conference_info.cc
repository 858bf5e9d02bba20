#include "gateway/conference_info.h"

#include <map>
#include <sstream>

#include <pugixml.hpp>

namespace verbatim::gateway {

std::string conference_info(const Roster& roster) {
  pugi::xml_document doc;
  auto decl = doc.append_child(pugi::node_declaration);
  decl.append_attribute("version") = "1.0";
  decl.append_attribute("encoding") = "UTF-8";
  auto root = doc.append_child("conference-info");
  root.append_attribute("xmlns") = "urn:ietf:params:xml:ns:conference-info";
  root.append_attribute("xmlns:vb") = "urn:verbatim:gateway:1";
  root.append_attribute("entity") = roster.uri.c_str();
  root.append_attribute("state") = "full";
  root.append_attribute("version") = std::to_string(roster.version).c_str();
  auto description = root.append_child("conference-description");
  description.append_child("subject").text() = roster.subject.c_str();
  auto state = root.append_child("conference-state");
  state.append_child("user-count").text() = std::to_string(roster.endpoints.size()).c_str();
  state.append_child("active").text() = roster.endpoints.empty() ? "false" : "true";
  state.append_child("vb:recorded").text() = roster.recorded ? "true" : "false";
  auto users = root.append_child("users");
  std::map<std::string, pugi::xml_node> by_aor;  // one <user> per address, in order of joining
  for (const auto& e : roster.endpoints) {
    auto& user = by_aor[e.aor];
    if (!user) {
      user = users.append_child("user");
      user.append_attribute("entity") = e.aor.c_str();
      user.append_attribute("state") = "full";
      if (!e.display.empty()) user.append_child("display-text").text() = e.display.c_str();
      user.append_child("vb:recorded").text() = e.recorded ? "true" : "false";
    }
    auto endpoint = user.append_child("endpoint");
    endpoint.append_attribute("entity") = (e.aor + ";session=" + std::to_string(e.session)).c_str();
    endpoint.append_attribute("state") = "full";
    endpoint.append_child("status").text() = "connected";
    endpoint.append_child("joining-method").text() = "dialed-in";
    endpoint.append_child("joining-info").append_child("when").text() = e.joined_at.c_str();
    auto media = endpoint.append_child("media");
    media.append_attribute("id") = "1";
    media.append_child("type").text() = "audio";
    media.append_child("status").text() = e.media_status.c_str();
    for (const auto* status : {&e.video_status, &e.slides_status}) {
      if (status->empty()) continue;
      auto video = endpoint.append_child("media");
      video.append_attribute("id") = status == &e.video_status ? "2" : "3";
      if (status == &e.slides_status) video.append_child("display-text").text() = "screen share";
      video.append_child("type").text() = "video";
      video.append_child("status").text() = status->c_str();
    }
    if (e.presenting) endpoint.append_child("vb:presenting").text() = "true";
  }
  std::ostringstream out;
  doc.save(out, "  ", pugi::format_indent);
  return out.str();
}

}  // namespace verbatim::gateway
