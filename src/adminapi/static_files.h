// The portal's front end as files (web/, built by npm at build time into share/portal): GET and
// HEAD of any path outside /api/ answer from the web root. "/" and paths without a file
// extension get index.html (the application routes itself). Paths with ".." or NUL, hidden files
// and anything outside the root are 404. Every answer carries the portal's security headers: a
// Content-Security-Policy allowing only this origin (nothing from a CDN, no inline script),
// nosniff, no framing, no referrer. Files under /assets/ are named by their content hash and
// cached for a year; index.html is revalidated each time.
// Reads from disk per request (the files are small and the OS caches them); thread-safe.
#pragma once

#include <string>

#include "adminapi/http_types.h"

namespace verbatim::adminapi {

class StaticFiles {
 public:
  explicit StaticFiles(std::string root) : root_(std::move(root)) {}
  bool enabled() const { return !root_.empty(); }
  Response serve(const Request& req, std::string_view path) const;
  // The headers every portal page carries (also API answers a browser reads).
  static void secure(Response& r);

 private:
  std::string root_;
};

}  // namespace verbatim::adminapi
