// A client of the S3 API for the archive's object store (s3_store.h): signed requests (AWS
// Signature Version 4), single and multipart uploads with Object Lock retention, ranged reads,
// listings, versioned deletes, retention and legal holds; retries with backoff.
//
// Hand-written, because Debian 12 packages no S3 library that knows Object Lock (libs3 predates
// it; the AWS SDK for C++ is not packaged). The request signing follows the AWS SigV4
// specification and is checked against its published example; HTTP is Boost.Beast
// (common/http_client.h), XML pugixml, hashes OpenSSL.
//
// Checksums: every upload carries Content-MD5 (the store refuses a body that does not match) and
// a signed SHA-256 of its payload; the ETag returned for each PUT and part is compared with our
// MD5, and the multipart ETag with the MD5 of the parts' MD5s.
//
// Retries: a request that fails in transport, times out or gets 500, 502, 503, 504 or 429 is
// sent again after 200 ms, 400 ms, 800 ms, ... (with jitter, at most 5 s apart), up to
// `attempts` times in all. Any other answer is returned at once.
//
// Threads and ownership: the client holds only its configuration; each call opens its own
// connection. Any thread, concurrently.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/http_client.h"
#include "common/result.h"

namespace verbatim::archive {

struct S3Config {
  std::string endpoint;  // http(s)://host[:port]; buckets are addressed by path
  std::string bucket;
  std::string region = "us-east-1";
  std::string access_key;
  std::string secret_key;
  std::string ca_file;  // empty: the system's CAs
  std::chrono::milliseconds timeout{30000};
  int attempts = 6;
  std::chrono::milliseconds first_backoff{200};
};

// --- Signature Version 4 (exposed for its tests) ---
struct SigV4Request {
  std::string method;
  std::string canonical_uri;                                 // already encoded, e.g. "/b/k"
  std::vector<std::pair<std::string, std::string>> query;    // raw names and values
  std::vector<std::pair<std::string, std::string>> headers;  // all of them are signed
  std::string payload_sha256;                                // hex
  std::string amz_date;                                      // 20130524T000000Z
  std::string region;
  std::string service = "s3";
};
// The Authorization header's value.
std::string sigv4_authorization(const SigV4Request& r, const std::string& access_key,
                                const std::string& secret_key);
// RFC 3986 percent-encoding of everything but unreserved characters (and '/' when kept).
std::string s3_uri_encode(std::string_view s, bool keep_slash);
std::string s3_query_string(const std::vector<std::pair<std::string, std::string>>& query);

// --- Replies, parsed (exposed for the fuzz target) ---
struct S3ErrorReply {
  std::string code;  // "AccessDenied", "NoSuchKey", ...
  std::string message;
};
S3ErrorReply parse_s3_error(std::string_view xml);
struct S3Listing {
  std::vector<std::string> keys;
  std::string next_token;  // empty when the listing is complete
};
Result<S3Listing> parse_s3_listing(std::string_view xml);
struct S3Version {
  std::string key;
  std::string version_id;
  bool delete_marker = false;
};
struct S3VersionListing {
  std::vector<S3Version> versions;
  std::string next_key_marker, next_version_marker;  // empty when complete
};
Result<S3VersionListing> parse_s3_versions(std::string_view xml);
Result<std::string> parse_s3_upload_id(std::string_view xml);
// "COMPLIANCE 365 days" style summary of a bucket's Object Lock configuration, or an error when
// Object Lock is not enabled.
struct S3LockConfig {
  bool enabled = false;
  std::string default_mode;  // "" when the bucket sets no default retention
};
Result<S3LockConfig> parse_s3_lock_configuration(std::string_view xml);

struct S3Head {
  uint64_t size = 0;
  std::string etag;  // without quotes
  std::string version_id;
  std::string lock_mode;     // "COMPLIANCE", "GOVERNANCE" or ""
  std::string retain_until;  // ISO 8601 as the store gives it
  std::string legal_hold;    // "ON", "OFF" or ""
};

class S3Client {
 public:
  // Checks the endpoint and that credentials are present.
  static Result<S3Client> make(S3Config config);

  const S3Config& config() const { return config_; }
  // "s3://bucket/key", for messages.
  std::string describe(const std::string& key) const;

  // Creates the bucket (with Object Lock, which also turns versioning on, when asked).
  Status create_bucket(bool object_lock) const;
  // The bucket's Object Lock configuration (a 404 is "not enabled").
  Result<S3LockConfig> lock_configuration() const;
  // PUT of a whole object, locked in COMPLIANCE mode until `retain_until` (ISO 8601) unless it is
  // empty. Returns the version id.
  Result<std::string> put(const std::string& key, std::string_view body,
                          const std::string& retain_until) const;
  // Multipart: start, each part (1-based; returns its ETag), finish, or give up.
  Result<std::string> start_multipart(const std::string& key,
                                      const std::string& retain_until) const;
  Result<std::string> put_part(const std::string& key, const std::string& upload_id, int number,
                               std::string_view body) const;
  Result<std::string> finish_multipart(const std::string& key, const std::string& upload_id,
                                       const std::vector<std::string>& etags) const;
  Status abort_multipart(const std::string& key, const std::string& upload_id) const;
  // nullopt when there is no such object.
  Result<std::optional<S3Head>> head(const std::string& key) const;
  Result<std::string> get_range(const std::string& key, uint64_t offset, uint64_t length) const;
  // Every key under `prefix`, in key order.
  Result<std::vector<std::string>> list(const std::string& prefix) const;
  // Every version (and delete marker) of exactly `key`.
  Result<std::vector<S3Version>> versions(const std::string& key) const;
  // Removes one version for good; the store refuses it while the version is locked.
  Status delete_version(const std::string& key, const std::string& version_id) const;
  // Plain DELETE: on a versioned bucket only adds a delete marker.
  Status delete_current(const std::string& key) const;
  Status put_retention(const std::string& key, const std::string& version_id,
                       const std::string& retain_until) const;
  Status put_legal_hold(const std::string& key, const std::string& version_id, bool on) const;

  // One signed request with retries; any status is returned (the caller judges it).
  Result<HttpResponse> send(const std::string& method, const std::string& key,
                            const std::vector<std::pair<std::string, std::string>>& query,
                            std::vector<std::pair<std::string, std::string>> headers,
                            std::string_view body) const;

 private:
  explicit S3Client(S3Config config, HttpUrl url)
      : config_(std::move(config)), url_(std::move(url)) {}
  // kIo (or kFailedPrecondition for 403, kNotFound for 404) naming the operation, the object and
  // the store's own code and message; Error::status is the HTTP status.
  Error failure(const std::string& what, const std::string& key, const HttpResponse& r) const;
  S3Config config_;
  HttpUrl url_;
};

// Hex MD5 and base64 MD5 of bytes (Content-MD5 and ETag checks).
std::string md5_hex(std::string_view data);
std::string md5_base64(std::string_view data);

}  // namespace verbatim::archive
