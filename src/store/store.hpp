#pragma once
// Persistence interface. Methods are blocking and called only from the store thread (see
// StoreExecutor); writes happen inside begin()/commit() so that a batch is one durable commit.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace confab::store {

struct StoredDoc {
  std::string kind;
  std::string id;
  std::string account_id;
  std::int64_t revision = 0;
  std::string body;  // JSON text
};

// One chat message. `seq` numbers the messages of a room from 1; history pages go backwards
// from a seq.
struct StoredMessage {
  std::string room_id;
  std::int64_t seq = 0;
  std::string account_id;
  std::int64_t ts = 0;  // unix milliseconds
  std::string body;     // JSON text of the whole message
};

class Store {
 public:
  virtual ~Store() = default;
  virtual std::vector<StoredDoc> load_all() = 0;
  virtual std::vector<StoredDoc> load_kind(std::string_view kind) = 0;
  virtual void begin() = 0;
  virtual void commit() = 0;  // durable when it returns
  virtual void rollback() = 0;
  virtual void savepoint() = 0;              // before each operation of a batch
  virtual void release(bool ok) = 0;         // keep it, or undo just that operation
  virtual void put(const StoredDoc& d) = 0;  // insert or replace
  virtual void remove(std::string_view kind, std::string_view id) = 0;
  virtual void append(const StoredMessage& m) = 0;  // fails if (room_id, seq) exists
  // Up to `limit` messages of a room with seq < before (0: the newest), newest first.
  virtual std::vector<StoredMessage> history(std::string_view room_id, std::int64_t before,
                                             int limit) = 0;
  // The highest seq of every room, to continue numbering after a restart.
  virtual std::vector<std::pair<std::string, std::int64_t>> last_seqs() = 0;
};

}  // namespace confab::store
