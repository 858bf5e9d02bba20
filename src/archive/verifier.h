// IncrementalVerifier: verification that runs in the background, a bounded piece at a time,
// and says how far it got.
//
// A pass opens the archive read-only (so it sees everything the writer committed), checks the
// records at once — ledger leaves, signed and witnessed heads, catalog rows, metadata
// versions, unknown files: cheap, no object is read — and then the content of every sealed
// object, a few megabytes per step(), so a server interleaves it with its real work and a
// pass over years of recordings needs no maintenance window. Findings are reported as they
// are found (the caller logs them as alerts) and kept with the pass. Status: a JSON document
// (passes, progress in objects and bytes, findings of the current and the last pass) that
// the server writes to <archive>/verify-status.json for `verbatim verify --status`.
// Threads and ownership: an IncrementalVerifier borrows an Archive and runs on the thread that
// owns it (serve's io_context, or the CLI).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "archive/archive.h"

namespace verbatim::archive {

struct VerifyStatus {
  uint64_t passes_completed = 0;
  bool in_pass = false;
  std::string pass_started;
  std::string last_pass_finished;
  uint64_t ledger_size = 0;  // entries covered by the current (or last) pass
  std::string latest_head;   // the latest signed tree head when the pass started
  uint64_t objects_total = 0;
  uint64_t objects_checked = 0;
  uint64_t bytes_total = 0;
  uint64_t bytes_checked = 0;
  std::vector<Finding> findings;            // current pass so far
  std::vector<Finding> last_pass_findings;  // the last completed pass
  double percent() const;
  nlohmann::json to_json() const;
};

class IncrementalVerifier {
 public:
  // `options.read_only` is forced on. bytes_per_step bounds the object bytes one step reads.
  IncrementalVerifier(ArchiveOptions options, const Clock& clock, bool deep,
                      uint64_t bytes_per_step = uint64_t{32} << 20);
  ~IncrementalVerifier();

  // One bounded piece of work; starts a pass when none is running. Returns the findings
  // this step made (new alerts). An archive that cannot be opened is an error.
  Result<std::vector<Finding>> step();
  const VerifyStatus& status() const { return status_; }
  // Writes status().to_json() to `path` atomically (temporary file + rename).
  Status write_status(const std::string& path) const;

 private:
  ArchiveOptions options_;
  const Clock& clock_;
  bool deep_;
  uint64_t bytes_per_step_;
  std::unique_ptr<Archive> archive_;
  std::vector<Archive::ObjectCheck> pending_;
  size_t next_ = 0;
  VerifyStatus status_;
};

}  // namespace verbatim::archive
