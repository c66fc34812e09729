#include "store/executor.hpp"

#include <exception>
#include <vector>

namespace confab::store {

StoreExecutor::StoreExecutor(std::unique_ptr<Store> store, Post post)
    : store_(std::move(store)), post_(std::move(post)), thread_([this] { run(); }) {}

StoreExecutor::~StoreExecutor() {
  stop();
}

void StoreExecutor::write(Op op, Done done) {
  {
    std::lock_guard lk(mu_);
    queue_.push_back({std::move(op), std::move(done)});
  }
  cv_.notify_one();
}

void StoreExecutor::stop() {
  {
    std::lock_guard lk(mu_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void StoreExecutor::run() {
  constexpr std::size_t kMaxBatch = 512;
  std::vector<Job> batch;
  std::vector<std::string> errors;
  for (;;) {
    {
      std::unique_lock lk(mu_);
      cv_.wait(lk, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping and drained
      while (!queue_.empty() && batch.size() < kMaxBatch) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    errors.assign(batch.size(), {});
    try {
      store_->begin();
      for (std::size_t i = 0; i < batch.size(); ++i) {
        store_->savepoint();
        try {
          batch[i].op(*store_);
          store_->release(true);
        } catch (const std::exception& e) {
          errors[i] = e.what();
          store_->release(false);
        }
      }
      store_->commit();
      ++commits_;
    } catch (const std::exception& e) {
      try {
        store_->rollback();
      } catch (...) {
      }
      for (auto& err : errors)
        if (err.empty()) err = e.what();
    }
    for (std::size_t i = 0; i < batch.size(); ++i)
      post_([done = std::move(batch[i].done), err = std::move(errors[i])] { done(err); });
    batch.clear();
  }
}

}  // namespace confab::store
