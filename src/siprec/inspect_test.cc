// `verbatim siprec inspect` on every real vendor capture (../shared/testdata/siprec-vendors):
// what each one asks to record, and the quirks SOURCES.md documents, reported as such.
#include "siprec/inspect.h"

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "common/testdata.h"

namespace verbatim::siprec {
namespace {

namespace fs = std::filesystem;

fs::path vendor_dir() { return testdata_path("siprec-vendors"); }

InspectReport inspect_file(const std::string& name) {
  std::ifstream in(vendor_dir() / name, std::ios::binary);
  return inspect(std::string{std::istreambuf_iterator<char>(in), {}});
}

bool any_contains(const std::vector<std::string>& v, const std::string& text) {
  for (const auto& s : v) {
    if (s.find(text) != std::string::npos) return true;
  }
  return false;
}

TEST(SiprecInspect, EveryVendorCaptureIsReadAndOnlyTheBrokenOnesAreRefused) {
  VB_REQUIRE_TESTDATA("siprec-vendors");
  int files = 0;
  for (const auto& e : fs::directory_iterator(vendor_dir())) {
    const std::string name = e.path().filename().string();
    if (name == "SOURCES.md") continue;
    ++files;
    const InspectReport r = inspect_file(name);
    // Refused: the CUBE network-based recording INVITE (not SIPREC) and Oracle's capture with
    // a stray second SDP inside its SDP part (SOURCES.md: a robustness case).
    const bool refused = name == "cisco-cube-01.sip" || name == "oracle-01.sip";
    EXPECT_EQ(r.valid(), !refused) << name << ": " << r.to_json().dump(2);
    EXPECT_TRUE(r.session.is_object()) << name;
  }
  EXPECT_EQ(files, 20);
}

TEST(SiprecInspect, JoinsParticipantsToTheirMLines) {
  VB_REQUIRE_TESTDATA("siprec-vendors");
  const InspectReport ms = inspect_file("metaswitch-01.sip");
  ASSERT_TRUE(ms.valid()) << ms.to_json().dump(2);
  const auto& s = ms.session;
  EXPECT_EQ(s["request"]["method"], "INVITE");
  EXPECT_TRUE(s["request"]["siprec"]["requireSiprec"].get<bool>());
  EXPECT_TRUE(s["request"]["siprec"]["srcFeatureTag"].get<bool>());
  ASSERT_EQ(s["streams"].size(), 1u);
  EXPECT_EQ(s["streams"][0]["label"], "1");
  EXPECT_EQ(s["streams"][0]["sentBy"].size(), 2u) << "one mixed stream carries both parties";
  EXPECT_EQ(s["participants"][0]["aor"], "7602922411");
  EXPECT_EQ(s["participants"][0]["sendsOnLabels"][0], "1");

  const InspectReport pc = inspect_file("procomm-01.body");
  ASSERT_TRUE(pc.valid()) << pc.to_json().dump(2);
  EXPECT_TRUE(any_contains(pc.notes, "without SIP headers"));
  ASSERT_EQ(pc.session["streams"].size(), 2u);
  EXPECT_EQ(pc.session["streams"][0]["label"], "a_leg");
  EXPECT_EQ(pc.session["participants"][1]["name"], "Speechpath-Main-Line 016190619");
  EXPECT_EQ(pc.session["participants"][1]["sendsOnLabels"][0], "b_leg");
}

TEST(SiprecInspect, ReportsVendorQuirksWhereTheyAre) {
  VB_REQUIRE_TESTDATA("siprec-vendors");
  const InspectReport avaya = inspect_file("avaya-01.sip");
  EXPECT_TRUE(avaya.valid());
  EXPECT_TRUE(any_contains(avaya.notes, "inside the Contact URI"));
  EXPECT_TRUE(any_contains(avaya.warnings, "stream with an empty id (label 20)"));
  EXPECT_TRUE(any_contains(avaya.warnings, "line "));

  const InspectReport webex = inspect_file("webex-01.sip");
  EXPECT_TRUE(any_contains(webex.warnings, "has label 2, which no m-line carries"));
  EXPECT_TRUE(any_contains(webex.notes, "draft"));
  EXPECT_TRUE(any_contains(webex.notes, "';src'"));

  const InspectReport damaged = inspect_file("broadworks-04.body");
  EXPECT_TRUE(damaged.valid()) << "the SDP is fine: the streams can be recorded";
  EXPECT_FALSE(damaged.session["streams"].empty());

  const InspectReport cube = inspect_file("cisco-cube-01.sip");
  EXPECT_TRUE(any_contains(cube.problems, "not a SIPREC request"));

  const InspectReport update = inspect_file("avaya-02.sip");
  EXPECT_TRUE(update.valid()) << update.to_json().dump(2);
  EXPECT_EQ(update.session["request"]["method"], "UPDATE");
  EXPECT_TRUE(update.session["streams"].empty()) << "metadata only";
  EXPECT_FALSE(update.session["participants"].empty());

  const InspectReport pause = inspect_file("broadworks-03.sip");
  EXPECT_TRUE(pause.session["streams"][0]["hold"].get<bool>()) << "c=0.0.0.0 pauses recording";

  const InspectReport intrado = inspect_file("intrado-01.sip");
  EXPECT_TRUE(intrado.valid()) << intrado.to_json().dump(2);
  EXPECT_TRUE(any_contains(intrado.notes, "LF only"));
}

TEST(SiprecInspect, GarbageIsAProblemNotACrash) {
  EXPECT_FALSE(inspect("hello").valid());
  EXPECT_FALSE(inspect("SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n").valid());
  EXPECT_FALSE(inspect("--b\r\nContent-Type: application/sdp\r\n\r\nv=x\r\n--b--").valid());
  const auto r = inspect(
      "--b\r\nContent-Type: application/rs-metadata+xml\r\n\r\n<recording><oops></recording>\r\n"
      "--b--\r\n");
  EXPECT_TRUE(any_contains(r.warnings, "not well-formed XML"));
}

}  // namespace
}  // namespace verbatim::siprec
