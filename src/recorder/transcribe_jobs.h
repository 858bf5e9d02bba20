// The transcription job: one transcript per participant of a finished recording, by the
// configured engine (transcribe/engine.h), stored as an encrypted archive object of kind
// "transcript" (docs/archive-format.md, "Transcripts"), indexed for search (the words in full
// text, the phones for phonetic search), and listed in a new version of the recording's
// metadata ("transcripts": the engine, its version and model, and per participant the object,
// utterances, words and mean confidence).
//
// The audio is the evidence decoded on the recording's timeline (playback.h, as samples, not
// the re-encoded playback file), upsampled to the engine's 16 kHz. Run by its own JobWorker
// (job_worker.h) at the idle scheduling class: on a busy recorder transcripts lag, calls never
// do, and `verbatim calls jobs` shows the backlog.
// Idempotent: a job whose recording already lists transcripts completes; one that starts over
// first drops what an interrupted attempt indexed.
// Threads and ownership: a Transcriber owns its engine and is used by its worker's thread only.
#pragma once

#include <memory>

#include <nlohmann/json.hpp>

#include "archive/archive.h"
#include "jobs/queue.h"
#include "recorder/job_worker.h"
#include "transcribe/engine.h"
#include "transcribe/sentiment.h"

namespace verbatim::recorder {

constexpr const char* kTranscribeJob = "transcribe";

class Transcriber {
 public:
  // `sentiment`: scores each utterance and each participant (may be null: no sentiment).
  explicit Transcriber(std::unique_ptr<transcribe::Engine> engine,
                       std::unique_ptr<transcribe::SentimentScorer> sentiment = nullptr)
      : engine_(std::move(engine)), sentiment_(std::move(sentiment)) {}
  Result<nlohmann::json> run(JobWorker& worker, archive::Archive& archive, const jobs::Job& job);

 private:
  std::unique_ptr<transcribe::Engine> engine_;
  std::unique_ptr<transcribe::SentimentScorer> sentiment_;
};

}  // namespace verbatim::recorder
