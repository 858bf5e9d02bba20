// Retention rules: how long a new recording is kept, from what its metadata says about it.
//
// The default period applies to everything (7 years unless configured). Rules raise it for
// recordings of a recording application, a group of the recorded user, or a policy:
//   [[archive.retention]]  application = "<ApplicationId>"  period = "5y"
//   [[archive.retention]]  group = "Traders"                period = "6y"
//   [[archive.retention]]  policy = "Tag:CFTC"              period = "1y"
// When several apply, the longest period wins (a recording that falls under two regimes must
// satisfy both), and a rule may be shorter than the default only for recordings no other rule
// covers. The chosen rule is written to the ledger with the retention date.
//
// Metadata fields matched (case-insensitively): "application_id" or "applications" (array),
// "groups" (array of names or ObjectIds), "policy".
// Threads and ownership: pure functions over rule values; any thread.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/period.h"

namespace verbatim::archive {

struct RetentionRule {
  std::string field;  // application | group | policy
  std::string value;
  Period period;
};

struct RetentionChoice {
  Period period;
  std::string rule;  // "default", "application=…", "group=…", "policy=…", "explicit"
};

struct RetentionRules {
  Period default_period{7, 0, 0};
  std::vector<RetentionRule> rules;

  RetentionChoice choose(const nlohmann::json& metadata) const;
};

}  // namespace verbatim::archive
