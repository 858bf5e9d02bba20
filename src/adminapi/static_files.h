// The portal's front end as files (web/, built by npm at build time into share/portal): GET and
// HEAD of any path outside /api/ answer from the web root. "/" and paths without a file
// extension get index.html (the application routes itself). Paths with ".." or NUL, hidden files
// and anything outside the root are 404. Every answer carries the portal's security headers: a
// Content-Security-Policy allowing only this origin (nothing from a CDN, no inline script),
// nosniff, no framing, no referrer. Files under /assets/ are named by their content hash and
// cached for a year; index.html is revalidated each time. The users' web client is the page
// client.html, at /client and the paths under it; its policy also lets it connect to the
// gateway's WebSocket (the port `client` names) and use the microphone, camera and screen.
// Reads from disk per request (the files are small and the OS caches them); thread-safe.
#pragma once

#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "adminapi/http_types.h"

namespace verbatim::adminapi {

class StaticFiles {
 public:
  // `client`: the web client's settings ({"webSocketPort", "secure"}; null: no WebSocket).
  explicit StaticFiles(std::string root, std::function<nlohmann::json()> client = {})
      : root_(std::move(root)), client_(std::move(client)) {}
  bool enabled() const { return !root_.empty(); }
  Response serve(const Request& req, std::string_view path) const;
  // The headers every portal page carries (also API answers a browser reads); `client_page`:
  // the web client's, which may reach the gateway's WebSocket and the user's devices.
  void secure(Response& r, bool client_page = false) const;

 private:
  std::string root_;
  std::function<nlohmann::json()> client_;
};

}  // namespace verbatim::adminapi
