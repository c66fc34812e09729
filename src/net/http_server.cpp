// The only translation unit that instantiates Beast: HTTP/1.1 keep-alive sessions and WebSocket
// sessions on the control thread's io_context.
#include "net/http_server.hpp"

#include "net/ws_frame.hpp"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include <sys/socket.h>
#include <sys/uio.h>

#include <cstring>
#include <deque>

namespace confab::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

std::string_view Request::header(std::string_view name) const {
  for (auto& [k, v] : headers)
    if (k == name) return v;
  return {};
}

std::string percent_decode(std::string_view s, bool plus_as_space) {
  std::string out;
  out.reserve(s.size());
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      int hi = hex(s[i + 1]);
      int lo = hex(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(plus_as_space && s[i] == '+' ? ' ' : s[i]);
  }
  return out;
}

std::string Request::query_param(std::string_view name) const {
  std::string_view q = query;
  while (!q.empty()) {
    auto amp = q.find('&');
    auto part = q.substr(0, amp);
    auto eq = part.find('=');
    if (part.substr(0, eq) == name)
      return eq == std::string_view::npos ? std::string()
                                          : percent_decode(part.substr(eq + 1), true);
    if (amp == std::string_view::npos) break;
    q.remove_prefix(amp + 1);
  }
  return {};
}

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

// A WebSocket connection. Beast performs the upgrade handshake; after it, this class owns the
// TCP socket: it parses the client's frames itself (net/ws_frame) and writes frames straight to
// the socket with one non-blocking writev when it can take them, waiting for writability only when
// it cannot. Fan-out to many sockets then costs one system call each, not an asynchronous
// operation each; and data, pongs and the close frame share one queue, so they never interleave.
class WsSession final : public WsConnection, public std::enable_shared_from_this<WsSession> {
 public:
  WsSession(std::size_t queue_limit, std::string remote)
      : queue_limit_(queue_limit), remote_(std::move(remote)), assembler_(kMaxMessage) {}

  void start(tcp::socket&& s, http::request<http::string_body> req, WsHandlers h) {
    handlers_ = std::move(h);
    ws_.emplace(std::move(s));
    ws_->set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
    ws_->set_option(websocket::stream_base::decorator(
        [](websocket::response_type& res) { res.set(http::field::server, "confab"); }));
    ws_->async_accept(req, [self = shared_from_this()](beast::error_code ec) {
      if (ec) return self->closed();
      self->accepted_ = true;
      boost::system::error_code ignored;
      self->socket().set_option(tcp::no_delay(true), ignored);
      self->rbuf_.resize(kMaxMessage + 16);
      self->read();
      self->flush();  // what a face sent during the handshake, and a close it asked for
    });
  }

  void send(std::shared_ptr<const std::string> text) override {
    if (done_ || closing_) return;
    if (queue_.size() >= queue_limit_) {  // a consumer this slow is dropped, not waited for
      ++dropped_;
      return abort();
    }
    enqueue(ws::Opcode::text, std::move(text));
    // Written at the end of this pass of the event loop, not at once: when events come faster
    // than sockets drain, several leave in one segment instead of one each.
    if (accepted_ && !waiting_ && !flush_posted_) {
      flush_posted_ = true;
      asio::post(socket().get_executor(), [self = shared_from_this()] {
        self->flush_posted_ = false;
        if (!self->waiting_) self->flush();
      });
    }
  }

  void close() override {
    if (done_ || closing_) return;
    closing_ = true;
    std::string body("\x03\xe8", 2);  // 1000: normal closure
    enqueue(ws::Opcode::close, std::make_shared<const std::string>(std::move(body)), true);
    if (accepted_ && !waiting_) flush();
  }

  const std::string& remote() const override { return remote_; }

 private:
  static constexpr std::size_t kMaxMessage = 64 * 1024;
  static constexpr std::size_t kMaxIov = 32;

  struct Out {
    std::uint8_t header[10];
    std::size_t header_len = 0;
    std::shared_ptr<const std::string> payload;
    std::size_t sent = 0;  // of header + payload
    bool close_after = false;
    std::size_t size() const { return header_len + payload->size(); }
  };

