// HTTP/1.1 keep-alive sessions on the control thread's io_context (Beast's parser and
// serializer), the connection caps, and the watchdog of the control thread. WebSocket sessions
// are in ws_session.cpp.
#include "net/http_server.hpp"

#include "net/server_impl.hpp"
#include "net/ws_session.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <sstream>

namespace confab::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

namespace {

Request to_request(const http::request<http::string_body>& r, const std::string& remote) {
  Request out;
  out.method = std::string(r.method_string());
  std::string_view target = r.target();
  auto qm = target.find('?');
  out.path = percent_decode(target.substr(0, qm), false);
  if (qm != std::string_view::npos) out.query = std::string(target.substr(qm + 1));
  for (auto& f : r) {
    std::string name(f.name_string());
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out.headers.emplace_back(std::move(name), std::string(f.value()));
  }
  out.body = r.body();
  out.remote = remote;
  return out;
}

// How long `bytes` take at the minimum rate a client must keep up.
Clock::duration at_min_rate(const HttpOptions& o, std::size_t bytes) {
  return std::chrono::microseconds(static_cast<std::int64_t>(bytes) * 1'000'000 /
                                   static_cast<std::int64_t>(o.body_min_rate));
}

constexpr std::size_t kMaxLingering = 256;  // refused connections drained at once
constexpr auto kRefusedLinger = 2s;

// Reads and drops what a refused connection still sends, for a short while, then closes it:
// closing with unread bytes would reset the connection, and the reset can destroy our answer
// before the client reads it.
class Drain : public std::enable_shared_from_this<Drain> {
 public:
  Drain(tcp::socket&& s, std::shared_ptr<HttpServer::Impl> srv)
      : sock_(std::move(s)), srv_(std::move(srv)), deadline_(sock_.get_executor(), [this] {
          boost::system::error_code ec;
          sock_.close(ec);
        }) {
    ++srv_->lingering;
  }
  ~Drain() { --srv_->lingering; }
  void start() {
    deadline_.bind(weak_from_this());
    deadline_.set(Clock::now() + kRefusedLinger);
    read();
  }

 private:
  void read() {
    sock_.async_read_some(asio::buffer(buf_),
                          [self = shared_from_this()](boost::system::error_code ec, std::size_t n) {
                            self->drained_ += n;
                            if (ec || self->drained_ > (1u << 20))
                              return;  // the socket closes with this object
                            self->read();
                          });
  }

  tcp::socket sock_;
  std::shared_ptr<HttpServer::Impl> srv_;
  Deadline deadline_;
  std::array<char, 4096> buf_;
  std::size_t drained_ = 0;
};

class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(tcp::socket&& s, std::shared_ptr<HttpServer::Impl> srv, ConnSlot slot,
              std::string remote)
      : sock_(std::move(s)),
        srv_(std::move(srv)),
        slot_(std::move(slot)),
        remote_(std::move(remote)),
        deadline_(sock_.get_executor(), [this] { on_deadline(); }) {
    boost::system::error_code ec;
    sock_.set_option(tcp::no_delay(true), ec);
  }

  // The first request's header is due within the header timeout of the connection's start.
  void start() {
    deadline_.bind(weak_from_this());
    arm(Phase::header, opts().header_timeout);
    read_header();
  }

 private:
  static constexpr std::size_t kMaxDrain = 256u << 20;
  enum class Phase { idle, header, body, write, linger };

  const HttpOptions& opts() const { return srv_->opts; }

  void arm(Phase p, Clock::duration d) {
    phase_ = p;
    deadline_.set(Clock::now() + d);
  }

  // The pending operation ends with operation_aborted; its handler sees expired_.
  void on_deadline() {
    expired_ = true;
    boost::system::error_code ec;
    sock_.cancel(ec);
  }

