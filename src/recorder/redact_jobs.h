// The redaction job: a compliance officer's request (spans of the recording's timeline to hide,
// silence or tone, who and why; jobs/queue.h) becomes a new version of the recording's playback
// files. The original files and the evidence are never touched: they stay sealed and verify as
// before. Each affected participant's file of the latest version is decoded, its spans replaced
// (media/audio.h, redact_samples) and encoded again as Ogg/Opus at the same rate, and stored as
// an object of kind "playback-redacted"; files no span touches are shared with the version
// before. The version is listed in the recording's catalog metadata ("redactions": version,
// request, spans, fill, reason, who, files), a new metadata version whose ledger entry names who
// asked and why; each new object's sealing is in the ledger too.
// Versions build on each other: version 2 is version 1 with its own spans hidden as well.
// Idempotent: a request whose version is already listed just completes (a restart between the
// metadata update and the job's end). Runs on a JobWorker's thread (job_worker.h).
#pragma once

#include <nlohmann/json.hpp>

#include "archive/archive.h"
#include "jobs/queue.h"
#include "recorder/job_worker.h"

namespace verbatim::recorder {

Result<nlohmann::json> run_redact_job(JobWorker& worker, archive::Archive& archive,
                                      jobs::JobQueue& queue, const jobs::Job& job);

}  // namespace verbatim::recorder
