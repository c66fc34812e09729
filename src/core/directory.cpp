#include "core/directory.hpp"

#include "core/error.hpp"

namespace confab::core {
namespace json = boost::json;

std::string Directory::doc_key(std::string_view kind, std::string_view id) {
  std::string k(kind);
  k += '/';
  k += id;
  return k;
}

void Directory::load(Doc d, std::vector<UniqueKey> keys) {
  auto key = doc_key(d.kind, d.id);
  by_account_[{d.kind, d.account_id}].insert(d.id);
  by_kind_[d.kind].insert(d.id);
  index(d, keys);
  docs_[key] = std::move(d);
}

const Doc* Directory::find(std::string_view kind, std::string_view id) const {
  auto it = docs_.find(doc_key(kind, id));
  return it == docs_.end() ? nullptr : &it->second;
}

std::vector<const Doc*> Directory::list(std::string_view kind, std::string_view account_id) const {
  std::vector<const Doc*> out;
  auto it = by_account_.find({std::string(kind), std::string(account_id)});
  if (it == by_account_.end()) return out;
  out.reserve(it->second.size());
  for (auto& id : it->second)
    if (auto* d = find(kind, id)) out.push_back(d);
  return out;
}

const Doc* Directory::owner(std::string_view kind, std::string_view scope,
                            const UniqueKey& k) const {
  auto it = unique_.find({std::string(scope), k});
  return it == unique_.end() ? nullptr : find(kind, it->second);
}

std::vector<const Doc*> Directory::tagged(std::string_view kind, std::string_view scope,
                                          const UniqueKey& k) const {
  std::vector<const Doc*> out;
  auto key = k;
  key.unique = false;
  auto it = tagged_.find({std::string(scope), key});
  if (it == tagged_.end()) return out;
  for (auto& id : it->second)
    if (auto* d = find(kind, id)) out.push_back(d);
  return out;
}

std::vector<const Doc*> Directory::all(std::string_view kind) const {
  std::vector<const Doc*> out;
  auto it = by_kind_.find(kind);
  if (it == by_kind_.end()) return out;
  out.reserve(it->second.size());
  for (auto& id : it->second)
    if (auto* d = find(kind, id)) out.push_back(d);
  return out;
}

PendingWrite Directory::begin(Doc doc, bool remove, std::vector<UniqueKey> keys) {
  auto dk = doc_key(doc.kind, doc.id);
  if (in_flight_.contains(dk))
    throw Error(Errc::conflict, "conflicting document update",
                json::object{{"cause", doc.id}, {"message", "another update is in progress"}});
  if (!remove) {
    // Taken values, per field: Kazoo joins those of one field in one cause.
    std::map<std::string, std::string> taken;
    for (auto& k : keys) {
      if (!k.unique) continue;
      IndexKey ik = ikey(doc, k);
      auto owner = unique_.find(ik);
      if ((owner == unique_.end() || owner->second == doc.id) && !reserved_.contains(ik)) continue;
      auto& cause = taken[k.field];
      if (!cause.empty()) cause += ", ";
      cause += k.key;
    }
    if (!taken.empty()) {
      json::object errors;
      for (auto& [field, cause] : taken) {
        std::string msg = field == "numbers" ? "Numbers already in use" : "Value already in use";
        errors[field] =
            json::object{{"unique", json::object{{"message", msg}, {"cause", std::move(cause)}}}};
      }
      throw Error(Errc::invalid_data, "invalid data", std::move(errors));
    }
  }
  PendingWrite w{std::move(doc), remove, std::move(keys), next_ticket_++};
  in_flight_[dk] = w.ticket;
  if (!remove)
    for (auto& k : w.keys)
      if (k.unique) reserved_[ikey(w.doc, k)] = w.ticket;
  return w;
}

void Directory::abort(const PendingWrite& w) {
  auto dk = doc_key(w.doc.kind, w.doc.id);
  if (auto it = in_flight_.find(dk); it != in_flight_.end() && it->second == w.ticket)
    in_flight_.erase(it);
  for (auto& k : w.keys) {
    auto it = reserved_.find(ikey(w.doc, k));
    if (it != reserved_.end() && it->second == w.ticket) reserved_.erase(it);
  }
}

void Directory::unindex(const std::string& kind, const std::string& id) {
  auto dk = doc_key(kind, id);
  auto it = docs_.find(dk);
  if (it == docs_.end()) return;
  if (auto ks = keys_of_.find(dk); ks != keys_of_.end()) {
    for (auto& k : ks->second) {
      if (!k.unique) {
        if (auto t = tagged_.find(ikey(it->second, k)); t != tagged_.end()) {
          t->second.erase(id);
          if (t->second.empty()) tagged_.erase(t);
        }
        continue;
      }
      auto u = unique_.find(ikey(it->second, k));
      if (u != unique_.end() && u->second == id) unique_.erase(u);
    }
    keys_of_.erase(ks);
  }
}

void Directory::index(const Doc& d, const std::vector<UniqueKey>& keys) {
  for (auto& k : keys) {
    if (k.unique)
      unique_[ikey(d, k)] = d.id;
    else
      tagged_[ikey(d, k)].insert(d.id);
  }
  keys_of_[doc_key(d.kind, d.id)] = keys;
}

void Directory::commit(const PendingWrite& w) {
  abort(w);  // releases the reservation and the in-flight mark
  unindex(w.doc.kind, w.doc.id);
  auto dk = doc_key(w.doc.kind, w.doc.id);
  if (w.remove) {
    by_account_[{w.doc.kind, w.doc.account_id}].erase(w.doc.id);
    by_kind_[w.doc.kind].erase(w.doc.id);
    docs_.erase(dk);
    return;
  }
  index(w.doc, w.keys);
  by_account_[{w.doc.kind, w.doc.account_id}].insert(w.doc.id);
  by_kind_[w.doc.kind].insert(w.doc.id);
  docs_[dk] = w.doc;
}

}  // namespace confab::core
