#pragma once
// The embedded default store: one SQLite file in WAL mode with synchronous=FULL, so a commit that
// returned survives a crash of the process or the machine.
#include "store/store.hpp"

#include <filesystem>

struct sqlite3;
struct sqlite3_stmt;

namespace confab::store {

class SqliteStore final : public Store {
 public:
  explicit SqliteStore(const std::filesystem::path& file);
  ~SqliteStore() override;
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  std::vector<StoredDoc> load_all() override;
  std::vector<StoredDoc> load_kind(std::string_view kind) override;
  void begin() override;
  void commit() override;
  void rollback() override;
  void savepoint() override;
  void release(bool ok) override;
  void put(const StoredDoc& d) override;
  void remove(std::string_view kind, std::string_view id) override;
  void append(const StoredMessage& m) override;
  std::vector<StoredMessage> history(std::string_view room_id, std::int64_t before,
                                     int limit) override;
  std::vector<std::pair<std::string, std::int64_t>> last_seqs() override;

 private:
  void exec(const char* sql);
  sqlite3_stmt* prepare(const char* sql);
  std::vector<StoredDoc> query(sqlite3_stmt* st);

  sqlite3* db_ = nullptr;
  sqlite3_stmt* put_ = nullptr;
  sqlite3_stmt* del_ = nullptr;
  sqlite3_stmt* all_ = nullptr;
  sqlite3_stmt* kind_ = nullptr;
  sqlite3_stmt* append_ = nullptr;
  sqlite3_stmt* history_ = nullptr;
  sqlite3_stmt* seqs_ = nullptr;
};

}  // namespace confab::store
