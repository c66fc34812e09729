#include "store/sqlite/sqlite_store.hpp"

#include <sqlite3.h>

#include <stdexcept>
#include <string>

namespace confab::store {

namespace {
constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS docs (
  kind       TEXT NOT NULL,
  id         TEXT NOT NULL,
  account_id TEXT NOT NULL,
  revision   INTEGER NOT NULL,
  body       TEXT NOT NULL CHECK (json_valid(body)),
  PRIMARY KEY (kind, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS docs_by_account ON docs (account_id, kind);
)sql";
}  // namespace

SqliteStore::SqliteStore(const std::filesystem::path& file) {
  if (sqlite3_open_v2(file.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) !=
      SQLITE_OK) {
    std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    throw std::runtime_error("cannot open " + file.string() + ": " + msg);
  }
  sqlite3_busy_timeout(db_, 5000);
  exec("PRAGMA journal_mode=WAL");
  exec("PRAGMA synchronous=FULL");
  exec("PRAGMA foreign_keys=ON");
  exec(kSchema);
  put_ = prepare(
      "INSERT OR REPLACE INTO docs(kind, id, account_id, revision, body) VALUES(?,?,?,?,?)");
  del_ = prepare("DELETE FROM docs WHERE kind=? AND id=?");
  all_ = prepare("SELECT kind, id, account_id, revision, body FROM docs ORDER BY kind, id");
  kind_ = prepare("SELECT kind, id, account_id, revision, body FROM docs WHERE kind=? ORDER BY id");
}

SqliteStore::~SqliteStore() {
  for (auto* st : {put_, del_, all_, kind_}) sqlite3_finalize(st);
  sqlite3_close(db_);
}

void SqliteStore::exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    throw std::runtime_error(std::string("sqlite: ") + msg);
  }
}

sqlite3_stmt* SqliteStore::prepare(const char* sql) {
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, nullptr) != SQLITE_OK)
    throw std::runtime_error(std::string("sqlite prepare: ") + sqlite3_errmsg(db_));
  return st;
}

std::vector<StoredDoc> SqliteStore::query(sqlite3_stmt* st) {
  std::vector<StoredDoc> out;
  int rc;
  auto text = [&](int col) {
    auto* p = reinterpret_cast<const char*>(sqlite3_column_text(st, col));
    return std::string(p ? p : "", static_cast<std::size_t>(sqlite3_column_bytes(st, col)));
  };
  while ((rc = sqlite3_step(st)) == SQLITE_ROW)
    out.push_back({text(0), text(1), text(2), sqlite3_column_int64(st, 3), text(4)});
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  if (rc != SQLITE_DONE) throw std::runtime_error(std::string("sqlite: ") + sqlite3_errmsg(db_));
  return out;
}

std::vector<StoredDoc> SqliteStore::load_all() {
  return query(all_);
}

std::vector<StoredDoc> SqliteStore::load_kind(std::string_view kind) {
  sqlite3_bind_text(kind_, 1, kind.data(), static_cast<int>(kind.size()), SQLITE_TRANSIENT);
  return query(kind_);
}

void SqliteStore::begin() {
  exec("BEGIN IMMEDIATE");
}
void SqliteStore::commit() {
  exec("COMMIT");
}
void SqliteStore::rollback() {
  if (!sqlite3_get_autocommit(db_)) exec("ROLLBACK");
}
void SqliteStore::savepoint() {
  exec("SAVEPOINT op");
}
void SqliteStore::release(bool ok) {
  if (!ok) exec("ROLLBACK TO op");
  exec("RELEASE op");
}

void SqliteStore::put(const StoredDoc& d) {
  auto bind = [&](int i, const std::string& s) {
    sqlite3_bind_text(put_, i, s.data(), static_cast<int>(s.size()), SQLITE_STATIC);
  };
  bind(1, d.kind);
  bind(2, d.id);
  bind(3, d.account_id);
  sqlite3_bind_int64(put_, 4, d.revision);
  bind(5, d.body);
  int rc = sqlite3_step(put_);
  sqlite3_reset(put_);
  sqlite3_clear_bindings(put_);
  if (rc != SQLITE_DONE)
    throw std::runtime_error(std::string("sqlite put: ") + sqlite3_errmsg(db_));
}

void SqliteStore::remove(std::string_view kind, std::string_view id) {
  sqlite3_bind_text(del_, 1, kind.data(), static_cast<int>(kind.size()), SQLITE_STATIC);
  sqlite3_bind_text(del_, 2, id.data(), static_cast<int>(id.size()), SQLITE_STATIC);
  int rc = sqlite3_step(del_);
  sqlite3_reset(del_);
  sqlite3_clear_bindings(del_);
  if (rc != SQLITE_DONE)
    throw std::runtime_error(std::string("sqlite delete: ") + sqlite3_errmsg(db_));
}

}  // namespace confab::store
