#include "archive/verify_loop.h"

#include <spdlog/spdlog.h>

namespace verbatim::archive {

void VerifyLoop::run_step() {
  const bool starting = !verifier_.status().in_pass;
  auto found = verifier_.step();
  if (!found) {
    if (!waiting_) spdlog::warn("archive verification: {} (retrying)", found.error().message);
    waiting_ = true;
    schedule(std::chrono::seconds(10));
    return;
  }
  waiting_ = false;
  const auto& st = verifier_.status();
  if (starting) {
    spdlog::info("archive verification: pass {} started: {} ledger entries, {} objects",
                 st.passes_completed + 1, st.ledger_size, st.objects_total);
  }
  for (const auto& f : found.value()) {
    spdlog::error("archive verification FINDING {}: {}", f.where, f.what);
  }
  const int decile = static_cast<int>(st.percent()) / 10;
  if (st.in_pass && decile != last_decile_) {
    spdlog::info("archive verification: {}% ({} of {} objects)", static_cast<int>(st.percent()),
                 st.objects_checked, st.objects_total);
  }
  last_decile_ = decile;
  const auto now = std::chrono::steady_clock::now();
  if (!st.in_pass || now - last_write_ >= std::chrono::seconds(1)) {
    if (auto w = verifier_.write_status(status_file_); !w) {
      spdlog::warn("archive verification: {}", w.error().message);
    }
    last_write_ = now;
  }
  if (st.in_pass) {
    schedule(std::chrono::milliseconds(100));
    return;
  }
  spdlog::info("archive verification: pass {} finished: {} objects, {} finding(s)",
               st.passes_completed, st.objects_checked, st.last_pass_findings.size());
  schedule(interval_);
}

}  // namespace verbatim::archive
