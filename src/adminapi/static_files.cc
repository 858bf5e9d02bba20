#include "adminapi/static_files.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "adminapi/http_util.h"
#include "common/strings.h"

namespace verbatim::adminapi {

using detail::problem;
using detail::url_decode;

namespace {

std::string_view content_type(std::string_view ext) {
  static constexpr std::pair<std::string_view, std::string_view> kTypes[] = {
      {".html", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".json", "application/json"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".ico", "image/x-icon"},
      {".woff2", "font/woff2"},
      {".txt", "text/plain; charset=utf-8"},
      {".map", "application/json"},
  };
  for (const auto& [e, t] : kTypes) {
    if (e == ext) return t;
  }
  return "application/octet-stream";
}

bool safe(std::string_view path) {
  if (path.find('\0') != std::string_view::npos || path.find('\\') != std::string_view::npos) {
    return false;
  }
  size_t i = 0;
  while (i <= path.size()) {
    const size_t end = std::min(path.find('/', i), path.size());
    const std::string_view seg = path.substr(i, end - i);
    if (seg == ".." || (!seg.empty() && seg.front() == '.')) return false;
    i = end + 1;
  }
  return true;
}

}  // namespace

void StaticFiles::secure(Response& r, bool client_page) const {
  std::string connect = "'self'";
  if (client_page && client_) {
    // The gateway's WebSocket: another port of whatever host the page was loaded from.
    const auto c = client_();
    if (c.is_object() && c.contains("webSocketPort")) {
      connect += std::string(c.value("secure", true) ? " wss://*:" : " ws://*:") +
                 std::to_string(c["webSocketPort"].get<int>());
    }
  }
  r.set("Content-Security-Policy",
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data: blob:; media-src 'self' blob:; connect-src " +
            connect +
            "; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
            "frame-ancestors 'none'");
  r.set("X-Content-Type-Options", "nosniff");
  r.set("X-Frame-Options", "DENY");
  r.set("Referrer-Policy", "no-referrer");
  r.set("Cross-Origin-Opener-Policy", "same-origin");
  r.set("Permissions-Policy", client_page ? "camera=(self), microphone=(self), "
                                            "display-capture=(self), geolocation=()"
                                          : "camera=(), microphone=(), geolocation=()");
}

Response StaticFiles::serve(const Request& req, std::string_view path) const {
  auto not_found = [&] {
    Response r = problem(req, http::status::not_found, "no such resource", "NotFound");
    secure(r);
    return r;
  };
  if (req.method() != http::verb::get && req.method() != http::verb::head) {
    Response r = problem(req, http::status::method_not_allowed, "use GET", "MethodNotAllowed");
    r.set(http::field::allow, "GET, HEAD");
    return r;
  }
  const std::string decoded = url_decode(path);
  if (decoded.empty() || decoded.front() != '/' || !safe(decoded)) return not_found();
  std::filesystem::path rel = decoded.substr(1);
  // The applications' own routes: the web client's under /client, the portal's elsewhere.
  const bool client_page =
      decoded == "/client" || decoded.starts_with("/client/") || decoded == "/client.html";
  if (rel.empty() || !rel.has_extension()) rel = client_page ? "client.html" : "index.html";
  const std::filesystem::path file = std::filesystem::path(root_) / rel;
  std::error_code ec;
  if (!std::filesystem::is_regular_file(file, ec)) return not_found();
  std::ifstream in(file, std::ios::binary);
  if (!in) return not_found();
  std::ostringstream body;
  body << in.rdbuf();

  Response r{http::status::ok, req.version()};
  r.set(http::field::content_type, std::string(content_type(rel.extension().string())));
  r.set(http::field::cache_control,
        decoded.starts_with("/assets/") ? "public, max-age=31536000, immutable" : "no-cache");
  secure(r, client_page);
  r.keep_alive(req.keep_alive());
  if (req.method() == http::verb::head) {
    r.content_length(static_cast<uint64_t>(body.tellp()));
  } else {
    r.body() = std::move(body).str();
    r.prepare_payload();
  }
  return r;
}

}  // namespace verbatim::adminapi
