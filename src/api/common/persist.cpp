#include "api/common/persist.hpp"

#include "store/media_files.hpp"

#include <spdlog/spdlog.h>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <memory>
#include <system_error>
#include <vector>

namespace confab::api {
namespace fs = std::filesystem;

namespace {

store::StoredDoc stored(const core::PendingWrite& w) {
  return {w.doc.kind, w.doc.id, w.doc.account_id, w.doc.revision,
          boost::json::serialize(w.doc.body)};
}

// The document, then the file: if the put fails the rename never happens; if the rename fails the
// put is rolled back with its savepoint. `owned`: the staged file is ours to clean up.
void put_then_install(store::Store& s, const store::StoredDoc& sd, const fs::path& staged,
                      const fs::path& dest, bool owned) {
  try {
    s.put(sd);
    store::install_file_journaled(staged, dest, sd.revision);
  } catch (...) {
    std::error_code ec;
    if (owned) fs::remove(staged, ec);
    throw;
  }
}

}  // namespace

store::StoreExecutor::Done Persister::settle(core::PendingWrite w,
                                             std::function<void(const std::string&)> then) {
  return [this, w = std::move(w), then = std::move(then)](const std::string& err) {
    if (err.empty())
      svc_.commit(w);
    else
      svc_.abort(w);
    then(err);
  };
}

store::StoreExecutor::Done Persister::settle_with_file(
    core::PendingWrite w, fs::path dest, std::function<void(const std::string&)> then) {
  auto revision = w.doc.revision;
  auto done = settle(std::move(w), std::move(then));
  return [this, dest = std::move(dest), revision, done = std::move(done)](const std::string& err) {
    // The commit's fate is known: the journal entry goes (or the previous file comes back) on the
    // store thread, before the caller hears of it.
    exec_.write(
        [dest, revision, committed = err.empty()](store::Store&) {
          try {
            store::settle_install(dest, revision, committed);
          } catch (const std::exception& e) {  // settled again at the next start-up
            spdlog::warn("cannot settle the install of {}: {}", dest.string(), e.what());
          }
        },
        [err, done](const std::string&) { done(err); });
  };
}

void Persister::write(core::PendingWrite w, std::function<void(const std::string&)> then) {
  auto sd = stored(w);
  bool remove = w.remove;
  exec_.write(
      [sd = std::move(sd), remove](store::Store& s) {
        if (remove)
          s.remove(sd.kind, sd.id);
        else
          s.put(sd);
      },
      settle(std::move(w), std::move(then)));
}

void Persister::write_with_file(core::PendingWrite w, fs::path dest,
                                std::shared_ptr<const std::string> bytes,
                                std::function<void(const std::string&)> then) {
  auto sd = stored(w);  // before w moves: arguments are evaluated in no set order
  auto done = settle_with_file(std::move(w), dest, std::move(then));
  exec_.write(
      [sd = std::move(sd), dest = std::move(dest), bytes = std::move(bytes)](store::Store& s) {
        put_then_install(s, sd, store::stage_file(dest, *bytes), dest, true);
      },
      std::move(done));
}

void Persister::write_with_staged_file(core::PendingWrite w, fs::path staged, fs::path dest,
                                       std::function<void(const std::string&)> then) {
  auto sd = stored(w);
  auto done = settle_with_file(std::move(w), dest, std::move(then));
  exec_.write(
      [sd = std::move(sd), staged = std::move(staged), dest = std::move(dest)](store::Store& s) {
        store::sync_file(staged);
        put_then_install(s, sd, staged, dest, false);
      },
      std::move(done));
}

void Persister::remove_with_file(core::PendingWrite w, fs::path file,
                                 std::function<void(const std::string&)> then) {
  auto kind = w.doc.kind, id = w.doc.id;
  write(std::move(w), [this, kind, id, file = std::move(file),
                       then = std::move(then)](const std::string& err) mutable {
    if (!err.empty()) return then(err);
    // The removal is durable: now the file may go. The reply waits for it, so that a client
    // that saw the 200 finds neither.
    exec_.write(
        [file, kind, id](store::Store&) {
          try {
            store::remove_file(file);
          } catch (const std::exception& e) {  // an orphan file, not a failed removal
            spdlog::warn("{} {} removed, but not its file: {}", kind, id, e.what());
          }
        },
        [then = std::move(then)](const std::string&) { then({}); });
  });
}

void Persister::read_file(fs::path file, std::size_t max_bytes,
                          std::function<void(const std::string&, std::string)> then) {
  struct Result {
    std::string error;
    std::string bytes;
  };
  auto out = std::make_shared<Result>();
  exec_.write(
      [out, file = std::move(file), max_bytes](store::Store&) {
        try {
          out->bytes = store::read_file(file, max_bytes);
        } catch (const std::system_error& e) {
          out->error = e.code() == std::errc::no_such_file_or_directory ? "missing" : e.what();
        }
      },
      [out, then = std::move(then)](const std::string& err) {
        then(out->error.empty() ? err : out->error, std::move(out->bytes));
      });
}

void Persister::run(std::function<void()> work, std::function<void(const std::string&)> then) {
  exec_.write([work = std::move(work)](store::Store&) { work(); }, std::move(then));
}

void Persister::refresh(std::string kind, std::function<void()> then) {
  auto& r = refreshes_[kind];
  if (r.running) {
    r.waiting.push_back(std::move(then));
    return;
  }
  auto now = std::chrono::steady_clock::now();
  if (r.ran && now - r.started < refresh_interval_) return then();
  r.running = r.ran = true;
  r.started = now;
  r.waiting.push_back(std::move(then));
  ++refreshes_run_;
  // Read and parsed on the store thread: the control thread only files what it gets.
  auto docs = std::make_shared<std::vector<core::Doc>>();
  exec_.write(
      [docs, kind](store::Store& s) {
        for (auto& d : s.load_kind(kind)) {
          boost::system::error_code ec;
          auto body = boost::json::parse(d.body, ec);
          if (ec || !body.is_object()) continue;
          docs->push_back(
              core::Doc{d.kind, d.id, d.account_id, d.revision, std::move(body.as_object())});
        }
      },
      [this, docs, kind](const std::string&) {
        for (auto& d : *docs)
          if (!svc_.directory().find(d.kind, d.id)) svc_.load(std::move(d));
        auto& r = refreshes_[kind];
        r.running = false;
        auto waiting = std::move(r.waiting);
        r.waiting.clear();
        for (auto& f : waiting) f();
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
  // Read and parsed on the store thread (a page holds up to 200 messages of 4 KiB).
  auto out = std::make_shared<boost::json::array>();
  exec_.write(
      [out, room_id = std::move(room_id), before, limit](store::Store& s) {
        for (auto& r : s.history(room_id, before, limit)) {
          boost::system::error_code ec;
          auto v = boost::json::parse(r.body, ec);
          if (!ec) out->push_back(std::move(v));
        }
      },
      [out, then = std::move(then)](const std::string& err) { then(err, std::move(*out)); });
}

}  // namespace confab::api
