#pragma once
// Write-through of a prepared change: durable in the store first, then committed to the core's
// catalog (or aborted), then the caller continues. Shared by every face.
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

 private:
  core::ConferenceService& svc_;
  store::StoreExecutor& exec_;
};

}  // namespace confab::api
