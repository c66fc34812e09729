#include "media/recorder.hpp"

#include "media/wav.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <stdexcept>
#include <utility>

namespace confab::media {

Recording::Recording(std::filesystem::path path, int rate, std::size_t ring_samples)
    : path_(std::move(path)),
      rate_(rate),
      ring_(std::bit_ceil(std::max<std::size_t>(ring_samples, 1024))) {
  mask_ = ring_.size() - 1;
  std::error_code ec;
  std::filesystem::create_directories(path_.parent_path(), ec);
  // Owner only from the first byte, whatever the umask: a conference's audio is nobody else's.
  int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd >= 0 && (::fchmod(fd, 0600) != 0 || !(file_ = ::fdopen(fd, "wb")))) {
    int err = errno;
    ::close(fd);
    errno = err;
  }
  if (!file_)
    throw std::runtime_error("cannot create " + path_.string() + ": " + std::strerror(errno));
  auto h = wav_header(rate_, 1, 0);
  std::fwrite(h.data(), 1, h.size(), file_);
}

Recording::~Recording() {
  if (file_) std::fclose(file_);
}

void Recording::write(std::span<const std::int16_t> frame) {
  auto tail = tail_.load(std::memory_order_relaxed);
  auto head = head_.load(std::memory_order_acquire);
  if (tail - head + frame.size() > ring_.size()) {  // the writer fell behind: drop, count
    dropped_.fetch_add(frame.size(), std::memory_order_relaxed);
    return;
  }
  for (std::size_t i = 0; i < frame.size(); ++i) ring_[(tail + i) & mask_] = frame[i];
  tail_.store(tail + frame.size(), std::memory_order_release);
}

bool Recording::drain() {
  bool closed = closed_.load(std::memory_order_acquire);  // before reading tail: see it all
  auto tail = tail_.load(std::memory_order_acquire);
  auto head = head_.load(std::memory_order_relaxed);
  while (head < tail) {
    auto start = head & mask_;
    auto n = std::min<std::uint64_t>(tail - head, ring_.size() - start);
    if (file_ && error_.empty() &&
        std::fwrite(ring_.data() + start, sizeof(std::int16_t), n, file_) != n)
      error_ = "write failed: " + std::string(std::strerror(errno));
    written_ += n;
    head += n;
    head_.store(head, std::memory_order_release);
  }
  return closed;
}

void Recording::finish() {
  if (!file_) return;
  auto bytes = static_cast<std::uint32_t>(std::min<std::uint64_t>(written_ * 2, 0xFFFFFFDBu));
  auto h = wav_header(rate_, 1, bytes);
  if (std::fseek(file_, 0, SEEK_SET) != 0 ||
      std::fwrite(h.data(), 1, h.size(), file_) != h.size() || std::fflush(file_) != 0 ||
      ::fsync(::fileno(file_)) != 0)
    if (error_.empty()) error_ = "cannot finish " + path_.string() + ": " + std::strerror(errno);
  std::fclose(file_);
  file_ = nullptr;
}

Recorder::Recorder(int period_ms) : period_ms_(period_ms), thread_([this] { run(); }) {}

Recorder::~Recorder() {
  stop();
}

void Recorder::stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::lock_guard lock(mu_);
  for (auto& r : open_) {
    r->close();
    r->drain();
    r->finish();
    finished_.push_back(r);
  }
  open_.clear();
}

void Recorder::add(std::shared_ptr<Recording> r) {
  std::lock_guard lock(mu_);
  open_.push_back(std::move(r));
}

std::vector<std::shared_ptr<Recording>> Recorder::take_finished() {
  std::lock_guard lock(mu_);
  return std::exchange(finished_, {});
}

void Recorder::run() {
  std::unique_lock lock(mu_);
  // Reused every wake: while recordings run, the writer allocates only when one finishes.
  std::vector<std::shared_ptr<Recording>> open, done;
  while (!stop_) {
    cv_.wait_for(lock, std::chrono::milliseconds(period_ms_));
    open.assign(open_.begin(), open_.end());  // the file writes happen without the lock
    lock.unlock();
    done.clear();
    for (auto& r : open)
      if (r->drain()) {
        r->finish();
        done.push_back(r);
      }
    open.clear();
    lock.lock();
    for (auto& r : done) {
      open_.erase(std::find(open_.begin(), open_.end(), r));
      finished_.push_back(r);
    }
  }
}

}  // namespace confab::media
