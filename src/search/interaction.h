// One interaction as GET /api/v1/recordings/{id} shows it: its participants, each with the
// playback file of their voice (a URL that takes range requests), their share of the talk and
// their sentiment, gathered from the catalog metadata the recorder's jobs wrote ("participants"
// from SIPREC, "playback" from the playback job, "transcripts" from the transcription job).
// Threads and ownership: pure functions over JSON.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace verbatim::search {

inline constexpr std::string_view kNoPlaybackYet =
    "the playback files of this recording are not made yet (they are made after the call; "
    "`verbatim jobs list` shows the queue)";

// One playback file as listed: name, participants, aors, durationSeconds, bytes, format, object
// and "url" (`media_base` + the file's key: its first participant id, else its object id).
nlohmann::json media_entry(const nlohmann::json& file, const std::string& media_base);

// The playback file for `wanted`: a participant's SIPREC id, AOR (with or without its "sip:" or
// "tel:" scheme), name (any case), or the file's object id; nullptr when none matches.
const nlohmann::json* find_media(const nlohmann::json& files, const std::string& wanted);

// Every participant of the metadata's "participants" ({id, name, aor, sendsOnLabels}) with what
// the jobs learned of them: "media" (the URL of their playback file), "talkSeconds",
// "talkRatio", "sentiment". Participants a job named but SIPREC did not (a stream nobody was
// named for) are listed too.
nlohmann::json participants_view(const nlohmann::json& metadata, const std::string& media_base);

}  // namespace verbatim::search
