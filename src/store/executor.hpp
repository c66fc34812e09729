#pragma once
// Runs store writes on their own thread, off the control thread, with group commit: every write
// queued while the previous commit was syncing goes into the next transaction, each inside its
// own savepoint so one failure does not undo the others. Completions are posted back to the caller
// only after the commit is durable.
#include "store/store.hpp"

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace confab::store {

class StoreExecutor {
 public:
  using Post = std::function<void(std::function<void()>)>;  // onto the control thread
  using Op = std::function<void(Store&)>;
  using Done = std::function<void(const std::string& error)>;  // empty error: durable

  StoreExecutor(std::unique_ptr<Store> store, Post post);
  ~StoreExecutor();
  StoreExecutor(const StoreExecutor&) = delete;
  StoreExecutor& operator=(const StoreExecutor&) = delete;

  void write(Op op, Done done);
  // Blocking read for start-up, before the control loop runs.
  Store& direct() { return *store_; }
  void stop();  // finishes queued writes, then joins

  std::uint64_t commits() const { return commits_; }

 private:
  struct Job {
    Op op;
    Done done;
  };
  void run();

  std::unique_ptr<Store> store_;
  Post post_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> queue_;
  bool stopping_ = false;
  std::uint64_t commits_ = 0;
  std::thread thread_;
};

}  // namespace confab::store
