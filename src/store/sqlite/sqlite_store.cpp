#include "store/sqlite/sqlite_store.hpp"

#include <sqlite3.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
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
CREATE TABLE IF NOT EXISTS messages (
  room_id    TEXT NOT NULL,
  seq        INTEGER NOT NULL,
  account_id TEXT NOT NULL,
  ts         INTEGER NOT NULL,
  body       TEXT NOT NULL CHECK (json_valid(body)),
  PRIMARY KEY (room_id, seq)
) WITHOUT ROWID;
)sql";
// The database holds keyed hashes, PINs, users and chat: owner only, whatever the umask. SQLite
// creates its -wal and -shm files with the mode of the database file, so the file is made (or
// narrowed) to 0600 before SQLite opens it, and files left by an older version are narrowed.
void make_private(const std::filesystem::path& file, bool create) {
  int fd = ::open(file.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW | (create ? O_CREAT : 0), 0600);
  if (fd < 0) {
    if (!create && errno == ENOENT) return;
    throw std::runtime_error("cannot open " + file.string() + ": " + std::strerror(errno));
  }
  struct stat st {};
  int err =
      ::fstat(fd, &st) != 0 || ((st.st_mode & 0777) != 0600 && ::fchmod(fd, 0600) != 0) ? errno : 0;
  ::close(fd);
  if (err)
    throw std::runtime_error("cannot make " + file.string() + " mode 0600: " + std::strerror(err));
}

}  // namespace

SqliteStore::SqliteStore(const std::filesystem::path& file) {
  if (auto name = file.string();
      !name.empty() && name != ":memory:" && !name.starts_with("file:")) {
    make_private(file, true);
    for (const char* suffix : {"-wal", "-shm", "-journal"}) make_private(name + suffix, false);
  }
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
  append_ = prepare("INSERT INTO messages(room_id, seq, account_id, ts, body) VALUES(?,?,?,?,?)");
  history_ = prepare(
      "SELECT room_id, seq, account_id, ts, body FROM messages WHERE room_id=? AND seq<? "
      "ORDER BY seq DESC LIMIT ?");
  seqs_ = prepare("SELECT room_id, max(seq) FROM messages GROUP BY room_id");
}

SqliteStore::~SqliteStore() {
  for (auto* st : {put_, del_, all_, kind_, append_, history_, seqs_}) sqlite3_finalize(st);
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

void SqliteStore::append(const StoredMessage& m) {
  auto bind = [&](int i, const std::string& v) {
    sqlite3_bind_text(append_, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
  };
  bind(1, m.room_id);
  sqlite3_bind_int64(append_, 2, m.seq);
  bind(3, m.account_id);
  sqlite3_bind_int64(append_, 4, m.ts);
  bind(5, m.body);
  int rc = sqlite3_step(append_);
  sqlite3_reset(append_);
  sqlite3_clear_bindings(append_);
  if (rc != SQLITE_DONE)
    throw std::runtime_error(std::string("sqlite append: ") + sqlite3_errmsg(db_));
}

std::vector<StoredMessage> SqliteStore::history(std::string_view room_id, std::int64_t before,
                                                int limit) {
  sqlite3_bind_text(history_, 1, room_id.data(), static_cast<int>(room_id.size()),
                    SQLITE_TRANSIENT);
  sqlite3_bind_int64(history_, 2, before > 0 ? before : INT64_MAX);
  sqlite3_bind_int(history_, 3, limit);
  std::vector<StoredMessage> out;
  auto text = [&](int col) {
    auto* p = reinterpret_cast<const char*>(sqlite3_column_text(history_, col));
    return std::string(p ? p : "", static_cast<std::size_t>(sqlite3_column_bytes(history_, col)));
  };
  int rc;
  while ((rc = sqlite3_step(history_)) == SQLITE_ROW)
    out.push_back({text(0), sqlite3_column_int64(history_, 1), text(2),
                   sqlite3_column_int64(history_, 3), text(4)});
  sqlite3_reset(history_);
  sqlite3_clear_bindings(history_);
  if (rc != SQLITE_DONE) throw std::runtime_error(std::string("sqlite: ") + sqlite3_errmsg(db_));
  return out;
}

std::vector<std::pair<std::string, std::int64_t>> SqliteStore::last_seqs() {
  std::vector<std::pair<std::string, std::int64_t>> out;
  int rc;
  while ((rc = sqlite3_step(seqs_)) == SQLITE_ROW) {
    auto* p = reinterpret_cast<const char*>(sqlite3_column_text(seqs_, 0));
    out.emplace_back(p ? p : "", sqlite3_column_int64(seqs_, 1));
  }
  sqlite3_reset(seqs_);
  if (rc != SQLITE_DONE) throw std::runtime_error(std::string("sqlite: ") + sqlite3_errmsg(db_));
  return out;
}

}  // namespace confab::store