  // Between requests: wait for the next one's first byte, for the keep-alive timeout at most;
  // its header is then due within the header timeout of that byte.
  void next_request() {
    if (buf_.size() > 0) {  // pipelined: it is here already
      arm(Phase::header, opts().header_timeout);
      return read_header();
    }
    arm(Phase::idle, opts().keepalive_timeout);
    sock_.async_wait(tcp::socket::wait_read,
                     [self = shared_from_this()](boost::system::error_code ec) {
                       if (self->expired_) return self->timed_out();
                       if (ec) return self->close();
                       self->arm(Phase::header, self->opts().header_timeout);
                       self->read_header();
                     });
  }

  void read_header() {
    parser_.emplace();
    // No limit yet: it depends on the request, and is applied once the header is in (on_header).
    parser_->body_limit(boost::none);
    parser_->header_limit(16 * 1024);
    http::async_read_header(sock_, buf_, *parser_,
                            [self = shared_from_this()](beast::error_code ec, std::size_t) {
                              if (self->expired_) return self->timed_out();
                              self->on_header(ec);
                            });
  }

  void on_header(beast::error_code ec) {
    if (ec) return on_read(ec);
    auto& req = parser_->get();
    std::size_t limit = opts().body_limit;
    if (opts().body_limit_for) {
      std::string_view target = req.target();
      limit = opts().body_limit_for(req.method_string(),
                                    percent_decode(target.substr(0, target.find('?')), false));
    }
    // A declared length over the limit is refused before a byte of the body is read; a chunked
    // body is held to the limit as it arrives.
    if (auto n = parser_->content_length(); n && *n > limit)
      return on_read(http::error::body_limit);
    parser_->body_limit(limit);
    body_start_ = Clock::now();
    received_ = 0;
    arm(Phase::body, opts().body_timeout);
    // A client that waits for permission before sending a large body (curl does) gets it now,
    // instead of sending after its own timeout.
    if (!parser_->is_done() && beast::iequals(req[http::field::expect], "100-continue")) {
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      return asio::async_write(sock_, asio::buffer(kContinue.data(), kContinue.size()),
                               [self = shared_from_this()](beast::error_code ec, std::size_t) {
                                 if (self->expired_) return self->timed_out();
                                 if (ec) return self->close();
                                 self->read_body();
                               });
    }
    read_body();
  }

  // Each piece of the body moves the deadline by what it is worth at the minimum rate: an
  // upload that keeps coming is never cut, one that stalls is, and a trickle cannot hold the
  // connection longer than its bytes pay for.
  void read_body() {
    if (parser_->is_done()) return on_read({});
    http::async_read_some(sock_, buf_, *parser_,
                          [self = shared_from_this()](beast::error_code ec, std::size_t n) {
                            if (self->expired_) return self->timed_out();
                            if (ec) return self->on_read(ec);
                            self->received_ += n;
                            self->deadline_.set(self->body_start_ + self->opts().body_timeout +
                                                at_min_rate(self->opts(), self->received_));
                            self->read_body();
                          });
  }

  void on_read(beast::error_code ec) {
    deadline_.clear();
    if (ec == http::error::end_of_stream || ec == asio::error::connection_reset ||
        ec == asio::error::operation_aborted || ec == asio::error::eof)
      return close();
    if (ec == http::error::body_limit) {
      linger_ = true;  // the client is likely still sending the body we refuse
      linger_for_ = 10s;
      return fail(413, "request body too large");
    }
    if (ec == http::error::header_limit) return fail(431, "request header fields too large");
    if (ec) return fail(400, "malformed HTTP request");

    auto& req = parser_->get();
    keep_alive_ = req.keep_alive();
    version_ = req.version();
    std::string_view target = req.target();
    auto path = target.substr(0, target.find('?'));  // for the watchdog's warning
    if (websocket::is_upgrade(req)) {
      auto r = to_request(req, remote_);
      auto session = std::make_shared<WsSession>(srv_, remote_, r.path);
      std::optional<WsHandlers> handlers;
      srv_->timed("WebSocket upgrade", path, [&] {
        if (srv_->ws) handlers = srv_->ws(r, session);
      });
      if (!handlers) return fail(404, "no WebSocket endpoint at this path");
      session->start(std::move(sock_), parser_->release(), std::move(*handlers), std::move(slot_));
      return;
    }
    srv_->timed(req.method_string(), path, [&] {
      srv_->http(to_request(req, remote_),
                 [self = shared_from_this()](Response res) { self->write(std::move(res)); });
    });
  }

