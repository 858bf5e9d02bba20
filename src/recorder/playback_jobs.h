// The playback job: turns a finished recording's evidence into one Ogg/Opus file per
// participant (playback.h), stored through the archive as objects of kind "playback", and lists
// them in a new version of the recording's catalog metadata ("playback": file per participant,
// with its object id, streams, duration and packet counts). Run by a JobWorker (job_worker.h),
// off the live path.
// Idempotent: a job whose recording already lists playback files (the process stopped after
// storing them, before marking the job done) just completes.
#pragma once

#include <nlohmann/json.hpp>

#include "archive/archive.h"
#include "jobs/queue.h"
#include "recorder/job_worker.h"
#include "recorder/playback.h"

namespace verbatim::recorder {

constexpr const char* kPlaybackJob = "playback";

// The recording's evidence (in.evidence, not null) decoded onto its timeline (playback.h), as
// files or as samples; a stop of the worker cancels it.
Result<PlaybackResult> build_from_evidence(JobWorker& worker, JobInput& in,
                                           const std::string& recording,
                                           PlaybackBuilder::Output output);

Result<nlohmann::json> run_playback_job(JobWorker& worker, archive::Archive& archive,
                                        const jobs::Job& job);

}  // namespace verbatim::recorder
