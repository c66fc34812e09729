#include "api/common/persist.hpp"

#include <boost/json/serialize.hpp>

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

}  // namespace confab::api