  void fail(int status, std::string_view msg) {
    keep_alive_ = false;
    version_ = 11;
    write(opts().error_response ? opts().error_response(status, msg, request_path())
                                : Response{status, std::string(msg), "text/plain", {}});
  }

  // The path of the request being refused: from its request line, which the parser has read
  // whenever the line was whole (a header over the limit or too slow may never end), or from
  // the buffer when it has not (a request line over the limit: its start is enough); empty when
  // no target arrived.
  std::string request_path() const {
    std::string_view target;
    if (parser_) target = parser_->get().target();
    if (target.empty()) {
      auto d = buf_.cdata();
      std::string_view line(static_cast<const char*>(d.data()), d.size());
      line = line.substr(0, line.find('\r'));
      auto sp = line.find(' ');
      if (sp == std::string_view::npos) return {};
      target = line.substr(sp + 1);  // a target over the limit: its start names the face
      target = target.substr(0, target.find(' '));
    }
    return percent_decode(target.substr(0, target.find('?')), false);
  }

  void write(Response r) {
    if (replied_) return;
    replied_ = true;
    auto res = std::make_shared<http::response<http::string_body>>(
        static_cast<http::status>(r.status), version_);
    res->set(http::field::server, "confab");
    res->set(http::field::content_type, r.content_type);
    for (auto& [k, v] : r.headers) res->set(k, v);
    res->keep_alive(keep_alive_);
    res->body() = std::move(r.body);
    res->prepare_payload();
    // The client must take the answer at the rate it must send a body at.
    arm(Phase::write, opts().body_timeout + at_min_rate(opts(), res->body().size() + 1024));
    http::async_write(sock_, *res,
                      [self = shared_from_this(), res](beast::error_code ec, std::size_t) {
                        if (self->expired_) return self->timed_out();
                        self->deadline_.clear();
                        if (!ec && self->linger_) return self->linger();
                        if (ec || !self->keep_alive_) return self->close();
                        self->replied_ = false;
                        self->next_request();
                      });
  }

  // A header or a body that does not come in time is answered 408, when the client has sent a
  // part of its request; a connection silent since it opened or since its last answer is
  // closed without a word (a client may be sending a request at that very moment, and must not
  // read our 408 as its answer).
  void timed_out() {
    expired_ = false;
    auto& st = srv_->stats;
    switch (phase_) {
      case Phase::idle:
        ++st.timeout_idle;
        return close();
      case Phase::header:
        ++st.timeout_header;
        if (buf_.size() == 0 && !parser_->got_some()) return close();
        return answer_timeout("request header not received in time");
      case Phase::body:
        ++st.timeout_body;
        return answer_timeout("request body not received in time");
      case Phase::write:
        ++st.timeout_write;
        return close();
      case Phase::linger:
        return close();
    }
  }

  void answer_timeout(std::string_view msg) {
    linger_ = true;
    linger_for_ = kRefusedLinger;
    fail(408, msg);
  }

  void close() {
    deadline_.clear();
    if (!sock_.is_open()) return;
    boost::system::error_code ec;
    sock_.shutdown(tcp::socket::shutdown_both, ec);
    sock_.close(ec);
  }

