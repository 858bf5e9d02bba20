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

}  // namespace
}  // namespace verbatim
