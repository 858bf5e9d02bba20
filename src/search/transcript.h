// One recording's transcript as an officer reads it: every participant's transcript object
// (recorder/transcribe_jobs.h) decrypted, verified and merged into one conversation in time
// order, each utterance with its speaker, words, timings and confidences. Each object read is an
// access.read in the ledger, as for any other object. Shown by `verbatim archive transcript` and
// GET /api/v1/recordings/{id}/transcript.
// Threads and ownership: functions over the caller's archive.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "archive/archive.h"
#include "common/result.h"

namespace verbatim::search {

// {"recording", "engine", "utterances": [{"speaker", "start", "end", "text", "confidence",
// "words"}]}; kNotFound when the recording has no transcript (yet: "transcripts" not in its
// metadata, or transcription is off).
Result<nlohmann::json> read_transcript(archive::Archive& archive, const std::string& recording_id,
                                       const std::string& who);

// "0:05  Ava Trader: good morning how are you today", one line per utterance.
std::string transcript_lines(const nlohmann::json& transcript);

}  // namespace verbatim::search