  // After refusing a request the client is still sending: closing at once would reset the
  // connection, and the reset can destroy our answer before the client reads it. So stop
  // sending, then read and drop what comes for a while (a lingering close, as web servers do).
  void linger() {
    if (!draining_) {
      draining_ = true;
      boost::system::error_code ec;
      sock_.shutdown(tcp::socket::shutdown_send, ec);
      drain_buf_.resize(16 * 1024);
      arm(Phase::linger, linger_for_);
    }
    sock_.async_read_some(asio::buffer(drain_buf_),
                          [self = shared_from_this()](beast::error_code ec, std::size_t n) {
                            if (self->expired_) return self->timed_out();
                            self->drained_ += n;
                            if (ec || self->drained_ > kMaxDrain) return self->close();
                            self->linger();
                          });
  }

  tcp::socket sock_;
  std::shared_ptr<HttpServer::Impl> srv_;
  ConnSlot slot_;
  std::string remote_;
  Deadline deadline_;
  Phase phase_ = Phase::header;
  bool expired_ = false;
  Clock::time_point body_start_{};
  std::size_t received_ = 0;
  beast::flat_buffer buf_;
  std::optional<http::request_parser<http::string_body>> parser_;
  bool keep_alive_ = false;
  bool replied_ = false;
  bool linger_ = false;
  bool draining_ = false;
  Clock::duration linger_for_ = 10s;
  std::vector<char> drain_buf_;
  std::size_t drained_ = 0;
  unsigned version_ = 11;
};

bool out_of_resources(const boost::system::error_code& ec) {
  return ec == asio::error::no_descriptors || ec == asio::error::no_buffer_space ||
         ec == asio::error::no_memory ||
         (ec.category() == boost::system::system_category() && ec.value() == ENFILE);
}

}  // namespace

HttpServer::Impl::Impl(asio::io_context& io, HttpOptions o, HttpHandler h, WsAccept w)
    : io(io),
      opts(std::move(o)),
      http(std::move(h)),
      ws(std::move(w)),
      acceptor(io),
      accept_retry(io),
      lag_timer(io) {}

void HttpServer::Impl::accept() {
  acceptor.async_accept([self = shared_from_this()](beast::error_code ec, tcp::socket s) {
    if (self->stopped) return;
    if (ec) {
      ++self->stats.accept_errors;
      // Out of descriptors, the pending connection stays queued and accept() fails again at
      // once: retrying at once would spin the control thread.
      if (out_of_resources(ec)) {
        auto now = Clock::now();
        if (now - self->last_accept_log >= 1s) {
          self->last_accept_log = now;
          spdlog::warn("http: cannot accept connections: {} ({} open)", ec.message(),
                       self->stats.connections_open);
        }
        self->accept_retry.expires_after(50ms);
        self->accept_retry.async_wait([self](boost::system::error_code ec) {
          if (!ec && !self->stopped) self->accept();
        });
        return;
      }
      return self->accept();
    }
    self->start_session(std::move(s));
    self->accept();
  });
}

void HttpServer::Impl::start_session(tcp::socket s) {
  boost::system::error_code ec;
  auto ep = s.remote_endpoint(ec);
  if (ec) return;  // gone already
  auto source = ep.address().to_string();
  if (stats.connections_open >= opts.max_connections) return refuse(std::move(s), true);
  auto it = per_source.find(source);
  if (it != per_source.end() && it->second >= opts.max_connections_per_source)
    return refuse(std::move(s), false);
  if (it == per_source.end()) it = per_source.emplace(source, 0).first;
  ++it->second;
  ++stats.connections_open;
  ++stats.connections_accepted;
  auto remote = source + ":" + std::to_string(ep.port());
  std::make_shared<HttpSession>(std::move(s), shared_from_this(),
                                ConnSlot(shared_from_this(), std::move(source)), std::move(remote))
      ->start();
}

void HttpServer::Impl::release(const std::string& source) {
  --stats.connections_open;
  if (auto it = per_source.find(source); it != per_source.end() && --it->second == 0)
    per_source.erase(it);
}

