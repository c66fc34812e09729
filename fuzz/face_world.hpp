#pragma once
// A whole control plane for fuzzing a face through its public entry points: the core, chat and
// calls, an SQLite store in memory whose completions run on the fuzzing thread (as on the
// control thread), an account with two users and a hub. The clock moves on for every input, so
// that what one input starts (a login throttle, a token's life) does not decide the next.
#include "api/common/face.hpp"
#include "api/common/persist.hpp"
#include "bus/local_bus.hpp"
#include "core/calls.hpp"
#include "core/chat.hpp"
#include "core/error.hpp"
#include "core/identity.hpp"
#include "core/service.hpp"
#include "net/http.hpp"
#include "store/executor.hpp"
#include "store/sqlite/sqlite_store.hpp"

#include <boost/json.hpp>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace confab::fuzz {

// A socket that keeps what it is sent.
struct Conn final : net::WsConnection {
  std::vector<std::string> frames;
  bool closed = false;
  std::string name = "192.0.2.1:5000";
  void send(std::shared_ptr<const std::string> text) override {
    if (frames.size() < 256) frames.push_back(*text);
  }
  void close() override { closed = true; }
  const std::string& remote() const override { return name; }
};

struct FaceWorld {
  std::int64_t now = 1'000'000;
  bus::LocalBus bus;
  core::ConferenceService svc{bus, [this] { return now; }, "fuzz-secret-fuzz-secret-fuzz-secret"};
  core::Chat chat{svc, bus, [this] { return now * 1000; }};
  core::Calls calls{svc, bus};
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::function<void()>> inbox;
  store::StoreExecutor exec{std::make_unique<store::SqliteStore>(":memory:"),
                            [this](std::function<void()> f) {
                              std::lock_guard lk(mu);
                              inbox.push_back(std::move(f));
                              cv.notify_one();
                            }};
  api::Persister persist{svc, exec};
  api::FaceContext ctx{svc, chat, calls, persist, bus, "fuzz@node"};
  std::string account, api_key, alice, bob, hub, conference;
  static constexpr std::string_view kPassword = "fuzz-pass";
  static constexpr std::string_view kNumber = "4000";

  FaceWorld() {
    auto a = svc.prepare_account(boost::json::object{{"name", "acme"}}, false, api_key);
    svc.commit(a);
    account = a.doc.id;
    alice = add("user", {{"username", "alice"},
                         {"password", kPassword},
                         {"first_name", "Alice"},
                         {"last_name", "L"},
                         {"extension", "1001"}});
    bob = add("user", {{"username", "bob"},
                       {"password", kPassword},
                       {"first_name", "Bob"},
                       {"last_name", "M"},
                       {"extension", "1002"}});
    hub = add("hub", {{"name", "team"},
                      {"owner_id", alice},
                      {"default_privilege", 1},
                      {"privileges", boost::json::object{{bob, 3}}}});
    conference = add("conference",
                     {{"name", "support"},
                      {"conference_numbers", boost::json::array{kNumber}},
                      {"moderator", boost::json::object{{"pins", boost::json::array{"1234"}}}}});
  }

  std::string add(std::string_view kind, boost::json::object body) {
    auto w = svc.prepare(kind, account, {}, core::WriteMode::create, body);
    svc.commit(w);
    return w.doc.id;
  }

  // A new input: time moves on (past every throttle and backoff); returns a fresh token of
  // alice's.
  std::string next_input() {
    now += 1000;
    return svc.auth_login("alice", kPassword);
  }

  // Runs completions until a store round trip posted now has come back, and again while
  // completions start new ones: every write an input caused is settled when it returns.
  void settle() {
    for (int round = 0; round < 64; ++round) {
      bool barrier = false;
      exec.write([](store::Store&) {}, [&barrier](const std::string&) { barrier = true; });
      std::size_t ran = 0;
      while (!barrier) ran += run_one();
      if (ran == 1) return;  // only the barrier: nothing else was in flight
    }
  }
  // Runs completions until `done`.
  void run_until(const bool& done) {
    while (!done) run_one();
  }

  // Text with placeholders replaced: each pair is (placeholder, value).
  static std::string fill(std::string text,
                          std::initializer_list<std::pair<std::string_view, std::string>> subs) {
    for (auto& [ph, val] : subs)
      for (std::size_t p = 0; (p = text.find(ph, p)) != std::string::npos; p += val.size())
        text.replace(p, ph.size(), val);
    return text;
  }

  // A WebSocket upgrade at `path` with ?token=, from `conn`.
  static net::Request upgrade(std::string path, const std::string& token, const Conn& conn) {
    net::Request req;
    req.method = "GET";
    req.path = std::move(path);
    req.query = "token=" + token;
    req.remote = conn.name;
    return req;
  }

  // "METHOD TARGET\nName: value\n...\n\nBODY" (without an empty line, all after the first line
  // is the body) into a request from `remote`.
  static net::Request request(std::string_view in, std::string remote = "192.0.2.1:5000") {
    net::Request req;
    req.remote = std::move(remote);
    auto nl = in.find('\n');
    auto line = in.substr(0, nl);
    std::string_view rest = nl == std::string_view::npos ? "" : in.substr(nl + 1);
    auto sp = line.find(' ');
    req.method = std::string(line.substr(0, sp));
    auto target = sp == std::string_view::npos ? std::string_view("/") : line.substr(sp + 1);
    auto qm = target.find('?');
    req.path = net::percent_decode(target.substr(0, qm), false);
    if (qm != std::string_view::npos) req.query = std::string(target.substr(qm + 1));
    if (auto blank = rest.find("\n\n"); blank != std::string_view::npos) {
      auto head = rest.substr(0, blank);
      rest.remove_prefix(blank + 2);
      while (!head.empty()) {
        auto end = head.find('\n');
        auto h = head.substr(0, end);
        if (auto colon = h.find(':'); colon != std::string_view::npos) {
          auto value = h.substr(colon + 1);
          while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
          req.headers.emplace_back(core::lower(h.substr(0, colon)), std::string(value));
        }
        if (end == std::string_view::npos) break;
        head.remove_prefix(end + 1);
      }
    }
    req.body = std::string(rest);
    return req;
  }

 private:
  std::size_t run_one() {
    std::unique_lock lk(mu);
    cv.wait(lk, [&] { return !inbox.empty(); });
    auto f = std::move(inbox.front());
    inbox.pop_front();
    lk.unlock();
    f();
    return 1;
  }
};

}  // namespace confab::fuzz
