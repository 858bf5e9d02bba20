// The catalog's search index: what a recording's metadata says, in indexed columns and full-text
// tables beside the catalog in archive.db, so search (search/) never parses metadata JSON.
// Rebuilt for a recording in the same transaction as every change of its metadata (created,
// edited, ended), so the index is never behind the catalog; recordings made before the index
// existed are indexed when the writer opens the archive.
//
// Read from the metadata the recorder writes (docs/recorder.md):
//   startedAt, durationSeconds           -> started_ms, duration_ms
//   call.direction, .internal,
//   call.origin/.dialed                  -> direction, internal, origin/dialed numbers and parties
//   participants[].aor/.name             -> parties (and the text searched by --participant;
//                                           the digits in it also in search_numbers)
//   application_id, policy, region,
//   callId, transcripts.sentiment
//     .overall.score                     -> columns; groups -> search_groups
//   business[] {key, value, source}      -> search_data (SIP headers, SIPREC extension data,
//                                           tags given through the API)
//   transcripts' utterances              -> search_utterances (one row each, words in full
//                                           text) and search_recording_text (all the words of
//                                           a recording in one full-text row)
//
// The order searches list in is the index's rowid, the search key: the recording's start in
// milliseconds times 2^20, plus a sequence among recordings that start in the same millisecond.
// The full-text tables of parties and words use the same rowid, so "the newest 50 that match"
// walks any of them backwards and stops after 50, never sorting every match (search/search.cc).
// Threads and ownership: functions over the caller's database handle (the Archive's).
#pragma once

#include <cstdint>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"
#include "common/sqlite.h"

namespace verbatim::archive {

// Digits of a telephone number in an AOR, a tel: URI or typed text ("sip:+44 20 7946 0018@x",
// "+44 (20) 7946-0018", "tel:+442079460018"), without the leading +: E.164 as digits. Empty when
// the user part is not a number (alice@example.com).
std::string number_digits(std::string_view aor_or_text);

// The first search key of recordings that start at `started_ms` (Unix milliseconds; times before
// 1970 count as 1970); keys of the same millisecond follow it, kSearchKeysPerMs of them.
constexpr int kSearchKeyShift = 20;
constexpr int64_t kSearchKeysPerMs = int64_t{1} << kSearchKeyShift;
constexpr int64_t search_key_base(int64_t started_ms) {
  return (started_ms < 0 ? 0 : started_ms) << kSearchKeyShift;
}

// The text a participant query matches (search_party_text: trigrams of it), for one party.
std::string party_search_text(std::string_view name, std::string_view aor, std::string_view number);

// The participant numbers (search_numbers): every run of kMinNumberDigits or more digits in a
// recording's parties' text (numbers, and digits in names and addresses), by each of its suffixes
// of kMinNumberDigits or more, cut to their first kNumberKeyDigits. Digits D (at least
// kMinNumberDigits) occur in the parties' text exactly when a key starts with D's first
// kNumberKeyDigits and the text holds D: a range lookup, and for longer D a check of the text.
constexpr size_t kMinNumberDigits = 3;
constexpr size_t kNumberKeyDigits = 8;
std::vector<std::string> number_keys(std::string_view party_text);

// The participant parts (search_party_parts): the parties' text from each place in a word (a run
// of letters and digits, UTF-8 letters included) where kMinWordBytes or more of the word remain,
// not all digits (search_numbers has those), to the end of its line, cut to kPartKeyBytes. So
// text T that starts so occurs in a recording's parties' text (both in lower case) exactly when
// one of its keys starts with T's first kPartKeyBytes and, for a longer T, the text holds T: a
// range lookup, then for a longer T a check of the text.
constexpr size_t kMinWordBytes = 3;
constexpr size_t kPartKeyBytes = 12;
std::vector<std::string> part_keys(std::string_view party_text);
// Where the longest end of `text` that part_keys can look up starts: its start if it starts so,
// else its first word that does (nullopt: none; nor for text that spans lines).
std::optional<size_t> part_lookup_start(std::string_view text);

// Replaces what the index holds for `recording_id` with what `metadata` says.
// Recordings whose metadata has no startedAt are indexed at their catalog creation time.
Status index_recording(SqliteDb& db, const std::string& recording_id,
                       const nlohmann::json& metadata);

// One utterance of a transcript, as the index keeps it.
struct IndexedUtterance {
  std::string speaker;
  int64_t start_ms = 0, end_ms = 0;
  std::string text;    // the words
  std::string phones;  // one character per phone (transcribe/phonetic.h: phone_code)
};
// Adds a transcript's utterances (the transcript object `object_id` of the recording).
Status index_utterances(SqliteDb& db, const std::string& recording_id, const std::string& object_id,
                        const std::vector<IndexedUtterance>& utterances);
// Removes every utterance of the recording (a transcription starting over, or disposal).
Status drop_utterances(SqliteDb& db, const std::string& recording_id);

// Indexes every recording the index does not have yet; returns how many. Fills the participant
// numbers and parts first if the archive has not had them (fill_party_keys).
Result<size_t> index_missing(SqliteDb& db);

// Adds the participant numbers and parts of every recording indexed before search_numbers and
// search_party_parts existed, once each (archive_info "search_numbers_filled",
// "search_party_parts_filled"); returns how many recordings it read. Sorted in memory
// (`max_pairs` keys at a time, 24 bytes each) before it is written, so ten million recordings
// take minutes, not hours.
Result<size_t> fill_party_keys(SqliteDb& db, size_t max_pairs = size_t{32} << 20);

// Whether search_numbers and search_party_parts hold every recording's keys (their fill is done:
// a reader can open an archive whose writer has not filled them yet). Until then a search finds
// numbers and names through the trigrams.
struct PartyKeysFilled {
  bool numbers = false, parts = false;
};
PartyKeysFilled party_keys_filled(SqliteDb& db);

}  // namespace verbatim::archive