  tcp::socket& socket() { return ws_->next_layer(); }

  void enqueue(ws::Opcode op, std::shared_ptr<const std::string> payload,
               bool close_after = false) {
    Out o;
    o.header_len = ws::write_header(o.header, op, payload->size());
    o.payload = std::move(payload);
    o.close_after = close_after;
    queue_.push_back(std::move(o));
  }

  // Writes as much of the queue as the socket takes now; waits for writability for the rest.
  void flush() {
    while (!done_ && !queue_.empty()) {
      iovec iov[kMaxIov];
      std::size_t n = 0;
      for (std::size_t i = 0; i < queue_.size() && n + 2 <= kMaxIov; ++i) {
        auto& o = queue_[i];
        std::size_t skip = o.sent;
        if (skip < o.header_len) {
          iov[n++] = {o.header + skip, o.header_len - skip};
          skip = 0;
        } else {
          skip -= o.header_len;
        }
        if (o.payload->size() > skip)
          iov[n++] = {const_cast<char*>(o.payload->data()) + skip, o.payload->size() - skip};
        if (o.close_after) break;  // nothing goes after a close frame
      }
      msghdr m{};
      m.msg_iov = iov;
      m.msg_iovlen = n;
      ssize_t w = ::sendmsg(socket().native_handle(), &m, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (w < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return wait_writable();
        return closed();
      }
      auto left = static_cast<std::size_t>(w);
      while (left > 0 && !queue_.empty()) {
        auto& o = queue_.front();
        std::size_t rest = o.size() - o.sent;
        if (left < rest) {
          o.sent += left;
          left = 0;
          break;
        }
        left -= rest;
        bool last = o.close_after;
        queue_.pop_front();
        if (last) return shutdown_after_close();
      }
    }
  }

  void wait_writable() {
    waiting_ = true;
    socket().async_wait(tcp::socket::wait_write,
                        [self = shared_from_this()](boost::system::error_code ec) {
                          self->waiting_ = false;
                          if (ec) return self->closed();
                          self->flush();
                        });
  }

  void shutdown_after_close() {
    boost::system::error_code ec;
    socket().shutdown(tcp::socket::shutdown_send, ec);
    if (close_received_) closed();  // otherwise the client's close (or EOF) ends it
  }

  void read() {
    socket().async_read_some(
        asio::buffer(rbuf_.data() + rlen_, rbuf_.size() - rlen_),
        [self = shared_from_this()](boost::system::error_code ec, std::size_t n) {
          if (ec) return self->closed();
          self->rlen_ += n;
          if (!self->consume()) return;
          self->read();
        });
  }

  // Handles every whole frame in the read buffer; false when the connection is ending.
  bool consume() {
    std::size_t off = 0;
    while (!done_) {
      ws::Frame f;
      auto r = ws::parse_frame(std::span(rbuf_.data() + off, rlen_ - off), kMaxMessage, f);
      if (r == ws::Parse::need_more) break;
      if (r != ws::Parse::frame) {
        fail(r == ws::Parse::too_big ? 1009 : 1002);
        return false;
      }
      off += f.size;
      switch (f.opcode) {
        case ws::Opcode::ping:
          enqueue(ws::Opcode::pong,
                  std::make_shared<const std::string>(
                      reinterpret_cast<const char*>(f.payload.data()), f.payload.size()));
          if (!waiting_) flush();
          break;
        case ws::Opcode::pong:
          break;
        case ws::Opcode::close:
          close_received_ = true;
          if (!closing_)
            close();  // answer it; the socket ends once our close is out
          else if (queue_.empty())
            closed();
          return false;
        default:
          if (assembler_.add(f)) {
            if (handlers_.on_message && !closing_) handlers_.on_message(assembler_.message());
            assembler_.clear();
          } else if (assembler_.error()) {
            fail(std::string_view(assembler_.error()) == "message too big" ? 1009 : 1002);
            return false;
          }
      }
    }
    if (off > 0) {
      std::memmove(rbuf_.data(), rbuf_.data() + off, rlen_ - off);
      rlen_ -= off;
    }
    if (rlen_ == rbuf_.size()) {  // a frame bigger than we accept
      fail(1009);
      return false;
    }
    return !done_;
  }

  void fail(std::uint16_t code) {
    if (closing_) return closed();
    closing_ = true;
    std::string body;
    body.push_back(static_cast<char>(code >> 8));
    body.push_back(static_cast<char>(code & 0xff));
    enqueue(ws::Opcode::close, std::make_shared<const std::string>(std::move(body)), true);
    close_received_ = true;  // do not wait for the client's answer
    if (!waiting_) flush();
  }

  void abort() { closed(); }

  void closed() {
    if (done_) return;
    done_ = true;
    queue_.clear();
    if (ws_) {
      boost::system::error_code ec;
      socket().close(ec);
    }
    if (handlers_.on_close) handlers_.on_close();
    handlers_ = {};  // break cycles: handlers may hold this session
  }

  std::optional<websocket::stream<tcp::socket>> ws_;  // the handshake; then only its socket
  std::vector<std::uint8_t> rbuf_;
  std::size_t rlen_ = 0;
  std::deque<Out> queue_;
  std::size_t queue_limit_;
  std::string remote_;
  ws::Assembler assembler_;
  WsHandlers handlers_;
  bool accepted_ = false;
  bool waiting_ = false;
  bool flush_posted_ = false;
  bool closing_ = false;
  bool close_received_ = false;
  bool done_ = false;
  std::size_t dropped_ = 0;
};

}  // namespace

