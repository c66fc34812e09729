#pragma once
// Helpers shared by the unit tests.
#include "core/error.hpp"
#include "core/events.hpp"
#include "core/service.hpp"

#include <boost/json.hpp>

#include <gtest/gtest.h>

#include <unistd.h>

#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <mutex>
#include <queue>
#include <string>
#include <vector>

namespace confab::test {

// Keeps every event the core publishes.
struct RecordingSink : core::EventSink {
  std::vector<core::Event> events;
  void publish(const core::Event& e) override { events.push_back(e); }
  std::vector<core::Event> of(core::EventType t) const {
    std::vector<core::Event> out;
    for (auto& e : events)
      if (e.type == t) out.push_back(e);
    return out;
  }
};

// The code of the Error `f` throws; a test failure when it throws none.
template <typename F>
Errc code_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.code;
  }
  ADD_FAILURE() << "no error thrown";
  return Errc::conflict;
}

// A core on its own: an event recorder, a clock the test moves, the service, and accounts.
struct CoreWorld : ::testing::Test {
  RecordingSink sink;
  std::int64_t clock = 1'000'000;
  core::ConferenceService svc{sink, [this] { return clock; }, "secret"};

  std::string new_account(const std::string& name) {
    std::string key;
    auto w = svc.prepare_account(boost::json::object{{"name", name}}, false, key);
    svc.commit(w);
    return w.doc.id;
  }
};

// A fresh directory, removed with everything in it at the end of the test.
struct TempDir {
  std::filesystem::path path = std::filesystem::temp_directory_path() /
                               ("confab-test-" + std::to_string(::getpid()) + "-" +
                                std::to_string(reinterpret_cast<std::uintptr_t>(this)));
  TempDir() { std::filesystem::create_directories(path); }
  ~TempDir() { std::filesystem::remove_all(path); }
};

// Runs posted completions on the test thread, like the control thread would.
struct Inbox {
  std::mutex mu;
  std::condition_variable cv;
  std::queue<std::function<void()>> q;
  void post(std::function<void()> f) {
    std::lock_guard lk(mu);
    q.push(std::move(f));
    cv.notify_one();
  }
  void run(std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) run_one();
  }
  // Runs completions until `done` turns true (a chain of store round trips).
  void run_until(const bool& done) {
    while (!done) run_one();
  }

 private:
  void run_one() {
    std::unique_lock lk(mu);
    cv.wait(lk, [&] { return !q.empty(); });
    auto f = std::move(q.front());
    q.pop();
    lk.unlock();
    f();
  }
};

}  // namespace confab::test
