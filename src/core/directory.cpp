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

const Doc* Directory::find_by(std::string_view kind, std::string_view account_id,
                              std::string_view field, std::string_view value) const {
  for (auto* d : list(kind, account_id))
    if (auto* v = d->body.if_contains(field); v && v->is_string() && v->as_string() == value)
      return d;
  return nullptr;
}

const Doc* Directory::owner(std::string_view kind, std::string_view scope,
                            const UniqueKey& k) const {
  auto it = unique_.find({std::string(scope), k});
  return it == unique_.end() ? nullptr : find(kind, it->second);
}

std::vector<const Doc*> Directory::all(std::string_view kind) const {
  std::vector<const Doc*> out;
  for (auto& [k, d] : docs_)
    if (d.kind == kind) out.push_back(&d);
  return out;
}

const Doc* Directory::find_account_by(std::string_view field, std::string_view value) const {
  for (auto& [k, d] : docs_)
    if (d.kind == "account")
      if (auto* v = d.body.if_contains(field); v && v->is_string() && v->as_string() == value)
        return &d;
  return nullptr;
}

PendingWrite Directory::begin(Doc doc, bool remove, std::vector<UniqueKey> keys) {
  auto dk = doc_key(doc.kind, doc.id);
  if (in_flight_.contains(dk))
    throw Error(Errc::conflict, "conflicting document update",
                json::object{{"cause", doc.id}, {"message", "another update is in progress"}});
  if (!remove) {
    json::object errors;
    for (auto& k : keys) {
      IndexKey ik = ikey(doc, k);
      auto owner = unique_.find(ik);
      bool taken = (owner != unique_.end() && owner->second != doc.id) || reserved_.contains(ik);
      if (!taken) continue;
      auto* field = errors.if_contains(k.field);
      if (field) {  // several taken values of one field: Kazoo joins them in one cause
        auto& rule = field->as_object()["unique"].as_object();
        rule["cause"] = std::string(rule["cause"].as_string()) + ", " + k.key;
        continue;
      }
      std::string msg = k.field == "numbers" ? "Numbers already in use" : "Value already in use";
      json::object rule{{"message", msg}, {"cause", k.key}};
      errors[k.field] = json::object{{"unique", std::move(rule)}};
    }
    if (!errors.empty()) throw Error(Errc::invalid_data, "invalid data", std::move(errors));
  }
  PendingWrite w{std::move(doc), remove, std::move(keys), next_ticket_++};
  in_flight_[dk] = w.ticket;
  if (!remove)
    for (auto& k : w.keys) reserved_[ikey(w.doc, k)] = w.ticket;
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
      auto u = unique_.find(ikey(it->second, k));
      if (u != unique_.end() && u->second == id) unique_.erase(u);
    }
    keys_of_.erase(ks);
  }
}

void Directory::index(const Doc& d, const std::vector<UniqueKey>& keys) {
  for (auto& k : keys) unique_[ikey(d, k)] = d.id;
  keys_of_[doc_key(d.kind, d.id)] = keys;
}

void Directory::commit(const PendingWrite& w) {
  abort(w);  // releases the reservation and the in-flight mark
  unindex(w.doc.kind, w.doc.id);
  auto dk = doc_key(w.doc.kind, w.doc.id);
  if (w.remove) {
    by_account_[{w.doc.kind, w.doc.account_id}].erase(w.doc.id);
    docs_.erase(dk);
    return;
  }
  index(w.doc, w.keys);
  by_account_[{w.doc.kind, w.doc.account_id}].insert(w.doc.id);
  docs_[dk] = w.doc;
}

}  // namespace confab::core
