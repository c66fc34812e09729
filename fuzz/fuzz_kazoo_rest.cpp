// Kazoo REST requests: method, path, query, headers and body, through the real Rest face with an
// in-memory SQLite store and media files in a temporary data dir. Input: "METHOD PATH\nBODY"; $A
// stands for an account, $M for a media document of it (raw uploads reach the WAV parser).
#include "api/common/persist.hpp"
#include "api/kazoo/rest.hpp"
#include "bus/local_bus.hpp"
#include "core/service.hpp"
#include "store/executor.hpp"
#include "store/sqlite/sqlite_store.hpp"

#include <boost/json.hpp>

#include <stdlib.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <mutex>

namespace {

struct World {
  confab::bus::LocalBus bus;
  confab::core::ConferenceService svc{bus, [] { return std::int64_t{1000}; }, "fuzz-secret"};
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::function<void()>> inbox;
  confab::store::StoreExecutor exec{std::make_unique<confab::store::SqliteStore>(":memory:"),
                                    [this](std::function<void()> f) {
                                      std::lock_guard lk(mu);
                                      inbox.push_back(std::move(f));
                                      cv.notify_one();
                                    }};
  confab::api::Persister persist{svc, exec};
  std::filesystem::path data_dir = make_dir();
  confab::api::kazoo::Rest rest{svc, persist, {.data_dir = data_dir}};
  std::string account, token, media;
  World() {
    std::string key;
    auto a = svc.prepare_account(boost::json::object{{"name", "a"}}, true, key);
    svc.commit(a);
    account = a.doc.id;
    token = svc.auth_api_key(key);
    auto m = svc.prepare("media", account, {}, confab::core::WriteMode::create,
                         boost::json::object{{"name", "m"}});
    svc.commit(m);
    media = m.doc.id;
  }
  ~World() { std::filesystem::remove_all(data_dir); }
  static std::filesystem::path make_dir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "confab-fuzz-XXXXXX").string();
    return mkdtemp(tmpl.data()) ? tmpl : "/nonexistent";
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static World w;
  std::string in(reinterpret_cast<const char*>(data), size);
  for (std::size_t p; (p = in.find("$A")) != std::string::npos;) in.replace(p, 2, w.account);
  for (std::size_t p; (p = in.find("$M")) != std::string::npos;) in.replace(p, 2, w.media);
  confab::net::Request req;
  auto nl = in.find('\n');
  std::string line = in.substr(0, nl);
  req.body = nl == std::string::npos ? "" : in.substr(nl + 1);
  auto sp = line.find(' ');
  req.method = line.substr(0, sp);
  std::string target = sp == std::string::npos ? "/" : line.substr(sp + 1);
  auto qm = target.find('?');
  req.path = confab::net::percent_decode(target.substr(0, qm), false);
  if (qm != std::string::npos) req.query = target.substr(qm + 1);
  req.headers.emplace_back("x-auth-token", w.token);
  bool answered = false;
  w.rest.handle(std::move(req), [&](confab::net::Response) { answered = true; });
  while (!answered) {  // a write: wait for the store thread's completion and run it here
    std::unique_lock lk(w.mu);
    w.cv.wait(lk, [&] { return !w.inbox.empty(); });
    auto f = std::move(w.inbox.front());
    w.inbox.pop_front();
    lk.unlock();
    f();
  }
  return 0;
}
