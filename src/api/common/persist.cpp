#include "api/common/persist.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <memory>
#include <vector>

namespace confab::api {

void Persister::write(core::PendingWrite w, std::function<void(const std::string&)> then) {
  store::StoredDoc sd{w.doc.kind, w.doc.id, w.doc.account_id, w.doc.revision,
                      boost::json::serialize(w.doc.body)};
  bool remove = w.remove;
  exec_.write(
      [sd = std::move(sd), remove](store::Store& s) {
        if (remove)
          s.remove(sd.kind, sd.id);
        else
          s.put(sd);
      },
      [this, w = std::move(w), then = std::move(then)](const std::string& err) {
        if (err.empty())
          svc_.commit(w);
        else
          svc_.abort(w);
        then(err);
      });
}

void Persister::refresh(std::string kind, std::function<void()> then) {
  auto docs = std::make_shared<std::vector<store::StoredDoc>>();
  exec_.write(
      [docs, kind](store::Store& s) { *docs = s.load_kind(kind); },
      [this, docs, then = std::move(then)](const std::string&) {
        for (auto& d : *docs) {
          if (svc_.directory().find(d.kind, d.id)) continue;
          boost::system::error_code ec;
          auto body = boost::json::parse(d.body, ec);
          if (ec || !body.is_object()) continue;
          svc_.load(core::Doc{d.kind, d.id, d.account_id, d.revision, std::move(body.as_object())});
        }
        then();
      });
}

}  // namespace confab::api
