#pragma once
// Recording a room's mix to a WAV file without file I/O on the media thread: the shard copies
// each tick's mix into a lock-free ring of the Recording; one writer thread per engine moves the
// samples to the file and finishes it (header sizes, fsync) once the shard has let go.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

namespace confab::media {

class Recording {
 public:
  // Creates the file (and its directory); throws std::runtime_error naming the path on failure.
  Recording(std::filesystem::path path, int rate, std::size_t ring_samples);
  ~Recording();
  Recording(const Recording&) = delete;
  Recording& operator=(const Recording&) = delete;

  // --- shard side: never blocks, never allocates ---
  void write(std::span<const std::int16_t> frame);
  void close() { closed_.store(true, std::memory_order_release); }  // no write() after this

  // --- writer side ---
  // Moves what the ring holds to the file; true once closed and everything is written.
  bool drain();
  // Fixes the header and makes the file durable. Sets error() on failure.
  void finish();

  const std::filesystem::path& path() const { return path_; }
  int rate() const { return rate_; }
  std::uint64_t samples() const { return written_; }
  std::uint64_t dropped() const { return dropped_.load(); }
  const std::string& error() const { return error_; }

 private:
  std::filesystem::path path_;
  int rate_;
  std::FILE* file_ = nullptr;
  std::vector<std::int16_t> ring_;  // capacity is a power of two
  std::size_t mask_;
  alignas(64) std::atomic<std::uint64_t> head_{0};  // read by the writer
  alignas(64) std::atomic<std::uint64_t> tail_{0};  // written by the shard
  std::atomic<bool> closed_{false};
  std::atomic<std::uint64_t> dropped_{0};
  std::uint64_t written_ = 0;
  std::string error_;
};

// The writer thread: wakes every `period_ms`, drains every open recording, finishes closed ones
// and keeps them for the control thread to collect.
class Recorder {
 public:
  explicit Recorder(int period_ms = 100);
  ~Recorder();  // stop()
  // Joins the writer, then drains and finishes every recording it still holds (their shards
  // are gone by then: call it after they stopped), for take_finished(). Idempotent.
  void stop();
  void add(std::shared_ptr<Recording> r);
  // Finished recordings since the last call.
  std::vector<std::shared_ptr<Recording>> take_finished();

 private:
  void run();
  int period_ms_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::vector<std::shared_ptr<Recording>> open_, finished_;
  std::thread thread_;
};

}  // namespace confab::media
