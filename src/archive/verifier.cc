#include "archive/verifier.h"

#include <filesystem>
#include <fstream>

namespace verbatim::archive {

namespace {
nlohmann::json findings_json(const std::vector<Finding>& findings) {
  auto j = nlohmann::json::array();
  for (const auto& f : findings) j.push_back({{"where", f.where}, {"what", f.what}});
  return j;
}
}  // namespace

double VerifyStatus::percent() const {
  if (!in_pass) return passes_completed > 0 ? 100.0 : 0.0;
  // Records are checked when the pass starts; what remains is proportional to object bytes
  // (objects without bytes count as one byte so an archive of empty objects progresses).
  const double total = static_cast<double>(bytes_total + objects_total);
  if (total == 0) return 100.0;
  return 100.0 * static_cast<double>(bytes_checked + objects_checked) / total;
}

nlohmann::json VerifyStatus::to_json() const {
  return {{"passesCompleted", passes_completed},
          {"inPass", in_pass},
          {"passStarted", pass_started},
          {"lastPassFinished", last_pass_finished},
          {"percent", static_cast<int>(percent() * 10) / 10.0},
          {"ledgerEntries", ledger_size},
          {"latestTreeHead", latest_head},
          {"objectsTotal", objects_total},
          {"objectsChecked", objects_checked},
          {"bytesTotal", bytes_total},
          {"bytesChecked", bytes_checked},
          {"findings", findings_json(findings)},
          {"lastPassFindings", findings_json(last_pass_findings)}};
}

IncrementalVerifier::IncrementalVerifier(ArchiveOptions options, const Clock& clock, bool deep,
                                         uint64_t bytes_per_step)
    : options_(std::move(options)), clock_(clock), deep_(deep), bytes_per_step_(bytes_per_step) {
  options_.read_only = true;
}

IncrementalVerifier::~IncrementalVerifier() = default;

Result<std::vector<Finding>> IncrementalVerifier::step() {
  std::vector<Finding> found;
  if (!status_.in_pass) {
    // A fresh read-only view: it sees every entry and object the writer committed so far.
    archive_.reset();
    auto a = Archive::open(options_, clock_, "verifier");
    if (!a) return a.error();
    archive_ = std::move(a).value();
    pending_.clear();
    next_ = 0;
    auto records = archive_->verify_records(&pending_);
    if (!records) return records.error();
    status_.in_pass = true;
    status_.pass_started = format_iso8601(clock_.now());
    status_.ledger_size = archive_->ledger().size();
    auto head = archive_->ledger().latest_head();
    status_.latest_head = head && head.value() ? head.value()->to_line() : "";
    status_.objects_total = pending_.size();
    status_.objects_checked = 0;
    status_.bytes_total = 0;
    status_.bytes_checked = 0;
    for (const auto& o : pending_) status_.bytes_total += o.stored_size;
    status_.findings = records.value();
    found = records.value();
    return found;  // the records check was this step's work
  }
  uint64_t budget = 0;
  while (next_ < pending_.size() && budget < bytes_per_step_) {
    const auto& o = pending_[next_++];
    if (auto f = archive_->check_object(o, deep_)) {
      found.push_back(*f);
      status_.findings.push_back(*f);
    }
    budget += o.stored_size + 1;
    status_.bytes_checked += o.stored_size;
    ++status_.objects_checked;
  }
  if (next_ == pending_.size()) {
    status_.in_pass = false;
    ++status_.passes_completed;
    status_.last_pass_finished = format_iso8601(clock_.now());
    status_.last_pass_findings = status_.findings;
    archive_.reset();  // no stale view between passes
  }
  return found;
}

Status IncrementalVerifier::write_status(const std::string& path) const {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << status_.to_json().dump(2) << "\n";
    out.flush();
    if (!out) return make_error(ErrorCode::kIo, "cannot write " + tmp);
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) return make_error(ErrorCode::kIo, "cannot replace " + path + ": " + ec.message());
  return ok_status();
}

}  // namespace verbatim::archive
