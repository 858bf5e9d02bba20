// Where each role keeps its files inside the data directory (`general.data_dir`), named once:
// every command and role reads the same names from here. docs/operations.md lists them for
// backups.
// Threads and ownership: a value naming files; any thread.
#pragma once

#include <filesystem>
#include <string>
#include <utility>

namespace verbatim {

class DataPaths {
 public:
  explicit DataPaths(std::filesystem::path data_dir) : dir_(std::move(data_dir)) {}

  const std::filesystem::path& dir() const { return dir_; }
  std::string policy_db() const { return file("policy.db"); }  // the policy model
  std::string jobs_db() const { return file("jobs.db"); }      // the durable job queue
  std::string calls_db() const { return file("calls.db"); }    // the gateway's call records
  std::string calls_jsonl() const { return file("gateway-calls.jsonl"); }  // and as lines
  // requests about calls in progress: pause, resume, record on demand (common/call_control.h)
  std::string call_control_db() const { return file("call-control.db"); }
  std::string searches_db() const { return file("searches.db"); }  // saved searches, hits
  std::string missed_db() const { return file("missed.db"); }      // missed recordings found
  std::string cases_db() const { return file("cases.db"); }        // cases, their history, exports
  std::string meetings_db() const { return file("meetings.db"); }  // meetings (common/meetings.h)
  std::string gateway_status() const { return file("gateway-status.json"); }
  std::string gateway_dialogs() const { return file("gateway-dialogs.jsonl"); }
  std::string gateway_registrations() const { return file("gateway-registrations.json"); }
  std::string archive_dir() const { return file("archive"); }
  std::string archive_db() const { return (dir_ / "archive" / "archive.db").string(); }
  std::string verify_status() const { return (dir_ / "archive" / "verify-status.json").string(); }
  std::string recorder_status() const { return file("recorder-status.json"); }
  std::string gateway_recorder_key() const { return file("gateway-recorder.key"); }  // X-Verbatim
  std::string prompts_dir() const { return file("prompts"); }  // recorded notices, if any
  std::string tls_dir() const { return file("tls"); }          // generated certificates
  std::string import_dir() const { return file("import"); }    // Import-VbDirectory over REST
  std::string work_dir() const { return file("tmp"); }         // scratch (export packages)

 private:
  std::string file(const char* name) const { return (dir_ / name).string(); }
  std::filesystem::path dir_;
};

}  // namespace verbatim
