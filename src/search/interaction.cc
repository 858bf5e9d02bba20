#include "search/interaction.h"

#include <algorithm>

#include "common/strings.h"

namespace verbatim::search {

using json = nlohmann::json;

namespace {

const json& files_of(const json& metadata, const char* key) {
  static const json kNone = json::array();
  if (!metadata.is_object() || !metadata.contains(key) || !metadata[key].is_object()) return kNone;
  const json& section = metadata[key];
  if (!section.contains("files") || !section["files"].is_array()) return kNone;
  return section["files"];
}

std::string file_key(const json& file) {
  if (file.contains("participants") && file["participants"].is_array() &&
      !file["participants"].empty() && file["participants"][0].is_string() &&
      !file["participants"][0].get<std::string>().empty()) {
    return file["participants"][0].get<std::string>();
  }
  return file.value("object", "");
}

std::string media_url(const json& file, const std::string& media_base) {
  return media_base + url_encode(file_key(file));
}

bool lists(const json& file, const char* key, const std::string& value) {
  if (!file.contains(key) || !file[key].is_array()) return false;
  return std::any_of(file[key].begin(), file[key].end(),
                     [&](const json& v) { return v.is_string() && v.get<std::string>() == value; });
}

std::string without_scheme(std::string_view aor) {
  for (std::string_view scheme : {"sip:", "sips:", "tel:"}) {
    if (aor.size() > scheme.size() && iequals(aor.substr(0, scheme.size()), scheme)) {
      return std::string(aor.substr(scheme.size()));
    }
  }
  return std::string(aor);
}

// The file (of a job's "files") that carries participant `id`, or else the one named `name`.
const json* file_for(const json& files, const std::string& id, const std::string& name) {
  for (const auto& f : files) {
    if (!id.empty() && lists(f, "participants", id)) return &f;
  }
  for (const auto& f : files) {
    if (!name.empty() && f.value("name", "") == name) return &f;
  }
  return nullptr;
}

}  // namespace

json media_entry(const json& file, const std::string& media_base) {
  json e = {{"name", file.value("name", "")},
            {"object", file.value("object", "")},
            {"format", file.value("format", "audio/ogg; codecs=opus")},
            {"url", media_url(file, media_base)}};
  for (const char* k :
       {"participants", "aors", "labels", "durationSeconds", "sampleRate", "bytes"}) {
    if (file.contains(k)) e[k] = file[k];
  }
  return e;
}

const json* find_media(const json& files, const std::string& wanted) {
  if (!files.is_array() || wanted.empty()) return nullptr;
  const std::string bare = without_scheme(wanted);
  for (const auto& f : files) {
    if (lists(f, "participants", wanted) || f.value("object", "") == wanted) return &f;
  }
  for (const auto& f : files) {
    if (!f.contains("aors") || !f["aors"].is_array()) continue;
    for (const auto& a : f["aors"]) {
      if (a.is_string() &&
          (a.get<std::string>() == wanted || without_scheme(a.get<std::string>()) == bare))
        return &f;
    }
  }
  for (const auto& f : files) {
    if (iequals(f.value("name", ""), wanted)) return &f;
  }
  return nullptr;
}

json participants_view(const json& metadata, const std::string& media_base) {
  const json& playback = files_of(metadata, "playback");
  const json& transcripts = files_of(metadata, "transcripts");
  json out = json::array();
  std::vector<const json*> shown;
  auto add = [&](json p, const std::string& id, const std::string& name) {
    if (const json* f = file_for(playback, id, name)) {
      p["media"] = media_url(*f, media_base);
      shown.push_back(f);
    }
    if (const json* t = file_for(transcripts, id, name)) {
      for (const char* k : {"talkSeconds", "talkRatio", "sentiment", "words"}) {
        if (t->contains(k)) p[k] = (*t)[k];
      }
    }
    out.push_back(std::move(p));
  };
  if (metadata.is_object() && metadata.contains("participants") &&
      metadata["participants"].is_array()) {
    for (const auto& p : metadata["participants"]) {
      if (!p.is_object()) continue;
      json v = {{"id", p.value("id", "")}};
      for (const char* k : {"name", "aor", "sendsOnLabels"}) {
        if (p.contains(k)) v[k] = p[k];
      }
      add(std::move(v), p.value("id", ""), "");
    }
  }
  for (const auto& f : playback) {  // streams no participant was named for
    if (std::find(shown.begin(), shown.end(), &f) != shown.end()) continue;
    if (f.contains("participants") && f["participants"].is_array() && !f["participants"].empty())
      continue;
    add({{"name", f.value("name", "")}, {"labels", f.value("labels", json::array())}}, "",
        f.value("name", ""));
  }
  return out;
}

}  // namespace verbatim::search
