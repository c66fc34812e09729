#pragma once
// The in-process event bus: core publishes, faces subscribe. Runs on the control thread only.
#include "core/events.hpp"

#include <functional>
#include <map>

namespace confab::bus {

class LocalBus final : public core::EventSink {
 public:
  using Handler = std::function<void(const core::Event&)>;
  int subscribe(Handler h) {
    handlers_[next_] = std::move(h);
    return next_++;
  }
  void unsubscribe(int id) { handlers_.erase(id); }
  void publish(const core::Event& e) override {
    ++published_;
    for (auto& [id, h] : handlers_) h(e);
  }
  std::uint64_t published() const { return published_; }

 private:
  std::map<int, Handler> handlers_;
  int next_ = 1;
  std::uint64_t published_ = 0;
};

}  // namespace confab::bus
