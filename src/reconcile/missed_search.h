// Missed recordings as search results: `verbatim search --status "not recorded"` (or "incomplete
// media", or "missed" for both), `verbatim calls missed` and the REST API list the reconciler's
// alerts (missed_store.h) with the filters that apply to a call that may have no recording:
// participant, time, Call-ID, application, policy. The others need a recording and are refused
// with the reason. Newest first, a page at a time ("m<id>" cursors).
// Threads and ownership: functions over the caller's store; its thread.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"
#include "reconcile/missed_store.h"
#include "search/search.h"

namespace verbatim::reconcile {

struct MissedPage {
  std::vector<Alert> alerts;
  std::string next_cursor;  // empty: the last page
};

// `store` may be null (the reconciler never ran here): an empty page.
Result<MissedPage> search_missed(MissedStore* store, const search::Query& q);

// {"missed": [alert, ...], "next": cursor | null}
nlohmann::json missed_page_json(const MissedPage& page);

}  // namespace verbatim::reconcile
