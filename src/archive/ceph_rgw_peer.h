// CephRgwPeer: a one-node Ceph cluster with the RADOS Gateway on loopback, started through
// tests/peers/ceph-rgw.sh and stopped with the object. For tests and benchmarks only
// (header-only): the S3 store's tests and bench/s3_bench.cc start one per process.
// Threads and ownership: the cluster's daemons belong to the object; stop() or the destructor
// ends them and removes their directory.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <string>

#include "archive/s3_client.h"

namespace verbatim::archive {

class CephRgwPeer {
 public:
  // Runs the script; `exit_status` is its exit code (0 started, 77 Ceph not installed).
  CephRgwPeer() {
    dir_ = (std::filesystem::temp_directory_path() / ("vb_ceph_" + std::to_string(::getpid())))
               .string();
    script_ = std::string(VERBATIM_SOURCE_DIR) + "/tests/peers/ceph-rgw.sh";
    FILE* p = ::popen((script_ + " start " + dir_).c_str(), "r");
    if (!p) return;
    std::array<char, 512> buf{};
    while (std::fgets(buf.data(), buf.size(), p)) output_ += buf.data();
    const int status = ::pclose(p);
    exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 1;
    std::istringstream lines(output_);
    std::string line;
    while (std::getline(lines, line)) {
      const size_t eq = line.find('=');
      if (eq == std::string::npos) continue;
      const std::string k = line.substr(0, eq), v = line.substr(eq + 1);
      if (k == "RGW_URL") s3_.endpoint = v;
      if (k == "S3_ACCESS_KEY") s3_.access_key = v;
      if (k == "S3_SECRET_KEY") s3_.secret_key = v;
    }
  }
  ~CephRgwPeer() { stop(); }
  CephRgwPeer(const CephRgwPeer&) = delete;
  CephRgwPeer& operator=(const CephRgwPeer&) = delete;

  int exit_status() const { return exit_status_; }
  const std::string& output() const { return output_; }
  // Endpoint and credentials; the bucket is the caller's.
  const S3Config& s3() const { return s3_; }

  void stop() {
    if (stopped_) return;
    stopped_ = true;
    (void)std::system((script_ + " stop " + dir_).c_str());
  }

 private:
  std::string dir_, script_, output_;
  int exit_status_ = 1;
  bool stopped_ = false;
  S3Config s3_;
};

}  // namespace verbatim::archive
