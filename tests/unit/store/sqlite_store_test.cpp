#include "store/sqlite/sqlite_store.hpp"
#include "store/executor.hpp"

#include <gtest/gtest.h>

#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <queue>

using namespace confab::store;
namespace fs = std::filesystem;

namespace {

struct TempDir {
  fs::path path =
      fs::temp_directory_path() / ("confab-store-" + std::to_string(::getpid()) + "-" +
                                   std::to_string(reinterpret_cast<std::uintptr_t>(this)));
  TempDir() { fs::create_directories(path); }
  ~TempDir() { fs::remove_all(path); }
};

// Runs posted completions on the test thread, like the control thread would.
struct Inbox {
  std::mutex mu;
  std::condition_variable cv;
  std::queue<std::function<void()>> q;
  void post(std::function<void()> f) {
    std::lock_guard lk(mu);
    q.push(std::move(f));
    cv.notify_one();
  }
  void run(std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
      std::unique_lock lk(mu);
      cv.wait(lk, [&] { return !q.empty(); });
      auto f = std::move(q.front());
      q.pop();
      lk.unlock();
      f();
    }
  }
};

}  // namespace

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
