#pragma once
// Internal to src/net: the state the HTTP and WebSocket sessions share with their server (options,
// counters, the connection caps, the control-thread watchdog).
#include "net/http_server.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

namespace confab::net {

using Clock = std::chrono::steady_clock;

struct HttpServer::Impl : std::enable_shared_from_this<HttpServer::Impl> {
  Impl(boost::asio::io_context& io, HttpOptions o, HttpHandler h, WsAccept w);

  boost::asio::io_context& io;
  HttpOptions opts;
  HttpHandler http;
  WsAccept ws;
  boost::asio::ip::tcp::acceptor acceptor;
  boost::asio::steady_timer accept_retry;
  boost::asio::steady_timer lag_timer;
  bool stopped = false;
  HttpStats stats;
  std::unordered_map<std::string, std::size_t> per_source;  // open connections per address
  std::size_t lingering = 0;  // refused connections still being drained
  Clock::time_point last_slow_log{};
  Clock::time_point last_accept_log{};

  void accept();
  void start_session(boost::asio::ip::tcp::socket s);
  void refuse(boost::asio::ip::tcp::socket s, bool total);
  void release(const std::string& source);
  void start_lag_timer();

  // Runs f, a handler on the control thread, and records how long it held the thread; `what`
  // and `path` name it in the warning when it was slow.
  template <typename F>
  void timed(std::string_view what, std::string_view path, F&& f) {
    auto t0 = Clock::now();
    f();
    note_handler(what, path, Clock::now() - t0);
  }
  void note_handler(std::string_view what, std::string_view path, Clock::duration d);
};

// One open connection as counted against the caps; released when the last owner drops it. It
// moves from the HTTP session to the WebSocket session on an upgrade.
class ConnSlot {
 public:
  ConnSlot() = default;
  ConnSlot(std::shared_ptr<HttpServer::Impl> srv, std::string source)
      : srv_(std::move(srv)), source_(std::move(source)) {}
  ConnSlot(ConnSlot&& o) noexcept = default;
  ConnSlot& operator=(ConnSlot&& o) noexcept {
    if (this != &o) {
      reset();
      srv_ = std::move(o.srv_);
      source_ = std::move(o.source_);
    }
    return *this;
  }
  ConnSlot(const ConnSlot&) = delete;
  ConnSlot& operator=(const ConnSlot&) = delete;
  ~ConnSlot() { reset(); }
  void reset() {
    if (auto s = std::move(srv_)) s->release(source_);
  }

 private:
  std::shared_ptr<HttpServer::Impl> srv_;
  std::string source_;
};

// One timer for a session's deadline, which may move at every read: moving it later costs
// nothing (the timer fires at the old time and waits again); only moving it earlier re-arms.
// The owner is held weakly, so a pending wait never keeps a session alive.
class Deadline {
 public:
  Deadline(const boost::asio::any_io_executor& ex, std::function<void()> on_expire)
      : timer_(ex), on_expire_(std::move(on_expire)) {}
  void bind(std::weak_ptr<void> owner) { owner_ = std::move(owner); }
  void set(Clock::time_point t) {
    at_ = t;
    active_ = true;
    if (pending_ && fires_ <= t) return;
    fires_ = t;
    pending_ = true;
    timer_.expires_at(t);  // a wait already pending completes with operation_aborted
    timer_.async_wait([this, w = owner_, gen = ++gen_](boost::system::error_code ec) {
      auto keep = w.lock();
      if (!keep || ec || gen != gen_) return;
      pending_ = false;
      if (!active_) return;
      if (Clock::now() < at_) return set(at_);
      active_ = false;
      on_expire_();
    });
  }
  void clear() { active_ = false; }  // a pending wait stays, and does nothing when it fires
  Clock::time_point at() const { return at_; }
  bool active() const { return active_; }

 private:
  boost::asio::steady_timer timer_;
  std::function<void()> on_expire_;
  std::weak_ptr<void> owner_;
  Clock::time_point at_{};
  Clock::time_point fires_{};
  std::uint64_t gen_ = 0;
  bool pending_ = false;
  bool active_ = false;
};

}  // namespace confab::net
