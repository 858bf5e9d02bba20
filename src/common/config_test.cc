#include "common/config.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

namespace verbatim {
namespace {

std::string write_temp(const std::string& text) {
  auto path = std::filesystem::temp_directory_path() /
              ("vb_config_test_" + std::to_string(::getpid()) + ".toml");
  std::ofstream(path) << text;
  return path.string();
}

TEST(Config, DefaultsWithoutFile) {
  ::unsetenv("VERBATIM_DATA_DIR");
  auto c = load_config(std::nullopt);
  ASSERT_TRUE(c);
  EXPECT_EQ(c.value().data_dir, "./var");
  EXPECT_EQ(c.value().log_format, "text");
}

TEST(Config, FileThenEnvironment) {
  const auto path = write_temp("[general]\ndata_dir = \"/tmp/x\"\n[log]\nformat = \"json\"\n");
  ::unsetenv("VERBATIM_DATA_DIR");
  auto c = load_config(path);
  ASSERT_TRUE(c);
  EXPECT_EQ(c.value().data_dir, "/tmp/x");
  EXPECT_EQ(c.value().log_format, "json");
  ::setenv("VERBATIM_DATA_DIR", "/tmp/y", 1);
  EXPECT_EQ(load_config(path).value().data_dir, "/tmp/y");
  ::unsetenv("VERBATIM_DATA_DIR");
}

TEST(Config, UnknownKeyAndBadTypeAreErrors) {
  auto bad_key = load_config(write_temp("[log]\nfromat = \"json\"\n"));
  ASSERT_FALSE(bad_key);
  EXPECT_NE(bad_key.error().message.find("log.fromat"), std::string::npos);
  auto bad_type = load_config(write_temp("[policy]\nreload_interval_ms = \"fast\"\n"));
  ASSERT_FALSE(bad_type);
  auto bad_syntax = load_config(write_temp("[log\n"));
  ASSERT_FALSE(bad_syntax);
}

TEST(Config, ShowRoundTrips) {
  Config c;
  c.data_dir = "/srv/verbatim";
  const auto path = write_temp(config_to_toml(c));
  ::unsetenv("VERBATIM_DATA_DIR");
  auto back = load_config(path);
  ASSERT_TRUE(back);
  EXPECT_EQ(back.value().data_dir, "/srv/verbatim");
}

TEST(Config, ArchiveSettingsAndRetentionRules) {
  ::unsetenv("VERBATIM_DATA_DIR");
  auto c = load_config(write_temp(R"([archive]
flush_interval_ms = 250
min_free_mb = 1024
default_retention = "10y"
[[archive.retention]]
application = "11111111-1111-1111-1111-111111111111"
period = "1y"
[[archive.retention]]
group = "Traders"
period = "6y"
)"));
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c.value().archive_flush_interval_ms, 250);
  EXPECT_EQ(c.value().archive_min_free_mb, 1024);
  EXPECT_EQ(c.value().archive_default_retention, (Period{10, 0, 0}));
  ASSERT_EQ(c.value().archive_retention.size(), 2u);
  EXPECT_EQ(c.value().archive_retention[1].field, "group");
  EXPECT_EQ(c.value().archive_retention[1].value, "Traders");
  EXPECT_EQ(c.value().archive_retention[1].period, (Period{6, 0, 0}));
  // Round trip through `config show`.
  auto back = load_config(write_temp(config_to_toml(c.value())));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back.value().archive_retention.size(), 2u);
  EXPECT_EQ(back.value().archive_default_retention, (Period{10, 0, 0}));

