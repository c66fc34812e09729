#pragma once
// Helpers shared by the unit tests.
#include "core/error.hpp"
#include "core/events.hpp"

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

}  // namespace confab::test
