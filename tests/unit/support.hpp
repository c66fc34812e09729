#pragma once
// Helpers shared by the unit tests.
#include "core/error.hpp"
#include "core/events.hpp"
#include "core/service.hpp"

#include <boost/json.hpp>

#include <gtest/gtest.h>

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

}  // namespace confab::test