// A connection over a cap is answered at once, without reading its request: one small write the
// socket always takes, then a short drain (none once too many are draining: then only the
// answer, and a client may miss it).
void HttpServer::Impl::refuse(tcp::socket s, bool total) {
  ++(total ? stats.refused_total : stats.refused_per_source);
  std::string msg = total ? "the server is at its connection limit (" +
                                std::to_string(opts.max_connections) + "); retry later"
                          : "too many connections from this address (limit " +
                                std::to_string(opts.max_connections_per_source) + "); retry later";
  Response r = opts.error_response ? opts.error_response(503, msg, {})
                                   : Response{503, std::move(msg), "text/plain", {}};
  http::response<http::string_body> res{http::status::service_unavailable, 11};
  res.set(http::field::server, "confab");
  res.set(http::field::content_type, r.content_type);
  for (auto& [k, v] : r.headers) res.set(k, v);
  res.set(http::field::retry_after, std::to_string(opts.retry_after.count()));
  res.keep_alive(false);
  res.body() = std::move(r.body);
  res.prepare_payload();
  std::ostringstream out;
  out << res;
  auto bytes = out.str();
  [[maybe_unused]] auto sent =
      ::send(s.native_handle(), bytes.data(), bytes.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  boost::system::error_code ec;
  s.shutdown(tcp::socket::shutdown_send, ec);
  if (lingering >= kMaxLingering) return;
  std::make_shared<Drain>(std::move(s), shared_from_this())->start();
}

void HttpServer::Impl::note_handler(std::string_view what, std::string_view path,
                                    Clock::duration d) {
  ++stats.handler_calls;
  double ms = std::chrono::duration<double, std::milli>(d).count();
  if (ms > stats.max_handler_ms) stats.max_handler_ms = ms;
  if (d <= opts.slow_handler) return;
  ++stats.slow_handlers;
  auto now = Clock::now();
  if (now - last_slow_log < 1s) return;
  last_slow_log = now;
  spdlog::warn("control thread: {} {} held it {:.1f} ms (over {} ms; {} such calls so far)", what,
               path.substr(0, 200), ms, opts.slow_handler.count(), stats.slow_handlers);
}

// Every handler the loop runs (timers, store completions, SIP, media events) shows here: a timer
// due every 100 ms records how late it fires.
void HttpServer::Impl::start_lag_timer() {
  lag_timer.expires_after(100ms);
  lag_timer.async_wait([w = weak_from_this()](boost::system::error_code ec) {
    auto self = w.lock();
    if (!self || ec || self->stopped) return;
    double lag =
        std::chrono::duration<double, std::milli>(Clock::now() - self->lag_timer.expiry()).count();
    if (lag > self->stats.loop_lag_max_ms) self->stats.loop_lag_max_ms = lag;
    self->start_lag_timer();
  });
}

HttpServer::HttpServer(asio::io_context& io, HttpOptions opts, HttpHandler http, WsAccept ws)
    : impl_(std::make_shared<Impl>(io, std::move(opts), std::move(http), std::move(ws))) {
  auto addr = asio::ip::make_address(impl_->opts.address);
  tcp::endpoint ep(addr, impl_->opts.port);
  impl_->acceptor.open(ep.protocol());
  impl_->acceptor.set_option(asio::socket_base::reuse_address(true));
  impl_->acceptor.bind(ep);
  impl_->acceptor.listen(asio::socket_base::max_listen_connections);
  impl_->accept();
  impl_->start_lag_timer();
}

HttpServer::~HttpServer() {
  stop();
}

std::uint16_t HttpServer::port() const {
  return impl_->acceptor.local_endpoint().port();
}

const HttpStats& HttpServer::stats() const {
  return impl_->stats;
}

void HttpServer::stop() {
  if (impl_->stopped) return;
  impl_->stopped = true;
  beast::error_code ec;
  impl_->acceptor.close(ec);
  impl_->accept_retry.cancel();
  impl_->lag_timer.cancel();
}

}  // namespace confab::net
