#include "store/sqlite/sqlite_store.hpp"
#include "../support.hpp"
#include "store/executor.hpp"

#include <gtest/gtest.h>

#include <sys/stat.h>

#include <filesystem>

using namespace confab::store;
namespace fs = std::filesystem;

using confab::test::Inbox;
using confab::test::TempDir;

TEST(SqliteStore, PersistsAcrossReopen) {
  TempDir dir;
  {
    SqliteStore s(dir.path / "t.db");
    s.begin();
    s.put({"conference", "c1", "a1", 1, R"({"name":"x"})"});
    s.put({"user", "u1", "a1", 1, R"({"first_name":"y"})"});
    s.commit();
    s.begin();
    s.put({"conference", "c1", "a1", 2, R"({"name":"z"})"});
    s.remove("user", "u1");
    s.commit();
  }
  SqliteStore s(dir.path / "t.db");
  auto all = s.load_all();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].revision, 2);
  EXPECT_EQ(all[0].body, R"({"name":"z"})");
  EXPECT_EQ(s.load_kind("user").size(), 0u);
}

TEST(SqliteStore, RejectsBodiesThatAreNotJson) {
  TempDir dir;
  SqliteStore s(dir.path / "t.db");
  s.begin();
  EXPECT_THROW(s.put({"conference", "c1", "a1", 1, "{torn"}), std::runtime_error);
  s.rollback();
}

TEST(StoreExecutor, OneFailedWriteDoesNotUndoItsBatchmates) {
  TempDir dir;
  Inbox inbox;
  std::vector<std::string> results(3);
  {
    StoreExecutor ex(std::make_unique<SqliteStore>(dir.path / "t.db"),
                     [&](std::function<void()> f) { inbox.post(std::move(f)); });
    ex.write(
        [](Store& s) {
          s.put({"conference", "a", "x", 1, "{}"});
        },
        [&](const std::string& e) { results[0] = e.empty() ? "ok" : e; });
    ex.write(
        [](Store& s) {
          s.put({"conference", "b", "x", 1, "not json"});
        },
        [&](const std::string& e) { results[1] = e.empty() ? "ok" : "failed"; });
    ex.write(
        [](Store& s) {
          s.put({"conference", "c", "x", 1, "{}"});
        },
        [&](const std::string& e) { results[2] = e.empty() ? "ok" : e; });
    inbox.run(3);
    EXPECT_GE(ex.commits(), 1u);
  }
  EXPECT_EQ(results, (std::vector<std::string>{"ok", "failed", "ok"}));
  SqliteStore s(dir.path / "t.db");
  EXPECT_EQ(s.load_all().size(), 2u);
}

// The database and its -wal and -shm are the owner's only, whatever the umask; a database left
// wider by an older version is narrowed when it is opened.
TEST(SqliteStore, FilesAreOwnerOnlyWhateverTheUmask) {
  TempDir dir;
  auto mode = [](const fs::path& p) { return fs::status(p).permissions() & fs::perms::all; };
  auto old = ::umask(0);
  {
    SqliteStore s(dir.path / "t.db");
    s.begin();
    s.put({"conference", "c1", "a1", 1, R"({"name":"x"})"});
    s.commit();
    for (auto* name : {"t.db", "t.db-wal", "t.db-shm"})
      EXPECT_EQ(mode(dir.path / name), fs::perms::owner_read | fs::perms::owner_write) << name;
  }
  fs::permissions(dir.path / "t.db", fs::perms::owner_read | fs::perms::owner_write |
                                         fs::perms::group_read | fs::perms::others_read);
  { SqliteStore s(dir.path / "t.db"); }
  ::umask(old);
  EXPECT_EQ(mode(dir.path / "t.db"), fs::perms::owner_read | fs::perms::owner_write);
}
