// The Persister's documents with files: what is on disk after a success, and after a failure at
// each step (the file write, the document's put).
#include "../support.hpp"
#include "api/common/persist.hpp"
#include "store/media_files.hpp"
#include "store/sqlite/sqlite_store.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <memory>

using namespace confab;
namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

// SQLite in memory, whose puts fail while `fail` is set: a store failing under a write.
class FlakyStore final : public store::Store {
 public:
  explicit FlakyStore(std::atomic<bool>& fail) : fail_(fail) {}
  std::vector<store::StoredDoc> load_all() override { return db_.load_all(); }
  std::vector<store::StoredDoc> load_kind(std::string_view k) override { return db_.load_kind(k); }
  void begin() override { db_.begin(); }
  void commit() override { db_.commit(); }
  void rollback() override { db_.rollback(); }
  void savepoint() override { db_.savepoint(); }
  void release(bool ok) override { db_.release(ok); }
  void put(const store::StoredDoc& d) override {
    if (fail_) throw std::runtime_error("disk full");
    db_.put(d);
  }
  void remove(std::string_view kind, std::string_view id) override {
    if (fail_) throw std::runtime_error("disk full");
    db_.remove(kind, id);
  }
  void append(const store::StoredMessage& m) override { db_.append(m); }
  std::vector<store::StoredMessage> history(std::string_view r, std::int64_t b, int l) override {
    return db_.history(r, b, l);
  }
  std::vector<std::pair<std::string, std::int64_t>> last_seqs() override { return db_.last_seqs(); }

 private:
  std::atomic<bool>& fail_;
  store::SqliteStore db_{":memory:"};
};

struct PersistFiles : test::CoreWorld {
  test::TempDir dir;
  test::Inbox inbox;
  std::atomic<bool> fail{false};
  store::StoreExecutor exec{std::make_unique<FlakyStore>(fail),
                            [this](std::function<void()> f) { inbox.post(std::move(f)); }};
  api::Persister persist{svc, exec};
  std::string account = new_account("a");
  std::string media = created_media();
  fs::path file = store::media_path(dir.path, account, media);

  std::string created_media() {
    auto w =
        svc.prepare("media", account, {}, core::WriteMode::create, json::object{{"name", "m"}});
    svc.commit(w);
    return w.doc.id;
  }
  core::PendingWrite upload_of(std::size_t length) {
    return svc.prepare("media", account, media, core::WriteMode::patch,
                       json::object{{"content_length", length}});
  }
  // Runs one write to its end; returns its error.
  template <typename F>
  std::string wait(F&& start) {
    bool done = false;
    std::string error;
    start([&](const std::string& e) {
      error = e;
      done = true;
    });
    inbox.run_until(done);
    return error;
  }
  std::string upload(const std::string& bytes) {
    return wait([&](auto then) {
      persist.write_with_file(upload_of(bytes.size()), file,
                              std::make_shared<const std::string>(bytes), then);
    });
  }
  std::vector<std::string> files() {
    std::vector<std::string> out;
    for (auto& e : fs::directory_iterator(file.parent_path()))
      out.push_back(e.path().filename().string());
    return out;
  }
  std::int64_t length() {
    return svc.get("media", account, media).body.at("content_length").to_number<std::int64_t>();
  }
};

}  // namespace

TEST_F(PersistFiles, FileAndDocumentArriveTogether) {
  EXPECT_EQ(upload("first"), "");
  EXPECT_EQ(store::read_file(file, 100), "first");
  EXPECT_EQ(length(), 5);
  EXPECT_EQ(files(), std::vector<std::string>{media + ".wav"});
}

TEST_F(PersistFiles, AFailedPutLeavesThePreviousFileAndDocument) {
  ASSERT_EQ(upload("first"), "");
  auto revision = svc.get("media", account, media).revision;
  fail = true;
  EXPECT_EQ(upload("second!"), "disk full");
  EXPECT_EQ(store::read_file(file, 100), "first");
  EXPECT_EQ(length(), 5);
  EXPECT_EQ(svc.get("media", account, media).revision, revision);
  EXPECT_EQ(files(), std::vector<std::string>{media + ".wav"});  // no temporary file left
  fail = false;
  EXPECT_EQ(upload("second!"), "");  // the document was released: it can be written again
  EXPECT_EQ(store::read_file(file, 100), "second!");
}

TEST_F(PersistFiles, AFailedFileWriteLeavesEverythingAsItWas) {
  ASSERT_EQ(upload("first"), "");
  fs::remove(file);
  fs::create_directory(file);  // the rename onto a directory fails
  EXPECT_NE(upload("second"), "");
  EXPECT_TRUE(fs::is_directory(file));
  EXPECT_EQ(length(), 5);
  EXPECT_EQ(files(), std::vector<std::string>{media + ".wav"});
}

TEST_F(PersistFiles, AStagedFileIsItsWritersUntilInstalled) {
  auto staged = store::stage_file(file, "recorded");
  fail = true;
  EXPECT_EQ(
      wait([&](auto then) { persist.write_with_staged_file(upload_of(8), staged, file, then); }),
      "disk full");
  EXPECT_TRUE(fs::exists(staged));  // left for its writer to retry
  EXPECT_FALSE(fs::exists(file));
  fail = false;
  EXPECT_EQ(
      wait([&](auto then) { persist.write_with_staged_file(upload_of(8), staged, file, then); }),
      "");
  EXPECT_FALSE(fs::exists(staged));
  EXPECT_EQ(store::read_file(file, 100), "recorded");
}

TEST_F(PersistFiles, TheFileGoesOnlyOnceTheRemovalIsDurable) {
  ASSERT_EQ(upload("first"), "");
  auto remove = [&] {
    return wait([&](auto then) {
      persist.remove_with_file(svc.prepare("media", account, media, core::WriteMode::remove, {}),
                               file, then);
    });
  };
  fail = true;
  EXPECT_EQ(remove(), "disk full");
  EXPECT_TRUE(fs::exists(file));
  EXPECT_NE(svc.directory().find("media", media), nullptr);
  fail = false;
  EXPECT_EQ(remove(), "");
  EXPECT_FALSE(fs::exists(file));
  EXPECT_EQ(svc.directory().find("media", media), nullptr);
}

TEST_F(PersistFiles, ReadsSayWhetherTheFileIsThere) {
  std::string error, bytes;
  bool done = false;
  auto read = [&] {
    done = false;
    persist.read_file(file, 100, [&](const std::string& e, std::string b) {
      error = e;
      bytes = std::move(b);
      done = true;
    });
    inbox.run_until(done);
  };
  read();
  EXPECT_EQ(error, "missing");
  ASSERT_EQ(upload("hello"), "");
  read();
  EXPECT_EQ(error, "");
  EXPECT_EQ(bytes, "hello");
}
