#include "app/config.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

using confab::app::Config;
namespace fs = std::filesystem;

namespace {

struct TomlFile {
  fs::path path = fs::temp_directory_path() / ("confab-config-" + std::to_string(::getpid()) + "-" +
                                               std::to_string(++counter) + ".toml");
  static inline int counter = 0;
  explicit TomlFile(const std::string& text) { std::ofstream(path) << text; }
  ~TomlFile() { fs::remove(path); }
};

// Sets an environment variable for one test.
struct Env {
  const char* name;
  Env(const char* n, const char* v) : name(n) { ::setenv(n, v, 1); }
  ~Env() { ::unsetenv(name); }
};

}  // namespace

TEST(Config, MediaUploadLimitDefaultsTo16MiB) {
  EXPECT_EQ(Config{}.media_upload_limit, 16u << 20);
}

TEST(Config, MediaUploadLimitFromTomlThenEnvironment) {
  Config c;
  TomlFile f("[media]\nupload_limit = 5000000\n");
  confab::app::apply_toml(c, f.path);
  EXPECT_EQ(c.media_upload_limit, 5000000u);
  EXPECT_EQ(c.body_limit, 1u << 20);  // the other limit is its own
  Env e("CONFAB_MEDIA_UPLOAD_LIMIT", "7000000");
  confab::app::apply_env(c);
  EXPECT_EQ(c.media_upload_limit, 7000000u);
}

TEST(Config, BadMediaUploadLimitsNameTheKey) {
  for (auto text : {"[media]\nupload_limit = 0\n", "[media]\nupload_limit = -3\n",
                    "[media]\nupload_limit = \"16M\"\n"}) {
    Config c;
    TomlFile f(text);
    try {
      confab::app::apply_toml(c, f.path);
      ADD_FAILURE() << text;
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("media.upload_limit"), std::string::npos) << e.what();
    }
  }
  Config c;
  Env e("CONFAB_MEDIA_UPLOAD_LIMIT", "lots");
  try {
    confab::app::apply_env(c);
    ADD_FAILURE();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("CONFAB_MEDIA_UPLOAD_LIMIT"), std::string::npos);
  }
}
