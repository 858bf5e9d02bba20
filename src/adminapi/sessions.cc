#include "adminapi/sessions.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <vector>

#include "adminapi/router.h"
#include "common/ids.h"
#include "common/strings.h"

namespace verbatim::adminapi {

SessionStore::Created SessionStore::create(const std::string& account, const std::string& cosigner,
                                           Clock::time_point now) {
  Created c;
  c.secret = random_hex(32);
  c.session = {random_hex(6), account, cosigner, random_hex(32), now, now, now};
  std::lock_guard lock(mu_);
  // At most kMaxSessionsPerAccount each: the oldest ends first.
  std::vector<std::map<std::string, Session>::iterator> mine;
  for (auto it = by_hash_.begin(); it != by_hash_.end(); ++it) {
    if (it->second.account == account) mine.push_back(it);
  }
  std::sort(mine.begin(), mine.end(),
            [](const auto& a, const auto& b) { return a->second.created < b->second.created; });
  for (size_t i = 0; i + kMaxSessionsPerAccount <= mine.size(); ++i) by_hash_.erase(mine[i]);
  by_hash_[token_hash(c.secret)] = c.session;
  return c;
}

bool SessionStore::expired(const Session& s, Clock::time_point now) const {
  return now - s.last_seen > limits_.idle || now - s.created > limits_.absolute;
}

std::optional<SessionStore::Session> SessionStore::find(const std::string& secret,
                                                        Clock::time_point now) {
  if (secret.empty()) return std::nullopt;
  std::lock_guard lock(mu_);
  auto it = by_hash_.find(token_hash(secret));
  if (it == by_hash_.end()) return std::nullopt;
  if (expired(it->second, now)) {
    by_hash_.erase(it);
    return std::nullopt;
  }
  it->second.last_seen = now;
  return it->second;
}

bool SessionStore::reauthenticated(const std::string& secret, Clock::time_point now) {
  std::lock_guard lock(mu_);
  auto it = by_hash_.find(token_hash(secret));
  if (it == by_hash_.end() || expired(it->second, now)) return false;
  it->second.authenticated = now;
  it->second.last_seen = now;
  return true;
}

bool SessionStore::remove(const std::string& secret) {
  std::lock_guard lock(mu_);
  return by_hash_.erase(token_hash(secret)) > 0;
}

size_t SessionStore::remove_account(const std::string& account) {
  std::lock_guard lock(mu_);
  return std::erase_if(by_hash_, [&](const auto& kv) { return kv.second.account == account; });
}

size_t SessionStore::size() const {
  std::lock_guard lock(mu_);
  return by_hash_.size();
}

bool SessionStore::locked(const std::string& account, Clock::time_point now) {
  std::lock_guard lock(mu_);
  auto it = failures_.find(account);
  return it != failures_.end() && now < it->second.locked_until;
}

bool SessionStore::failed(const std::string& account, Clock::time_point now) {
  std::lock_guard lock(mu_);
  // Bounded: names nobody signs in with again are forgotten once their window passed.
  if (failures_.size() > 10000) {
    std::erase_if(failures_, [&](const auto& kv) {
      return now - kv.second.first > kFailureWindow && now >= kv.second.locked_until;
    });
  }
  Failures& f = failures_[account];
  if (f.count == 0 || now - f.first > kFailureWindow) f = {0, now, {}};
  if (++f.count < kMaxFailures) return false;
  f = {0, now, now + kLockout};
  return true;
}

void SessionStore::succeeded(const std::string& account) {
  std::lock_guard lock(mu_);
  failures_.erase(account);
}

std::string cookie_value(std::string_view header, std::string_view name) {
  while (!header.empty()) {
    const size_t end = header.find(';');
    std::string_view pair = trim(header.substr(0, end));
    header = end == std::string_view::npos ? std::string_view() : header.substr(end + 1);
    const size_t eq = pair.find('=');
    if (eq != std::string_view::npos && trim(pair.substr(0, eq)) == name) {
      return std::string(trim(pair.substr(eq + 1)));
    }
  }
  return "";
}

bool same_secret(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace verbatim::adminapi
