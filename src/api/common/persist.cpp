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

void Persister::write_messages(core::Chat& chat, std::vector<core::ChatMessage> msgs,
                               std::function<void(const std::string&)> then) {
  std::vector<store::StoredMessage> rows;
  for (auto& m : msgs)
    rows.push_back({m.room_id, m.seq, m.account_id, m.ts, boost::json::serialize(to_json(m))});
  exec_.write(
      [rows = std::move(rows)](store::Store& s) {
        for (auto& r : rows) s.append(r);
      },
      [&chat, msgs = std::move(msgs), then = std::move(then)](const std::string& err) {
        if (err.empty())
          for (auto& m : msgs) chat.commit(m);
        then(err);
      });
}

void Persister::history(std::string room_id, std::int64_t before, int limit,
                        std::function<void(const std::string&, boost::json::array)> then) {
  auto rows = std::make_shared<std::vector<store::StoredMessage>>();
  exec_.write([rows, room_id = std::move(room_id), before,
               limit](store::Store& s) { *rows = s.history(room_id, before, limit); },
              [rows, then = std::move(then)](const std::string& err) {
                boost::json::array out;
                for (auto& r : *rows) {
                  boost::system::error_code ec;
                  auto v = boost::json::parse(r.body, ec);
                  if (!ec) out.push_back(std::move(v));
                }
                then(err, std::move(out));
              });
}

}  // namespace confab::api