struct HttpServer::Impl : std::enable_shared_from_this<HttpServer::Impl> {
  Impl(asio::io_context& io, HttpOptions o, HttpHandler h, WsAccept w)
      : io(io), opts(std::move(o)), http(std::move(h)), ws(std::move(w)), acceptor(io) {}

  asio::io_context& io;
  HttpOptions opts;
  HttpHandler http;
  WsAccept ws;
  tcp::acceptor acceptor;
  bool stopped = false;

  void accept() {
    acceptor.async_accept([self = shared_from_this()](beast::error_code ec, tcp::socket s) {
      if (self->stopped) return;
      if (!ec) self->start_session(std::move(s));
      self->accept();
    });
  }
  void start_session(tcp::socket s);
};

namespace {

class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(tcp::socket&& s, std::shared_ptr<HttpServer::Impl> srv)
      : stream_(std::move(s)), srv_(std::move(srv)) {
    beast::error_code ec;
    auto ep = stream_.socket().remote_endpoint(ec);
    if (!ec) remote_ = ep.address().to_string() + ":" + std::to_string(ep.port());
    stream_.socket().set_option(tcp::no_delay(true), ec);
  }

  void read() {
    parser_.emplace();
    // No limit yet: it depends on the request, and is applied once the header is in (on_header).
    parser_->body_limit(boost::none);
    parser_->header_limit(16 * 1024);
    stream_.expires_after(srv_->opts.idle_timeout);
    http::async_read_header(
        stream_, buf_, *parser_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_header(ec); });
  }

 private:
  static constexpr std::size_t kMaxDrain = 256u << 20;

  void on_header(beast::error_code ec) {
    if (ec) return on_read(ec);
    auto& req = parser_->get();
    std::size_t limit = srv_->opts.body_limit;
    if (srv_->opts.body_limit_for) {
      std::string_view target = req.target();
      limit = srv_->opts.body_limit_for(req.method_string(),
                                        percent_decode(target.substr(0, target.find('?')), false));
    }
    // A declared length over the limit is refused before a byte of the body is read; a chunked
    // body is held to the limit as it arrives.
    if (auto n = parser_->content_length(); n && *n > limit)
      return on_read(http::error::body_limit);
    parser_->body_limit(limit);
    // A client that waits for permission before sending a large body (curl does) gets it now,
    // instead of sending after its own timeout.
    if (!parser_->is_done() && beast::iequals(req[http::field::expect], "100-continue")) {
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      return asio::async_write(stream_, asio::buffer(kContinue.data(), kContinue.size()),
                               [self = shared_from_this()](beast::error_code ec, std::size_t) {
                                 if (ec) return self->shutdown();
                                 self->read_body();
                               });
    }
    read_body();
  }

  // The idle timeout restarts with every piece of the body: a large upload on a slow link is
  // not cut off as long as it keeps coming.
  void read_body() {
    if (parser_->is_done()) return on_read({});
    stream_.expires_after(srv_->opts.idle_timeout);
    http::async_read_some(stream_, buf_, *parser_,
                          [self = shared_from_this()](beast::error_code ec, std::size_t) {
                            if (ec) return self->on_read(ec);
                            self->read_body();
                          });
  }

  void on_read(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
        ec == asio::error::connection_reset || ec == asio::error::operation_aborted)
      return shutdown();
    if (ec == http::error::body_limit) {
      linger_ = true;  // the client is likely still sending the body we refuse
      return fail(413, "request body too large");
    }
    if (ec == http::error::header_limit) return fail(431, "request header fields too large");
    if (ec) return fail(400, "malformed HTTP request");

    auto& req = parser_->get();
    keep_alive_ = req.keep_alive();
    version_ = req.version();
    if (websocket::is_upgrade(req)) {
      auto r = to_request(req, remote_);
      auto session = std::make_shared<WsSession>(srv_->opts.ws_queue_limit, remote_);
      auto handlers = srv_->ws ? srv_->ws(r, session) : std::nullopt;
      if (!handlers) return fail(404, "no WebSocket endpoint at this path");
      stream_.expires_never();
      session->start(stream_.release_socket(), parser_->release(), std::move(*handlers));
      return;
    }
    keep_alive_ = req.keep_alive();
    version_ = req.version();
    auto r = to_request(req, remote_);
    srv_->http(std::move(r),
               [self = shared_from_this()](Response res) { self->write(std::move(res)); });
  }

  void fail(int status, std::string_view msg) {
    keep_alive_ = false;
    version_ = 11;
    write(srv_->opts.error_response ? srv_->opts.error_response(status, msg)
                                    : Response{status, std::string(msg), "text/plain", {}});
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
    http::async_write(stream_, *res,
                      [self = shared_from_this(), res](beast::error_code ec, std::size_t) {
                        if (!ec && self->linger_) return self->linger();
                        if (ec || !self->keep_alive_) return self->shutdown();
                        self->replied_ = false;
                        self->read();
                      });
  }

  void shutdown() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  }

  // After refusing a body the client is still sending: closing at once would reset the
  // connection, and the reset can destroy our answer before the client reads it. So stop
  // sending, then read and drop what comes for a while (a lingering close, as web servers do).
  void linger() {
    if (!draining_) {
      draining_ = true;
      shutdown();
      drain_buf_.resize(64 * 1024);
      stream_.expires_after(std::chrono::seconds(10));
    }
    stream_.async_read_some(asio::buffer(drain_buf_),
                            [self = shared_from_this()](beast::error_code ec, std::size_t n) {
                              self->drained_ += n;
                              if (ec || self->drained_ > kMaxDrain) return;
                              self->linger();
                            });
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buf_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::shared_ptr<HttpServer::Impl> srv_;
  std::string remote_;
  bool keep_alive_ = false;
  bool replied_ = false;
  bool linger_ = false;
  bool draining_ = false;
  std::vector<char> drain_buf_;
  std::size_t drained_ = 0;
  unsigned version_ = 11;
};

}  // namespace

void HttpServer::Impl::start_session(tcp::socket s) {
  std::make_shared<HttpSession>(std::move(s), shared_from_this())->read();
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
}

HttpServer::~HttpServer() {
  stop();
}

std::uint16_t HttpServer::port() const {
  return impl_->acceptor.local_endpoint().port();
}

void HttpServer::stop() {
  if (impl_->stopped) return;
  impl_->stopped = true;
  beast::error_code ec;
  impl_->acceptor.close(ec);
}

}  // namespace confab::net
