#pragma once
// Write-through of a prepared change: durable in the store first, then committed to the core's
// catalog (or aborted), then the caller continues. Shared by every face.
#include "core/chat.hpp"
#include "core/service.hpp"
#include "store/executor.hpp"

#include <functional>
#include <string>

namespace confab::api {

class Persister {
 public:
  Persister(core::ConferenceService& svc, store::StoreExecutor& exec) : svc_(svc), exec_(exec) {}
  // `then(error)` runs on the control thread; empty error means committed.
  void write(core::PendingWrite w, std::function<void(const std::string& error)> then);
  // Loads documents of `kind` that another process (`confab account create`) added to the store
  // while we run; documents we already hold are left alone. `then` runs on the control thread.
  void refresh(std::string kind, std::function<void()> then);

  // Stores chat messages (all or none), then commits each to `chat` (which tells the room).
  void write_messages(core::Chat& chat, std::vector<core::ChatMessage> msgs,
                      std::function<void(const std::string& error)> then);
  // A page of a room's history, newest first: messages with seq < before (0: the newest).
  void history(std::string room_id, std::int64_t before, int limit,
               std::function<void(const std::string& error, boost::json::array messages)> then);

 private:
  core::ConferenceService& svc_;
  store::StoreExecutor& exec_;
};

}  // namespace confab::api
