#include "archive/s3_client.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sodium.h>

#include <algorithm>
#include <array>
#include <ctime>
#include <random>
#include <thread>

#include <pugixml.hpp>

#include "archive/keys.h"
#include "common/strings.h"

namespace verbatim::archive {

namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;

std::string bytes_hex(const unsigned char* p, size_t n) {
  return verbatim::to_hex(std::span<const uint8_t>(p, n));
}

std::string digest_hex(const EVP_MD* md, std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> out{};
  unsigned int n = 0;
  EVP_Digest(data.data(), data.size(), out.data(), &n, md, nullptr);
  return bytes_hex(out.data(), n);
}

std::string sha256_hex_of(std::string_view data) { return digest_hex(EVP_sha256(), data); }

std::string hmac(std::string_view key, std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> out{};
  unsigned int n = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data(), &n);
  return {reinterpret_cast<const char*>(out.data()), n};
}

std::string trim_spaces(std::string_view v) {
  std::string out;
  bool space = false;
  for (char c : v) {
    if (c == ' ' || c == '\t') {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

std::string amz_now() {
  const std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::array<char, 20> buf{};
  std::strftime(buf.data(), buf.size(), "%Y%m%dT%H%M%SZ", &tm);
  return buf.data();
}

std::string unquote(std::string s) {
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"') return s.substr(1, s.size() - 2);
  return s;
}

bool retryable(int status) {
  return status == 500 || status == 502 || status == 503 || status == 504 || status == 429;
}

Result<pugi::xml_document> load_xml(std::string_view xml, const char* what) {
  pugi::xml_document doc;
  if (!doc.load_buffer(xml.data(), xml.size())) {
    return make_error(ErrorCode::kIo,
                      std::string("the object store's ") + what + " reply is not XML");
  }
  return doc;
}

std::string lock_body(const std::string& retain_until) {
  return "<Retention xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Mode>COMPLIANCE</Mode>"
         "<RetainUntilDate>" +
         retain_until + "</RetainUntilDate></Retention>";
}

}  // namespace

std::string md5_hex(std::string_view data) { return digest_hex(EVP_md5(), data); }

std::string md5_base64(std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> out{};
  unsigned int n = 0;
  EVP_Digest(data.data(), data.size(), out.data(), &n, EVP_md5(), nullptr);
  std::array<char, 64> b64{};
  sodium_bin2base64(b64.data(), b64.size(), out.data(), n, sodium_base64_VARIANT_ORIGINAL);
  return b64.data();
}

std::string s3_uri_encode(std::string_view s, bool keep_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' ||
        (keep_slash && c == '/')) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string s3_query_string(const std::vector<std::pair<std::string, std::string>>& query) {
  std::vector<std::pair<std::string, std::string>> q;
  q.reserve(query.size());
  for (const auto& [k, v] : query) q.emplace_back(s3_uri_encode(k, false), s3_uri_encode(v, false));
  std::sort(q.begin(), q.end());
  std::string out;
  for (const auto& [k, v] : q) {
    if (!out.empty()) out += '&';
    out += k;
    out += '=';
    out += v;
  }
  return out;
}

std::string sigv4_authorization(const SigV4Request& r, const std::string& access_key,
                                const std::string& secret_key) {
  std::vector<std::pair<std::string, std::string>> headers;
  headers.reserve(r.headers.size());
  for (const auto& [k, v] : r.headers) headers.emplace_back(to_lower(k), trim_spaces(v));
  std::sort(headers.begin(), headers.end());
  std::string canonical_headers, signed_headers;
  for (const auto& [k, v] : headers) {
    canonical_headers += k;
    canonical_headers += ':';
    canonical_headers += v;
    canonical_headers += '\n';
    signed_headers += (signed_headers.empty() ? "" : ";") + k;
  }
  const std::string canonical = r.method + "\n" + r.canonical_uri + "\n" +
                                s3_query_string(r.query) + "\n" + canonical_headers + "\n" +
                                signed_headers + "\n" + r.payload_sha256;
  const std::string day = r.amz_date.substr(0, 8);
  const std::string scope = day + "/" + r.region + "/" + r.service + "/aws4_request";
  const std::string to_sign =
      "AWS4-HMAC-SHA256\n" + r.amz_date + "\n" + scope + "\n" + sha256_hex_of(canonical);
  std::string key = hmac("AWS4" + secret_key, day);
  key = hmac(key, r.region);
  key = hmac(key, r.service);
  key = hmac(key, "aws4_request");
  const std::string sig = hmac(key, to_sign);
  return "AWS4-HMAC-SHA256 Credential=" + access_key + "/" + scope +
         ",SignedHeaders=" + signed_headers +
         ",Signature=" + bytes_hex(reinterpret_cast<const unsigned char*>(sig.data()), sig.size());
}

S3ErrorReply parse_s3_error(std::string_view xml) {
  S3ErrorReply e;
  pugi::xml_document doc;
  if (!doc.load_buffer(xml.data(), xml.size())) return e;
  const pugi::xml_node err = doc.child("Error");
  e.code = err.child_value("Code");
  e.message = err.child_value("Message");
  return e;
}

Result<S3Listing> parse_s3_listing(std::string_view xml) {
  auto doc = load_xml(xml, "listing");
  if (!doc) return doc.error();
  const pugi::xml_node root = doc.value().child("ListBucketResult");
  if (!root) return make_error(ErrorCode::kIo, "the object store's listing has no result");
  S3Listing l;
  for (pugi::xml_node c : root.children("Contents")) l.keys.emplace_back(c.child_value("Key"));
  if (std::string_view(root.child_value("IsTruncated")) == "true") {
    l.next_token = root.child_value("NextContinuationToken");
    if (l.next_token.empty()) {
      return make_error(ErrorCode::kIo, "the object store's listing is cut without a token");
    }
  }
  return l;
}

Result<S3VersionListing> parse_s3_versions(std::string_view xml) {
  auto doc = load_xml(xml, "version listing");
  if (!doc) return doc.error();
  const pugi::xml_node root = doc.value().child("ListVersionsResult");
  if (!root) return make_error(ErrorCode::kIo, "the object store's version listing has no result");
  S3VersionListing l;
  for (pugi::xml_node c : root.children()) {
    const std::string_view name = c.name();
    if (name != "Version" && name != "DeleteMarker") continue;
    l.versions.push_back(
        {c.child_value("Key"), c.child_value("VersionId"), name == "DeleteMarker"});
  }
  if (std::string_view(root.child_value("IsTruncated")) == "true") {
    l.next_key_marker = root.child_value("NextKeyMarker");
    l.next_version_marker = root.child_value("NextVersionIdMarker");
    if (l.next_key_marker.empty()) {
      return make_error(ErrorCode::kIo,
                        "the object store's version listing is cut without a marker");
    }
  }
  return l;
}

Result<std::string> parse_s3_upload_id(std::string_view xml) {
  auto doc = load_xml(xml, "multipart");
  if (!doc) return doc.error();
  std::string id = doc.value().child("InitiateMultipartUploadResult").child_value("UploadId");
  if (id.empty()) return make_error(ErrorCode::kIo, "the object store gave no multipart upload id");
  return id;
}

Result<S3LockConfig> parse_s3_lock_configuration(std::string_view xml) {
  auto doc = load_xml(xml, "Object Lock");
  if (!doc) return doc.error();
  const pugi::xml_node root = doc.value().child("ObjectLockConfiguration");
  S3LockConfig c;
  c.enabled = std::string_view(root.child_value("ObjectLockEnabled")) == "Enabled";
  c.default_mode = root.child("Rule").child("DefaultRetention").child_value("Mode");
  return c;
}

Result<S3Client> S3Client::make(S3Config config) {
  auto url = parse_http_url(config.endpoint, "archive.s3.endpoint");
  if (!url) return url.error();
  if (url.value().target != "/" && !url.value().target.empty()) {
    return make_error(
        ErrorCode::kInvalidArgument,
        "archive.s3.endpoint '" + config.endpoint +
            "': give the endpoint without a path; the bucket goes in archive.s3.bucket");
  }
  if (config.bucket.empty()) {
    return make_error(ErrorCode::kInvalidArgument, "archive.s3.bucket is not set");
  }
  if (config.access_key.empty() || config.secret_key.empty()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "no S3 credentials: set archive.s3.credentials_file or AWS_ACCESS_KEY_ID and "
                      "AWS_SECRET_ACCESS_KEY");
  }
  if (config.attempts < 1) config.attempts = 1;
  return S3Client(std::move(config), std::move(url).value());
}

std::string S3Client::describe(const std::string& key) const {
  return "s3://" + config_.bucket + "/" + key;
}

Result<HttpResponse> S3Client::send(const std::string& method, const std::string& key,
                                    const std::vector<std::pair<std::string, std::string>>& query,
                                    Headers headers, std::string_view body) const {
  const std::string uri = "/" + s3_uri_encode(config_.bucket, false) +
                          (key.empty() ? "" : "/" + s3_uri_encode(key, true));
  const std::string qs = s3_query_string(query);
  std::string target = uri;
  if (!qs.empty()) {
    target += '?';
    target += qs;
  }
  const std::string payload = sha256_hex_of(body);
  headers.emplace_back("Host", url_.authority());
  headers.emplace_back("x-amz-content-sha256", payload);
  std::mt19937 rng(std::random_device{}());
  auto wait = config_.first_backoff;
  Result<HttpResponse> last = make_error(ErrorCode::kIo, "no attempt made");
  for (int attempt = 1; attempt <= config_.attempts; ++attempt) {
    HttpRequest req;
    req.method = method;
    req.target = target;
    req.headers = headers;
    req.headers.emplace_back("x-amz-date", amz_now());
    SigV4Request sig{method,        uri, query, req.headers, payload, req.headers.back().second,
                     config_.region};
    req.headers.emplace_back("Authorization",
                             sigv4_authorization(sig, config_.access_key, config_.secret_key));
    req.body = std::string(body);
    last = http_exchange(url_, req, {config_.ca_file, config_.timeout});
    if (last && !retryable(last.value().status)) return last;
    if (attempt == config_.attempts) break;
    std::uniform_int_distribution<int64_t> jitter(wait.count() / 2, wait.count());
    std::this_thread::sleep_for(std::chrono::milliseconds(jitter(rng)));
    wait = std::min<std::chrono::milliseconds>(wait * 2, std::chrono::seconds(5));
  }
  if (!last) {
    return make_error(last.error().code, last.error().message + " (after " +
                                             std::to_string(config_.attempts) + " attempts)");
  }
  return last;
}

Error S3Client::failure(const std::string& what, const std::string& key,
                        const HttpResponse& r) const {
  const S3ErrorReply e = parse_s3_error(r.body);
  const ErrorCode code = r.status == 403   ? ErrorCode::kFailedPrecondition
                         : r.status == 404 ? ErrorCode::kNotFound
                                           : ErrorCode::kIo;
  std::string text =
      what + " " + describe(key) + ": the object store answered HTTP " + std::to_string(r.status);
  if (!e.code.empty()) text += " " + e.code;
  if (!e.message.empty()) text += " (" + e.message + ")";
  Error out{code, text};
  out.status = r.status;  // the store answered: its HTTP status (0 when it did not answer)
  return out;
}

Status S3Client::create_bucket(bool object_lock) const {
  Headers h;
  if (object_lock) h.emplace_back("x-amz-bucket-object-lock-enabled", "true");
  auto r = send("PUT", "", {}, std::move(h), "");
  if (!r) return r.error();
  if (r.value().status != 200) return failure("creating bucket", "", r.value());
  return ok_status();
}

Result<S3LockConfig> S3Client::lock_configuration() const {
  auto r = send("GET", "", {{"object-lock", ""}}, {}, "");
  if (!r) return r.error();
  if (r.value().status == 404 && parse_s3_error(r.value().body).code != "NoSuchBucket") {
    return S3LockConfig{};
  }
  if (r.value().status != 200)
    return failure("reading the Object Lock configuration of", "", r.value());
  return parse_s3_lock_configuration(r.value().body);
}

Result<std::string> S3Client::put(const std::string& key, std::string_view body,
                                  const std::string& retain_until) const {
  const std::string md5 = md5_hex(body);
  Headers h{{"Content-MD5", md5_base64(body)}, {"Content-Type", "application/octet-stream"}};
  if (!retain_until.empty()) {
    h.emplace_back("x-amz-object-lock-mode", "COMPLIANCE");
    h.emplace_back("x-amz-object-lock-retain-until-date", retain_until);
  }
  auto r = send("PUT", key, {}, std::move(h), body);
  if (!r) return r.error();
  if (r.value().status != 200) return failure("uploading", key, r.value());
  if (unquote(r.value().header("etag")) != md5) {
    return make_error(ErrorCode::kIo, "uploading " + describe(key) + ": the store's checksum " +
                                          r.value().header("etag") + " is not ours (" + md5 + ")");
  }
  return r.value().header("x-amz-version-id");
}

Result<std::string> S3Client::start_multipart(const std::string& key,
                                              const std::string& retain_until) const {
  Headers h{{"Content-Type", "application/octet-stream"}};
  if (!retain_until.empty()) {
    h.emplace_back("x-amz-object-lock-mode", "COMPLIANCE");
    h.emplace_back("x-amz-object-lock-retain-until-date", retain_until);
  }
  auto r = send("POST", key, {{"uploads", ""}}, std::move(h), "");
  if (!r) return r.error();
  if (r.value().status != 200) return failure("starting a multipart upload of", key, r.value());
  return parse_s3_upload_id(r.value().body);
}

Result<std::string> S3Client::put_part(const std::string& key, const std::string& upload_id,
                                       int number, std::string_view body) const {
  const std::string md5 = md5_hex(body);
  auto r = send("PUT", key, {{"partNumber", std::to_string(number)}, {"uploadId", upload_id}},
                {{"Content-MD5", md5_base64(body)}}, body);
  if (!r) return r.error();
  if (r.value().status != 200) {
    return failure("uploading part " + std::to_string(number) + " of", key, r.value());
  }
  const std::string etag = unquote(r.value().header("etag"));
  if (etag != md5) {
    return make_error(ErrorCode::kIo, "uploading part " + std::to_string(number) + " of " +
                                          describe(key) + ": the store's checksum " + etag +
                                          " is not ours (" + md5 + ")");
  }
  return etag;
}

Result<std::string> S3Client::finish_multipart(const std::string& key, const std::string& upload_id,
                                               const std::vector<std::string>& etags) const {
  std::string body = "<CompleteMultipartUpload>";
  std::string md5s;
  for (size_t i = 0; i < etags.size(); ++i) {
    body += "<Part><PartNumber>" + std::to_string(i + 1) + "</PartNumber><ETag>\"" + etags[i] +
            "\"</ETag></Part>";
    auto raw = unhex(etags[i]);
    if (raw) md5s.append(raw.value().begin(), raw.value().end());
  }
  body += "</CompleteMultipartUpload>";
  auto r =
      send("POST", key, {{"uploadId", upload_id}}, {{"Content-Type", "application/xml"}}, body);
  if (!r) return r.error();
  // A failure can come as 200 with an Error document (S3 sends the status before it is done).
  if (r.value().status != 200 || !parse_s3_error(r.value().body).code.empty()) {
    return failure("finishing the multipart upload of", key, r.value());
  }
  const std::string want = md5_hex(md5s) + "-" + std::to_string(etags.size());
  pugi::xml_document doc;
  doc.load_buffer(r.value().body.data(), r.value().body.size());
  const std::string etag = unquote(doc.child("CompleteMultipartUploadResult").child_value("ETag"));
  if (!etag.empty() && etag != want) {
    return make_error(ErrorCode::kIo, "finishing " + describe(key) + ": the store's checksum " +
                                          etag + " is not ours (" + want + ")");
  }
  return r.value().header("x-amz-version-id");
}

Status S3Client::abort_multipart(const std::string& key, const std::string& upload_id) const {
  auto r = send("DELETE", key, {{"uploadId", upload_id}}, {}, "");
  if (!r) return r.error();
  if (r.value().status != 204 && r.value().status != 200 && r.value().status != 404) {
    return failure("abandoning the multipart upload of", key, r.value());
  }
  return ok_status();
}

Result<std::optional<S3Head>> S3Client::head(const std::string& key) const {
  auto r = send("HEAD", key, {}, {}, "");
  if (!r) return r.error();
  if (r.value().status == 404) return std::optional<S3Head>();
  if (r.value().status != 200) return failure("looking up", key, r.value());
  S3Head h;
  const std::string len = r.value().header("content-length");
  h.size = len.empty() ? 0 : std::stoull(len);
  h.etag = unquote(r.value().header("etag"));
  h.version_id = r.value().header("x-amz-version-id");
  h.lock_mode = r.value().header("x-amz-object-lock-mode");
  h.retain_until = r.value().header("x-amz-object-lock-retain-until-date");
  h.legal_hold = r.value().header("x-amz-object-lock-legal-hold");
  return std::optional<S3Head>(h);
}

Result<std::string> S3Client::get_range(const std::string& key, uint64_t offset,
                                        uint64_t length) const {
  if (length == 0) return std::string();
  auto r = send(
      "GET", key, {},
      {{"Range", "bytes=" + std::to_string(offset) + "-" + std::to_string(offset + length - 1)}},
      "");
  if (!r) return r.error();
  if (r.value().status != 206 && r.value().status != 200) return failure("reading", key, r.value());
  std::string body = std::move(r.value().body);
  if (r.value().status == 200) body = body.size() > offset ? body.substr(offset) : std::string();
  if (body.size() < length) {
    return make_error(ErrorCode::kIo, "reading " + describe(key) + ": " + std::to_string(length) +
                                          " bytes at " + std::to_string(offset) + " asked, " +
                                          std::to_string(body.size()) + " given");
  }
  body.resize(length);
  return body;
}

Result<std::vector<std::string>> S3Client::list(const std::string& prefix) const {
  std::vector<std::string> keys;
  std::string token;
  for (;;) {
    std::vector<std::pair<std::string, std::string>> q{{"list-type", "2"}, {"prefix", prefix}};
    if (!token.empty()) q.emplace_back("continuation-token", token);
    auto r = send("GET", "", q, {}, "");
    if (!r) return r.error();
    if (r.value().status != 200) return failure("listing", prefix, r.value());
    auto page = parse_s3_listing(r.value().body);
    if (!page) return page.error();
    keys.insert(keys.end(), page.value().keys.begin(), page.value().keys.end());
    if (page.value().next_token.empty()) break;
    token = page.value().next_token;
  }
  return keys;
}

Result<std::vector<S3Version>> S3Client::versions(const std::string& key) const {
  std::vector<S3Version> out;
  std::string key_marker, version_marker;
  for (;;) {
    std::vector<std::pair<std::string, std::string>> q{{"versions", ""}, {"prefix", key}};
    if (!key_marker.empty()) q.emplace_back("key-marker", key_marker);
    if (!version_marker.empty()) q.emplace_back("version-id-marker", version_marker);
    auto r = send("GET", "", q, {}, "");
    if (!r) return r.error();
    if (r.value().status != 200) return failure("listing the versions of", key, r.value());
    auto page = parse_s3_versions(r.value().body);
    if (!page) return page.error();
    for (auto& v : page.value().versions) {
      if (v.key == key) out.push_back(std::move(v));
    }
    if (page.value().next_key_marker.empty()) break;
    key_marker = page.value().next_key_marker;
    version_marker = page.value().next_version_marker;
  }
  return out;
}

Status S3Client::delete_version(const std::string& key, const std::string& version_id) const {
  auto r = send("DELETE", key, {{"versionId", version_id}}, {}, "");
  if (!r) return r.error();
  if (r.value().status != 204 && r.value().status != 200) {
    return failure("deleting version " + version_id + " of", key, r.value());
  }
  return ok_status();
}

Status S3Client::delete_current(const std::string& key) const {
  auto r = send("DELETE", key, {}, {}, "");
  if (!r) return r.error();
  if (r.value().status != 204 && r.value().status != 200)
    return failure("deleting", key, r.value());
  return ok_status();
}

Status S3Client::put_retention(const std::string& key, const std::string& version_id,
                               const std::string& retain_until) const {
  const std::string body = lock_body(retain_until);
  std::vector<std::pair<std::string, std::string>> q{{"retention", ""}};
  if (!version_id.empty()) q.emplace_back("versionId", version_id);
  auto r = send("PUT", key, q,
                {{"Content-MD5", md5_base64(body)}, {"Content-Type", "application/xml"}}, body);
  if (!r) return r.error();
  if (r.value().status != 200 && r.value().status != 204) {
    return failure("setting the retention of", key, r.value());
  }
  return ok_status();
}

Status S3Client::put_legal_hold(const std::string& key, const std::string& version_id,
                                bool on) const {
  const std::string body = std::string(
                               "<LegalHold xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
                               "<Status>") +
                           (on ? "ON" : "OFF") + "</Status></LegalHold>";
  std::vector<std::pair<std::string, std::string>> q{{"legal-hold", ""}};
  if (!version_id.empty()) q.emplace_back("versionId", version_id);
  auto r = send("PUT", key, q,
                {{"Content-MD5", md5_base64(body)}, {"Content-Type", "application/xml"}}, body);
  if (!r) return r.error();
  if (r.value().status != 200 && r.value().status != 204) {
    return failure(std::string(on ? "setting" : "releasing") + " the legal hold of", key,
                   r.value());
  }
  return ok_status();
}

}  // namespace verbatim::archive
