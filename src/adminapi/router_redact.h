// Which versions of a recording a caller may play (router_redact.cc): the original (version 0)
// and its redactions (1, 2, ...), from the recording's catalog metadata and the caller's role.
#pragma once

#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "adminapi/router.h"

namespace verbatim::adminapi {

// NOLINTNEXTLINE(bugprone-exception-escape): nlohmann::json members move without throwing
struct Versions {
  Versions(const nlohmann::json& metadata, bool may_play_original);
  nlohmann::json redactions = nlohmann::json::array();  // the catalog's, oldest first
  nlohmann::json playback = nlohmann::json::array();    // the original playback files
  bool originals = true;  // the caller may play version 0 (always, with no redaction)
  int latest() const { return static_cast<int>(redactions.size()); }
  // A version's playback files (0: the original's).
  const nlohmann::json& files(int version) const;
  // Whether the caller may read this object (a caller limited to redacted versions: only the
  // objects of those versions' files).
  bool may_read(const std::string& object) const;
  // The version a request asks for (?version=N; default: the latest); kNotFound for none such,
  // kFailedPrecondition for the original when the caller may not play it.
  Result<int> wanted(const std::map<std::string, std::string>& params) const;
  // Every version with its files' URLs, for the player.
  nlohmann::json view(const std::string& media_base) const;
  // The redacted words of a transcript (read_transcript's) replaced by "[redacted]".
  void hide_words(nlohmann::json& transcript) const;
};

}  // namespace verbatim::adminapi
