// libFuzzer target: SIPREC recording metadata (siprec/metadata.h) and the whole
// `siprec inspect` path (siprec/inspect.h) on the same bytes. Never crashes; a document that
// parses also survives being merged into itself, as a snapshot and as a partial update, printed
// as JSON, and written back as RFC 7865 (serialize_metadata) that parses again; what the
// recorder reads of the call (call_facts: roles, direction, business data, Session-ID UUIDs)
// stays bounded.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include <nlohmann/json.hpp>

#include "siprec/call_facts.h"
#include "siprec/inspect.h"
#include "siprec/metadata.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace verbatim::siprec;
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  std::vector<MetadataProblem> problems;
  auto m = parse_metadata(in, &problems);
  if (m) {
    Metadata known = m.value();
    merge(known, m.value());
    Metadata partial = m.value();
    partial.partial = true;
    merge(known, partial);
    (void)to_json(known).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    (void)participants_json(known).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    const CallFacts facts = call_facts(known);
    if (facts.data.size() > kMaxData) std::abort();
    for (const auto& [k, v] : facts.data) {
      if (k.empty() || v.empty() || k.size() > 64 || v.size() > 256) std::abort();
    }
    (void)call_json(facts).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    // A Session-ID's UUIDs (related interactions) are 32 lower-case hex digits, whatever was sent.
    for (const auto& session : known.sessions) {
      for (const auto& id : session.sip_session_ids) {
        for (const auto& uuid : session_uuids(id)) {
          if (uuid.size() != 32 ||
              uuid.find_first_not_of("0123456789abcdef") != std::string::npos) {
            std::abort();
          }
        }
      }
    }
    // What the gateway writes is always readable again.
    if (!parse_metadata(serialize_metadata(known))) std::abort();
  }
  // As the CLI prints it: bytes that are not UTF-8 become U+FFFD, never an exception.
  (void)inspect(in).to_json().dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return 0;
}
