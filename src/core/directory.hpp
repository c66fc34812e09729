#pragma once
// The in-memory catalog of persisted documents (accounts, users, conferences), kept on the control
// thread so that reads never wait on the database. The store is written through: a change is
// prepared here (validated, unique keys reserved), written durably by the store, then committed
// here. Reservations make two concurrent writes that claim the same number fail cleanly instead of
// racing, without the store having to know any rule.
#include <boost/json/object.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace confab::core {

struct Doc {
  std::string kind;  // "account", "user", "conference"
  std::string id;
  std::string account_id;
  std::int64_t revision = 0;
  boost::json::object body;  // includes pvt_* keys; faces strip them
};

// A unique claim within an account: `field` names the document field for the error report
// ("numbers", "username"), `key` the claimed value. A key that is not `unique` claims nothing: it
// only indexes the document, so that finding documents by that value needs no scan (API key
// hashes, usernames across accounts, a hub's rooms).
struct UniqueKey {
  std::string field;
  std::string key;
  std::string scope;  // empty: the document's account; otherwise a shared scope ("accounts")
  bool unique = true;
  auto operator<=>(const UniqueKey&) const = default;
};

struct PendingWrite {
  Doc doc;  // the document as it will be stored (for a removal: the current one)
  bool remove = false;
  std::vector<UniqueKey> keys;
  std::uint64_t ticket = 0;
};

class Directory {
 public:
  void load(Doc d, std::vector<UniqueKey> keys);  // startup, from the store; no checks
  const Doc* find(std::string_view kind, std::string_view id) const;
  std::vector<const Doc*> list(std::string_view kind, std::string_view account_id) const;
  std::vector<const Doc*> all(std::string_view kind) const;
  // The committed document holding a unique key in a scope (an account), or null.
  const Doc* owner(std::string_view kind, std::string_view scope, const UniqueKey& k) const;
  // The committed documents indexed under a key that is not unique (k.unique is ignored).
  std::vector<const Doc*> tagged(std::string_view kind, std::string_view scope,
                                 const UniqueKey& k) const;

  // Throws Error{conflict} if the document has a write in flight, Error{invalid_data} with
  // data.<field>.unique if a key is held by another document (committed or in flight).
  PendingWrite begin(Doc doc, bool remove, std::vector<UniqueKey> keys);
  void commit(const PendingWrite& w);
  void abort(const PendingWrite& w);

  std::size_t size() const { return docs_.size(); }

 private:
  using IndexKey = std::pair<std::string, UniqueKey>;  // scope, key
  static IndexKey ikey(const Doc& d, const UniqueKey& k) {
    return {k.scope.empty() ? d.account_id : k.scope, k};
  }
  static std::string doc_key(std::string_view kind, std::string_view id);
  void index(const Doc& d, const std::vector<UniqueKey>& keys);
  void unindex(const std::string& kind, const std::string& id);

  std::unordered_map<std::string, Doc> docs_;  // "<kind>/<id>" -> doc
  std::map<std::pair<std::string, std::string>, std::set<std::string>>
      by_account_;                                    // (kind, account)
  std::map<IndexKey, std::string> unique_;            // committed owners
  std::map<IndexKey, std::set<std::string>> tagged_;  // keys that are not unique
  std::map<std::string, std::set<std::string>, std::less<>> by_kind_;
  std::map<IndexKey, std::uint64_t> reserved_;                       // in-flight owners
  std::unordered_map<std::string, std::vector<UniqueKey>> keys_of_;  // doc key -> its keys
  std::unordered_map<std::string, std::uint64_t> in_flight_;         // doc key -> ticket
  std::uint64_t next_ticket_ = 1;
};

}  // namespace confab::core