  struct Bad {
    const char* text;
    const char* says;
  };
  for (const Bad& b : {
           Bad{"[archive]\ndefault_retention = \"7 years\"\n", "archive.default_retention"},
           Bad{"[archive]\nflush_interval_ms = 5\n", "flush_interval_ms"},
           Bad{"[[archive.retention]]\nperiod = \"5y\"\n", "must name"},
           Bad{"[[archive.retention]]\ngroup = \"G\"\n", "no period"},
           Bad{"[[archive.retention]]\ngroup = \"G\"\npolicy = \"P\"\nperiod = \"1y\"\n",
               "more than one"},
           Bad{"[[archive.retention]]\nuser = \"G\"\nperiod = \"1y\"\n",
               "archive.retention[1].user"},
       }) {
    auto r = load_config(write_temp(b.text));
    ASSERT_FALSE(r) << b.text;
    EXPECT_NE(r.error().message.find(b.says), std::string::npos) << r.error().message;
  }
}

TEST(Config, MeetingDialInNumbers) {
  ::unsetenv("VERBATIM_DATA_DIR");
  auto c = load_config(write_temp(R"([[gateway.dial_in]]
number = "+14255550150"
[[gateway.dial_in]]
number = "496912345678"
language = "de"
secondary_languages = ["en", "fr-CH"]
)"));
  ASSERT_TRUE(c) << c.error().message;
  ASSERT_EQ(c.value().gateway_dial_in.size(), 2u);
  EXPECT_TRUE(c.value().gateway_dial_in[0].secondary_languages.empty());
  EXPECT_EQ(c.value().gateway_dial_in[1].secondary_languages,
            (std::vector<std::string>{"en", "fr-CH"}));
  EXPECT_EQ(c.value().gateway_dial_in[0].language, "en");
  EXPECT_EQ(c.value().gateway_dial_in[1].number, "496912345678");
  EXPECT_EQ(c.value().gateway_dial_in[1].language, "de");
  auto back = load_config(write_temp(config_to_toml(c.value())));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back.value().gateway_dial_in.size(), 2u);
  EXPECT_EQ(back.value().gateway_dial_in[1].secondary_languages,
            c.value().gateway_dial_in[1].secondary_languages);
  for (const char* bad :
       {"[[gateway.dial_in]]\nnumber = \"call us\"\n", "[[gateway.dial_in]]\nlanguage = \"de\"\n",
        "[[gateway.dial_in]]\nnumber = \"+1\"\npin = \"1\"\n",
        "[[gateway.dial_in]]\nnumber = \"+1\"\nsecondary_languages = [\"de\", \"fr\", \"es\", "
        "\"it\", "
        "\"ja\"]\n",
        "[[gateway.dial_in]]\nnumber = \"+1\"\nlanguage = \"de\"\nsecondary_languages = [\"DE\"]\n",
        "[[gateway.dial_in]]\nnumber = \"+1\"\nsecondary_languages = [\"fr\", \"fr\"]\n",
        "[[gateway.dial_in]]\nnumber = \"+1\"\nsecondary_languages = [\"fr;rm -rf\"]\n",
        "[[gateway.dial_in]]\nnumber = \"+1\"\nsecondary_languages = \"fr\"\n"}) {
    auto r = load_config(write_temp(bad));
    ASSERT_FALSE(r) << bad;
    EXPECT_NE(r.error().message.find("gateway.dial_in[1]"), std::string::npos) << r.error().message;
  }
}

TEST(Config, RecorderSettings) {
  ::unsetenv("VERBATIM_DATA_DIR");
  auto c = load_config(write_temp(R"([recorder]
sip_listen = "127.0.0.1:0"
rtp_port_min = 30000
rtp_port_max = 30099
max_sessions = 2
latch = "first-packet"
accept_non_siprec = true
playback = false
playback_workers = 3
transcription = "none"
allowed_sources = ["127.0.0.0/8", "::1/128"]
)"));
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c.value().recorder_rtp_port_min, 30000);
  EXPECT_EQ(c.value().recorder_max_sessions, 2);
  EXPECT_EQ(c.value().recorder_latch, "first-packet");
  EXPECT_TRUE(c.value().recorder_accept_non_siprec);
  EXPECT_FALSE(c.value().recorder_playback);
  ASSERT_EQ(c.value().recorder_allowed_sources.size(), 2u);
  auto back = load_config(write_temp(config_to_toml(c.value())));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back.value().recorder_allowed_sources, c.value().recorder_allowed_sources);
  EXPECT_TRUE(back.value().recorder_accept_non_siprec);
  EXPECT_FALSE(back.value().recorder_playback);
  EXPECT_EQ(back.value().recorder_playback_workers, 3);
  EXPECT_EQ(back.value().recorder_transcription, "none");
  EXPECT_TRUE(back.value().recorder_transcription_phones);
  for (const char* bad :
       {"[recorder]\nlatch = \"any\"\n", "[recorder]\ntranscription = \"whisper\"\n",
        "[recorder]\nplayback_workers = -1\n", "[recorder]\nsentiment = \"afinn\"\n",
        "[recorder]\nrtp_port_min = 10\n", "[recorder]\naccept_non_siprec = 1\n",
        "[recorder]\nallowed_sources = \"10.0.0.0/8\"\n", "[recorder]\nmax_sessions = 0\n"}) {
    auto r = load_config(write_temp(bad));
    ASSERT_FALSE(r) << bad;
    EXPECT_NE(r.error().message.find("recorder."), std::string::npos) << r.error().message;
  }
}

}  // namespace
}  // namespace verbatim
