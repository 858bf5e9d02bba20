// The dialogs the gateway holds — with phones, the trunk and recorders — journaled to a file so
// that a gateway that died without hanging up (kill -9, a crash, power) ends them when it starts
// again: recorders finish their recordings at once instead of waiting for their media timeout,
// phones stop holding a dead call. Each established dialog appends an "up" line (what a BYE
// needs: Call-ID, tags, URIs, target, routes, CSeq, where to send it), each ended one a "down"
// line; lines are written through a buffer flushed once a second (a crash loses at most that
// second: dialogs set up in it are left to the peers' timeouts, dialogs ended in it get a BYE
// they answer with 481). The file is rewritten with the live dialogs when it has grown to
// several times their size. Not thread-safe: the gateway's thread.
#pragma once

#include <cstdint>
#include <fstream>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/result.h"
#include "sip/dialog.h"
#include "sip/transaction.h"

namespace verbatim::gateway {

struct JournaledDialog {
  uint64_t session = 0;
  std::string call;  // the call's Call-ID (the caller's), for the log
  std::string role;  // caller, callee, recorder
  sip::Dialog::Saved dialog;
  sip::Peer peer;
};

class DialogJournal {
 public:
  explicit DialogJournal(std::string path) : path_(std::move(path)) {}
  ~DialogJournal();

  // What a previous run left up (lines that do not parse are skipped and counted in `bad`),
  // then starts the file afresh. A missing file is nothing left.
  Result<std::vector<JournaledDialog>> recover(size_t* bad = nullptr);
  void up(const JournaledDialog& d);
  void down(uint64_t session);  // no-op for a session never journaled
  void flush();
  size_t live() const { return live_.size(); }

 private:
  void append(const std::string& line);
  void compact();
  std::string path_;
  std::ofstream out_;
  std::unordered_map<uint64_t, std::string> live_;  // session -> its "up" line
  size_t live_bytes_ = 0, file_bytes_ = 0;
};

}  // namespace verbatim::gateway
