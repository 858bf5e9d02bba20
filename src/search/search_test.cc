#include "search/search.h"

#include <gtest/gtest.h>

#include "archive/archive_test.h"
#include "archive/catalog_index.h"
#include "transcribe/phonetic.h"

namespace verbatim::search {
namespace {

using nlohmann::json;

// Recordings shaped as the recorder writes them (recorder.cc: startedAt, call, participants,
// groups, business, durationSeconds at the end).
class SearchTest : public archive::ArchiveTest {
 protected:
  std::string add(const std::string& started, const json& origin, const json& dialed,
                  const std::string& direction, double seconds, json extra = json::object()) {
    json m = {{"type", "siprec"},
              {"startedAt", started},
              {"call", {{"direction", direction}, {"origin", origin}, {"dialed", dialed}}},
              {"participants", json::array({origin, dialed})}};
    m.update(extra);
    auto id = a->create_recording(m);
    EXPECT_TRUE(id) << id.error().message;
    m["durationSeconds"] = seconds;
    EXPECT_TRUE(a->update_metadata(id.value(), m, "recorder", "the call ended"));
    EXPECT_TRUE(a->complete_recording(id.value(), "complete"));
    return id.value();
  }
  std::vector<std::string> ids(std::map<std::string, std::string> params) {
    auto q = query_from_params(params);
    EXPECT_TRUE(q) << q.error().message;
    if (!q) return {};
    auto page = run(a->catalog(), q.value());
    EXPECT_TRUE(page) << page.error().message;
    std::vector<std::string> out;
    if (page) {
      for (const auto& h : page.value().hits) out.push_back(h.id);
    }
    return out;
  }
  void SetUp() override {
    a = open();
    alice = {{"aor", "sip:alice@contoso.com"}, {"name", "Alice Example"}};
    bob = {{"aor", "sip:+442079460018@trunk.example.net;user=phone"}, {"name", "Bob Trader"}};
    carol = {{"aor", "sip:carol@contoso.com"}, {"name", "Carol"}};
    // Three calls an hour apart: alice -> bob (outbound), bob -> alice, carol -> alice.
    first =
        add("2026-12-01T09:00:00.000Z", alice, bob, "outbound", 65,
            {{"groups", {"Traders"}},
             {"callId", "a84b4c76e66710@pc33.example.com"},
             {"region", "EUR"},
             {"policy", "Tag:TradersPolicy"},
             {"business", {{{"key", "X-Trade-Id"}, {"value", "T-1001"}, {"source", "header"}}}}});
    second = add("2026-12-01T10:00:00.000Z", bob, alice, "inbound", 5,
                 {{"groups", {"Traders"}}, {"region", "USA"}});
    third = add("2026-12-01T11:00:00.000Z", carol, alice, "inbound", 300,
                {{"groups", {"Sales"}}, {"region", "EUR"}});
  }
  std::unique_ptr<archive::Archive> a;
  json alice, bob, carol;
  std::string first, second, third;
};

TEST_F(SearchTest, ParticipantByNameAddressOrNumberInAnyFormNewestFirst) {
  using V = std::vector<std::string>;
  EXPECT_EQ(ids({{"participant", "alice"}}), (V{third, second, first}));
  EXPECT_EQ(ids({{"participant", "Bob Trader"}}), (V{second, first}));
  EXPECT_EQ(ids({{"participant", "carol@contoso.com"}}), (V{third}));
  EXPECT_EQ(ids({{"participant", "+44 20 7946 0018"}}), (V{second, first}));
  EXPECT_EQ(ids({{"participant", "79460018"}}), (V{second, first}));  // a part of the number
  EXPECT_EQ(ids({{"participant", "ca"}}), (V{third}));                // short: scanned, still found
  EXPECT_TRUE(ids({{"participant", "dave"}}).empty());
}

// A number, whole or any part of it and in any form, is looked up in the parties' digits (their
// numbers, and digits in names and addresses). Whichever condition leads the search (run's
// plan), the result is the same.
TEST_F(SearchTest, NumbersByAnyPartWhicheverConditionLeads) {
  using V = std::vector<std::string>;
  const json erin = {{"aor", "tel:+44-20-7946-0019"}, {"name", "Erin"}};  // bob's but one digit
  const json desk = {{"aor", "sip:trader4423@bank.example"}, {"name", "Dealing desk 7"}};
  const auto fourth = add("2026-12-01T12:00:00.000Z", erin, alice, "inbound", 30);
  const auto fifth = add("2026-12-01T13:00:00.000Z", desk, carol, "outbound", 30);
  struct Led {
    V ids;
    std::string by;
  };
  auto search = [&](std::map<std::string, std::string> params, Query::Plan plan) {
    auto q = query_from_params(params);
    EXPECT_TRUE(q) << q.error().message;
    q.value().plan = plan;
    auto page = run(a->catalog(), q.value());
    EXPECT_TRUE(page) << page.error().message;
    Led out{{}, page ? page.value().led_by : ""};
    if (page) {
      for (const auto& h : page.value().hits) out.ids.push_back(h.id);
    }
    return out;
  };
  const Query::Plan walk{.list_cap = 0};  // every number list too long: the rows are walked
  const std::vector<std::pair<std::string, V>> cases = {
      {"442079460018", {second, first}},  // longer than a key: its last digits checked
      {"+44 (20) 7946-0018", {second, first}},
      {"4420794600", {fourth, second, first}},
      {"946 001", {fourth, second, first}},
      {"0019", {fourth}},
      {"4423", {fifth}},  // digits in an address
      {"4424", {}},
      {"79460017", {}},
  };
  for (const auto& [number, expected] : cases) {
    const auto listed = search({{"participant", number}}, {});
    EXPECT_EQ(listed.ids, expected) << number;
    EXPECT_EQ(listed.by, "party number") << number;
    const auto walked = search({{"participant", number}}, walk);
    EXPECT_EQ(walked.ids, expected) << number;
    EXPECT_EQ(walked.by, "rows") << number;
  }
  // With words: the fewer lead (here the number), or the words when they are few.
  for (const auto& id : {first, second, third, fourth, fifth}) {
    ASSERT_TRUE(
        a->index_transcript(id, "obj-" + id, {{"Alice", 0, 900, "the market is open", ""}}));
  }
  const Query::Plan counted{.few_words = 0};
  EXPECT_EQ(search({{"participant", "0019"}, {"text", "market"}}, counted).by, "party number");
  EXPECT_EQ(search({{"participant", "0019"}, {"text", "market"}}, counted).ids, (V{fourth}));
  EXPECT_EQ(search({{"participant", "0019"}, {"text", "market"}}, {}).by, "words");
  EXPECT_EQ(search({{"participant", "0019"}, {"text", "market"}}, {}).ids, (V{fourth}));
  EXPECT_EQ(search({{"participant", "442079460018"}, {"text", "market"}}, counted).ids,
            (V{second, first}));
  // A number changed by an edit of the metadata is found by its new digits only.
  {
    auto m = a->recording(fourth).value().metadata;
    m["call"]["origin"]["aor"] = "tel:+1 555 0100";
    m["participants"][0]["aor"] = "tel:+1 555 0100";
    ASSERT_TRUE(a->update_metadata(fourth, m, "officer", "corrected"));
  }
  EXPECT_TRUE(ids({{"participant", "0019"}}).empty());
  EXPECT_EQ(ids({{"participant", "5550100"}}), (V{fourth}));
  // An archive indexed before the numbers were: they are filled when the writer opens it.
  ASSERT_TRUE(a->catalog().exec(
      "DELETE FROM search_numbers; DELETE FROM archive_info WHERE key = 'search_numbers_filled'"));
  // Until then (a reader may open it first) the trigrams serve.
  EXPECT_FALSE(archive::party_keys_filled(a->catalog()).numbers);
  EXPECT_EQ(ids({{"participant", "4423"}}), (V{fifth}));
  a.reset();
  a = open();
  EXPECT_TRUE(archive::party_keys_filled(a->catalog()).numbers);
  EXPECT_EQ(ids({{"participant", "4423"}}), (V{fifth}));
  EXPECT_EQ(ids({{"participant", "4420794600"}}), (V{second, first}));
  // Filled a range of first digits at a time (a large archive's), the same.
  ASSERT_TRUE(a->catalog().exec(
      "DELETE FROM search_numbers; DELETE FROM archive_info WHERE key = 'search_numbers_filled'"));
  auto filled = archive::fill_party_keys(a->catalog(), 1);
  ASSERT_TRUE(filled) << filled.error().message;
  EXPECT_EQ(filled.value(), 5u);
  EXPECT_EQ(ids({{"participant", "4423"}}), (V{fifth}));
  EXPECT_EQ(ids({{"participant", "555 0100"}}), (V{fourth}));
  EXPECT_EQ(ids({{"participant", "207946"}}), (V{second, first}));
}

// Text is looked up by its parts (the parties' text from each place in a word), checked on the
// row when longer than a key; the trigrams give the same.
TEST_F(SearchTest, NamesAndAddressesByTheirPartsWhicheverConditionLeads) {
  using V = std::vector<std::string>;
  const json zoe = {{"aor", "sip:zoe.angstrom@lab.example.org"}, {"name", "Zoë Ångström"}};
  const auto fourth = add("2026-12-01T12:00:00.000Z", zoe, carol, "inbound", 30);
  auto search = [&](const std::string& who, Query::Plan plan) {
    auto q = query_from_params({{"participant", who}});
    EXPECT_TRUE(q) << q.error().message;
    q.value().plan = plan;
    auto page = run(a->catalog(), q.value());
    EXPECT_TRUE(page) << page.error().message;
    std::pair<V, std::string> out{{}, page ? page.value().led_by : ""};
    if (page) {
      for (const auto& h : page.value().hits) out.first.push_back(h.id);
    }
    return out;
  };
  const Query::Plan trigrams{.list_cap = 0};  // every word too common: the trigrams lead
  const std::vector<std::pair<std::string, V>> cases = {
      {"alice", {third, second, first}},
      {"LICE EXA", {third, second, first}},              // the ends of two words
      {"ice ex", {third, second, first}},                // across words, ending inside one
      {"b trader", {second, first}},                     // "trader" looked up, the rest checked
      {"@contoso.com", {fourth, third, second, first}},  // from the first word
      {"ader", {second, first}},                         // inside a word
      {"Bob Trader", {second, first}},
      {"carol@contoso.com", {fourth, third}},
      {"trunk.example", {second, first}},
      {"ngström", {fourth}},  // UTF-8
      {"zoë", {fourth}},
      {"lab.example.org", {fourth}},
      {"alice trader", {}},
      {"xyz", {}},
  };
  for (const auto& [who, expected] : cases) {
    const auto by_words = search(who, {});
    EXPECT_EQ(by_words.first, expected) << who;
    EXPECT_EQ(by_words.second, "party parts") << who;
    const auto by_trigrams = search(who, trigrams);
    EXPECT_EQ(by_trigrams.first, expected) << who;
    EXPECT_EQ(by_trigrams.second, "parties") << who;
  }
  // Filled a range of first bytes at a time (a large archive's), the same.
  ASSERT_TRUE(
      a->catalog().exec("DELETE FROM search_party_parts; DELETE FROM archive_info WHERE "
                        "key = 'search_party_parts_filled'"));
  // Until the writer has filled them (a reader may open the archive first), the trigrams serve.
  EXPECT_EQ(search("alice", {}), std::make_pair(V{third, second, first}, std::string("parties")));
  auto filled = archive::fill_party_keys(a->catalog(), 1);
  ASSERT_TRUE(filled) << filled.error().message;
  EXPECT_EQ(filled.value(), 4u);
  for (const auto& [who, expected] : cases) EXPECT_EQ(search(who, {}).first, expected) << who;
  EXPECT_EQ(search("ca", {}).first, (V{fourth, third}));  // short: the parties scanned
  EXPECT_EQ(search("ca", {}).second, "rows");
  // A name changed by an edit of the metadata is found by its new words only.
  {
    auto m = a->recording(fourth).value().metadata;
    m["participants"][0]["name"] = "Zoe Lindqvist";
    m["call"]["origin"]["name"] = "Zoe Lindqvist";
    ASSERT_TRUE(a->update_metadata(fourth, m, "officer", "corrected"));
  }
  EXPECT_TRUE(search("ngström", {}).first.empty());
  EXPECT_EQ(search("lindqvist", {}).first, (V{fourth}));
}

TEST_F(SearchTest, EveryMetadataFilterNarrows) {
  using V = std::vector<std::string>;
  EXPECT_EQ(ids({{"origin", "+4420"}}), (V{second}));  // bob called (a number prefix)
  EXPECT_EQ(ids({{"dialed", "44 20 7946"}}), (V{first}));
  EXPECT_EQ(ids({{"direction", "outbound"}}), (V{first}));
  EXPECT_EQ(ids({{"from", "2026-12-01T09:30:00Z"}, {"to", "2026-12-01T10:30:00Z"}}), (V{second}));
  EXPECT_EQ(ids({{"minDuration", "60"}}), (V{third, first}));
  EXPECT_EQ(ids({{"maxDuration", "60"}}), (V{second}));
  EXPECT_EQ(ids({{"group", "traders"}}), (V{second, first}));
  EXPECT_EQ(ids({{"region", "eur"}}), (V{third, first}));
  EXPECT_EQ(ids({{"policy", "Tag:TradersPolicy"}}), (V{first}));
  EXPECT_EQ(ids({{"data.x-trade-id", "T-1001"}}), (V{first}));
  EXPECT_EQ(ids({{"callId", "a84b4c76e66710@pc33.example.com"}}), (V{first}));
  // As the REST API hands them over: in lower case.
  EXPECT_EQ(ids({{"callid", "a84b4c76e66710@pc33.example.com"}}), (V{first}));
  EXPECT_EQ(ids({{"minduration", "60"}}), (V{third, first}));
  EXPECT_TRUE(ids({{"data.X-Trade-Id", "T-9999"}}).empty());
  EXPECT_EQ(ids({{"status", "complete"}, {"participant", "carol"}}), (V{third}));
  EXPECT_TRUE(ids({{"status", "interrupted"}}).empty());
  // Internal calls (between two users: our gateway says so in its SIPREC metadata) are also
  // inbound or outbound from the recorded user's side.
  EXPECT_TRUE(ids({{"direction", "internal"}}).empty());
  {
    auto m = a->recording(third).value().metadata;
    m["call"]["internal"] = true;
    ASSERT_TRUE(a->update_metadata(third, m, "recorder", "test"));
  }
  EXPECT_EQ(ids({{"direction", "internal"}}), (V{third}));
  {  // Metadata edited by hand with a value of another type: not internal, and no failure.
    auto m = a->recording(second).value().metadata;
    m["call"]["internal"] = "yes";
    ASSERT_TRUE(a->update_metadata(second, m, "officer", "test"));
  }
  EXPECT_EQ(ids({{"direction", "internal"}}), (V{third}));
  EXPECT_EQ(ids({{"direction", "inbound"}}), (V{third, second}));
  // The call's sentiment, once its transcripts are scored (the transcription job's metadata).
  EXPECT_TRUE(ids({{"sentiment", "negative"}}).empty());
  for (const auto& [id, score] : {std::pair{first, -0.41}, std::pair{third, 0.3}}) {
    auto m = a->recording(id).value().metadata;
    m["transcripts"] = {{"sentiment", {{"overall", {{"score", score}, {"label", "x"}}}}}};
    ASSERT_TRUE(a->update_metadata(id, m, "transcribe-job", "transcribed"));
  }
  EXPECT_EQ(ids({{"sentiment", "negative"}}), (V{first}));
  EXPECT_EQ(ids({{"sentiment", "positive"}, {"participant", "alice"}}), (V{third}));
  EXPECT_TRUE(ids({{"sentiment", "neutral"}}).empty());  // the second is not transcribed
  auto page = run(a->catalog(), query_from_params({{"sentiment", "negative"}}).value());
  ASSERT_TRUE(page);
  EXPECT_EQ(hit_json(page.value().hits.at(0))["sentiment"],
            (json{{"score", -0.41}, {"label", "negative"}}));
  auto bad = query_from_params({{"sentiment", "angry"}});
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("sentiment: 'angry' is not positive"), std::string::npos);
}

TEST_F(SearchTest, PagesAreStableWhileNewRecordingsArrive) {
  auto q = query_from_params({{"participant", "alice"}, {"limit", "2"}}).value();
  auto page1 = run(a->catalog(), q).value();
  ASSERT_EQ(page1.hits.size(), 2u);
  EXPECT_EQ(page1.hits[0].id, third);
  ASSERT_FALSE(page1.next_cursor.empty());
  // A newer call lands between the pages: page 2 goes on where page 1 ended.
  add("2026-12-01T12:00:00.000Z", alice, carol, "outbound", 10);
  q.cursor = page1.next_cursor;
  auto page2 = run(a->catalog(), q).value();
  ASSERT_EQ(page2.hits.size(), 1u);
  EXPECT_EQ(page2.hits[0].id, first);
  EXPECT_TRUE(page2.next_cursor.empty());
  // The hit carries what a result list shows.
  const json h = hit_json(page2.hits[0]);
  EXPECT_EQ(h["direction"], "outbound");
  EXPECT_EQ(h["dialed"], "442079460018");
  EXPECT_EQ(h["durationSeconds"], 65.0);
  EXPECT_EQ(h["started"], "2026-12-01T09:00:00.000Z");
  EXPECT_EQ(h["parties"][0]["name"], "Alice Example");
}

TEST_F(SearchTest, AScopedSearcherSeesOnlyItsGroupsAndRegions) {
  auto q = query_from_params({}).value();
  q.scope_groups = {"sales"};
  auto page = run(a->catalog(), q).value();
  ASSERT_EQ(page.hits.size(), 1u);
  EXPECT_EQ(page.hits[0].id, third);
  // Each hit names its groups as the catalog does (the portal's group facet).
  EXPECT_EQ(page.hits[0].groups, std::vector<std::string>{"Sales"});
  EXPECT_EQ(hit_json(page.hits[0])["groups"], json::array({"Sales"}));
  q.scope_regions = {"USA"};
  EXPECT_EQ(run(a->catalog(), q).value().hits.size(), 2u);
  EXPECT_EQ(q.to_json()["scope"]["groups"], json::array({"sales"}));
}

TEST_F(SearchTest, BadParametersSayWhichAndWhy) {
  auto err = [](std::map<std::string, std::string> p) {
    auto q = query_from_params(p);
    EXPECT_FALSE(q);
    return q ? std::string() : q.error().message;
  };
  EXPECT_NE(err({{"colour", "red"}}).find("colour: not a search parameter"), std::string::npos);
  EXPECT_NE(err({{"from", "yesterday"}}).find("from: 'yesterday' is not a time"),
            std::string::npos);
  EXPECT_NE(err({{"direction", "sideways"}}).find("direction"), std::string::npos);
  EXPECT_NE(err({{"limit", "0"}}).find("limit: from 1 to 1000"), std::string::npos);
  EXPECT_NE(err({{"minDuration", "-3"}}).find("minDuration"), std::string::npos);
  EXPECT_NE(err({{"status", "lost"}}).find("status"), std::string::npos);
  EXPECT_NE(err({{"keywords", " , ,"}}).find("keywords: give 1 to 200"), std::string::npos);
  EXPECT_NE(err({{"keywords", "ok, ..."}}).find("'...' has no word"), std::string::npos);
  EXPECT_TRUE(query_from_params({{"status", "not-recorded"}}));
  EXPECT_FALSE(run(a->catalog(), query_from_params({{"status", "missed"}}).value()));
  EXPECT_NE(err({{"from", "2026-12-02"}, {"to", "2026-12-01"}}).find("before"), std::string::npos);
  auto q = query_from_params({{"cursor", "not-a-cursor"}}).value();
  auto page = run(a->catalog(), q);
  ASSERT_FALSE(page);
  EXPECT_NE(page.error().message.find("cursor"), std::string::npos);
  auto origin = query_from_params({{"origin", "alice"}}).value();
  EXPECT_FALSE(run(a->catalog(), origin));
}

// An archive from before the index: the writer indexes its recordings when it opens it.
TEST_F(SearchTest, RecordingsFromBeforeTheIndexAreIndexedOnOpen) {
  ASSERT_TRUE(
      a->catalog().exec("DELETE FROM search_index; DELETE FROM search_parties; "
                        "DELETE FROM search_party_text;"));
  EXPECT_TRUE(ids({{"participant", "alice"}}).empty());
  a.reset();
  a = open();
  EXPECT_EQ(ids({{"participant", "alice"}}).size(), 3u);
}

TEST(NumberDigits, TelephoneNumbersInEveryFormAndNamesNot) {
  EXPECT_EQ(archive::number_digits("sip:+44 20 7946 0018@x.example;user=phone"), "442079460018");
  EXPECT_EQ(archive::number_digits("tel:+1-210-229-8545"), "12102298545");
  EXPECT_EQ(archive::number_digits("+44 (20) 7946-0018"), "442079460018");
  EXPECT_EQ(archive::number_digits("<sip:5207@10.21.0.216>"), "5207");
  EXPECT_EQ(archive::number_digits("sip:alice@contoso.com"), "");
  EXPECT_EQ(archive::number_digits("Alice"), "");
}

TEST_F(SearchTest, RelatedInteractionsAndWhy) {
  // Another recording of the first call (a second application), the same trade on another
  // call a day later, and bob and alice again within the day (second, already there).
  const auto same_call = add("2026-12-01T09:00:01.000Z", alice, bob, "outbound", 64,
                             {{"callId", "a84b4c76e66710@pc33.example.com"}});
  const auto same_trade =
      add("2026-12-03T09:00:00.000Z", carol, json{{"aor", "sip:dave@contoso.com"}}, "outbound", 30,
          {{"business", {{{"key", "X-Trade-Id"}, {"value", "T-1001"}, {"source", "header"}}}}});
  auto r = related(a->catalog(), first, Query{});
  ASSERT_TRUE(r) << r.error().message;
  std::vector<std::string> ids;
  for (const auto& h : r.value().page.hits) ids.push_back(h.id);
  EXPECT_EQ(ids, (std::vector<std::string>{same_trade, second, same_call}));  // newest first
  EXPECT_EQ(r.value().reasons.at(same_call),
            (std::vector<std::string>{"same call", "same parties"}));
  EXPECT_EQ(r.value().reasons.at(same_trade), (std::vector<std::string>{"x-trade-id=T-1001"}));
  EXPECT_EQ(r.value().reasons.at(second), (std::vector<std::string>{"same parties"}));
  // Carol and alice spoke, but carol is not in the first call: not related. Outside the window
  // the same parties are not related either.
  EXPECT_FALSE(r.value().reasons.count(third));
  auto narrow = related(a->catalog(), first, Query{}, std::chrono::minutes(30));
  ASSERT_TRUE(narrow);
  EXPECT_FALSE(narrow.value().reasons.count(second));
  // Scoped like any search: an officer of Sales sees none of them.
  Query sales;
  sales.scope_groups = {"Sales"};
  auto scoped = related(a->catalog(), first, sales);
  ASSERT_TRUE(scoped);
  EXPECT_TRUE(scoped.value().page.hits.empty());
  // A forwarded call's legs, recorded by two clients days apart in the catalog's eyes, share the
  // caller's RFC 7989 Session-ID UUID (siprec/call_facts.h reads it from <sipSessionID>).
  const json uuid = {
      {"key", "session-uuid"}, {"value", "ab30317f1a784dc48ff824d0d3715d86"}, {"source", "siprec"}};
  const auto leg1 = add("2026-12-05T09:00:00.000Z", json{{"aor", "sip:erin@fabrikam.com"}}, carol,
                        "inbound", 10, {{"business", {uuid}}});
  const auto leg2 =
      add("2026-12-07T09:00:00.000Z", json{{"aor", "sip:erin@fabrikam.com"}},
          json{{"aor", "sip:frank@contoso.com"}}, "inbound", 10, {{"business", {uuid}}});
  auto forwarded = related(a->catalog(), leg1, Query{});
  ASSERT_TRUE(forwarded) << forwarded.error().message;
  EXPECT_EQ(forwarded.value().reasons.at(leg2), (std::vector<std::string>{"same session"}));
  EXPECT_EQ(forwarded.value().reasons.size(), 1u);
  EXPECT_EQ(related(a->catalog(), "0123456789abcdef0123456789abcdef", Query{}).error().code,
            ErrorCode::kNotFound);
}

std::string phones(const std::string& arpabet) {
  return transcribe::encode_phones(std::string_view(arpabet));
}

TEST_F(SearchTest, TextAndPhoneticQueriesFindWhatWasSaid) {
  using V = std::vector<std::string>;
  ASSERT_TRUE(a->index_transcript(
      first, "obj-1",
      {{"Alice Example <sip:alice@contoso.com>", 1500, 4000, "we will sell the bonds at the market",
        phones("W IY W IH L S EH L DH AH B AA N D Z")},
       {"Bob Trader", 5000, 7000, "i guarantee you the price",
        phones("AY G EH R AH N T IY Y UW DH AH P R AY S")}}));
  ASSERT_TRUE(
      a->index_transcript(third, "obj-3",
                          {{"Carol", 61000, 64000, "call zorblax capital about the market price",
                            phones("K AO L G AO ER G K AE P IH T AH L AH B AW T")}}));
  // Words anywhere in the recording; a quoted phrase in one utterance.
  EXPECT_EQ(ids({{"text", "market"}}), (V{third, first}));
  EXPECT_EQ(ids({{"text", "Market, GUARANTEE"}}), (V{first}));
  EXPECT_EQ(ids({{"text", "\"market price\""}}), (V{third}));
  EXPECT_TRUE(ids({{"text", "\"price market\""}}).empty());
  EXPECT_TRUE(ids({{"text", "\"market i guarantee\""}}).empty());  // across two utterances
  EXPECT_EQ(ids({{"text", "market"}, {"participant", "carol"}}), (V{third}));
  // Whichever of the words and the parties leads the search, the other is checked the same.
  for (const char* who : {"alice", "carol", "contoso", "bob"}) {
    V both;
    for (const auto& id : ids({{"participant", who}})) {
      const auto said = ids({{"text", "market"}});
      if (std::find(said.begin(), said.end(), id) != said.end()) both.push_back(id);
    }
    EXPECT_EQ(ids({{"text", "market"}, {"participant", who}}), both) << who;
  }
  // A keyword list: any of its words or phrases, each within one utterance.
  EXPECT_EQ(ids({{"keywords", "off the record, guarantee"}}), (V{first}));
  EXPECT_EQ(ids({{"keywords", "guarantee,zorblax capital"}}), (V{third, first}));
  EXPECT_TRUE(ids({{"keywords", "price market, off the record"}}).empty());
  auto listed = run(a->catalog(), query_from_params({{"keywords", "zorblax capital"}}).value());
  ASSERT_TRUE(listed);
  ASSERT_EQ(listed.value().hits.at(0).matches.size(), 1u);
  EXPECT_EQ(listed.value().hits[0].matches[0].text,
            "call [zorblax capital] about the market price");
  // Where it matched, highlighted.
  auto q = query_from_params({{"text", "guarantee"}});
  ASSERT_TRUE(q);
  auto page = run(a->catalog(), q.value());
  ASSERT_TRUE(page) << page.error().message;
  ASSERT_EQ(page.value().hits.size(), 1u);
  ASSERT_EQ(page.value().hits[0].matches.size(), 1u);
  const Match& m = page.value().hits[0].matches[0];
  EXPECT_EQ(m.kind, "text");
  EXPECT_EQ(m.speaker, "Bob Trader");
  EXPECT_EQ(m.at_ms, 5000);
  EXPECT_EQ(m.text, "i [guarantee] you the price");
  EXPECT_EQ(hit_json(page.value().hits[0])["matches"][0]["atSeconds"], 5.0);
  EXPECT_NE(hit_line(page.value().hits[0]).find("0:05  Bob Trader: i [guarantee] you"),
            std::string::npos);
  // A made-up name, by its sound: "zorblax" is Z AO R B L AE K S; the recogniser heard
  // G AO ER G K AE P.
  // Best match first: the recording that has it, then any that sound a little like it.
  const auto by_sound = ids({{"phonetic", "Zorblax"}});
  ASSERT_FALSE(by_sound.empty());
  EXPECT_EQ(by_sound[0], third);
  EXPECT_TRUE(ids({{"phonetic", "Zorblax"}, {"threshold", "0.9"}}).empty());
  EXPECT_EQ(ids({{"phonetic", "Zorblax"}, {"participant", "alice"}, {"threshold", "0"}}),
            (V{third, first}));  // ranked by score, not by time
  q = query_from_params({{"phonetic", "zorblax"}});
  ASSERT_TRUE(q);
  page = run(a->catalog(), q.value());
  ASSERT_TRUE(page);
  ASSERT_FALSE(page.value().hits.empty());
  ASSERT_TRUE(page.value().hits[0].score);
  if (page.value().hits.size() > 1) {
    EXPECT_GE(*page.value().hits[0].score, *page.value().hits[1].score);
  }
  ASSERT_FALSE(page.value().hits[0].matches.empty());
  EXPECT_EQ(page.value().hits[0].matches[0].score, *page.value().hits[0].score);
  EXPECT_EQ(page.value().hits[0].matches[0].kind, "phonetic");
  EXPECT_GE(page.value().hits[0].matches[0].score, 0.45);
  EXPECT_EQ(page.value().hits[0].matches[0].text, "call zorblax capital about the market price");
  // Ranked pages have cursors of their own.
  auto ranked = query_from_params({{"phonetic", "zorblax"}, {"threshold", "0"}, {"limit", "1"}});
  ASSERT_TRUE(ranked);
  auto p1 = run(a->catalog(), ranked.value());
  ASSERT_TRUE(p1);
  ASSERT_EQ(p1.value().hits.size(), 1u);
  EXPECT_EQ(p1.value().hits[0].id, third);
  EXPECT_NE(p1.value().next_cursor.find(':'), std::string::npos);
  ranked.value().cursor = p1.value().next_cursor;
  auto p2 = run(a->catalog(), ranked.value());
  ASSERT_TRUE(p2) << p2.error().message;
  ASSERT_EQ(p2.value().hits.size(), 1u);
  EXPECT_EQ(p2.value().hits[0].id, first);
  EXPECT_EQ(p2.value().next_cursor, "");
  auto by_time = query_from_params({{"text", "market"}, {"cursor", p1.value().next_cursor}});
  ASSERT_TRUE(by_time);
  EXPECT_FALSE(run(a->catalog(), by_time.value()));  // a ranked cursor in a search by time
  // An index rebuilt from the catalog (an upgrade) keeps what was said.
  ASSERT_TRUE(a->catalog().exec(
      "DELETE FROM search_party_text; DELETE FROM search_recording_text; DELETE FROM "
      "search_index; DELETE FROM search_parties;"));
  EXPECT_TRUE(ids({{"text", "market"}}).empty());
  a.reset();
  a = open();
  EXPECT_EQ(ids({{"text", "market"}}), (V{third, first}));
  EXPECT_EQ(ids({{"text", "market"}, {"participant", "carol"}}), (V{third}));
  // The transcripts of a recording can be dropped (a transcription starting over).
  ASSERT_TRUE(a->drop_transcripts(third));
  EXPECT_EQ(ids({{"text", "market"}}), (V{first}));
  EXPECT_EQ(ids({{"phonetic", "Zorblax"}}), (V{first}));  // only the sound-alike is left
  // Bad queries say why.
  for (const auto& [k, v] : std::vector<std::pair<std::string, std::string>>{
           {"text", " ,, "}, {"phonetic", "  "}, {"threshold", "1.5"}, {"threshold", "x"}}) {
    auto bad = query_from_params({{k, v}, {"phonetic", k == "threshold" ? "x" : v}});
    ASSERT_FALSE(bad) << k << "=" << v;
    EXPECT_NE(bad.error().message.find(k), std::string::npos) << bad.error().message;
  }
  EXPECT_FALSE(query_from_params({{"threshold", "0.5"}}));  // without phonetic
}

}  // namespace
}  // namespace verbatim::search
