// The only translation unit that instantiates Beast: HTTP/1.1 keep-alive sessions and WebSocket
// sessions on the control thread's io_context.
#include "net/http_server.hpp"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

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

class WsSession final : public WsConnection, public std::enable_shared_from_this<WsSession> {
 public:
  WsSession(std::size_t queue_limit, std::string remote)
      : queue_limit_(queue_limit), remote_(std::move(remote)) {}

  // The socket is handed over only once the face has accepted the upgrade.
  void start(tcp::socket&& s, http::request<http::string_body> req, WsHandlers h) {
    ws_.emplace(std::move(s));
    handlers_ = std::move(h);
    ws_->set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
    ws_->set_option(websocket::stream_base::decorator(
        [](websocket::response_type& res) { res.set(http::field::server, "confab"); }));
    ws_->read_message_max(64 * 1024);
    ws_->text(true);
    ws_->async_accept(req, [self = shared_from_this()](beast::error_code ec) {
      if (ec) return self->closed();
      self->accepted_ = true;
      // Frames a face sent while the handshake was under way go out now, then a close it asked
      // for meanwhile.
      if (self->closing_ && self->queue_.empty()) {
        self->closing_ = false;
        return self->close();
      }
      self->read();
      self->write();
    });
  }

  void send(std::shared_ptr<const std::string> text) override {
    if (done_) return;
    if (queue_.size() >= queue_limit_) {
      ++dropped_;
      return close();
    }
    queue_.push_back(std::move(text));
    if (!writing_ && accepted_) write();
  }

  void close() override {
    if (done_ || closing_) return;
    closing_ = true;
    // Before the handshake ends, or while a write is under way: done once that finishes.
    if (writing_ || !accepted_) return;
    ws_->async_close(websocket::close_code::normal,
                     [self = shared_from_this()](beast::error_code) { self->closed(); });
  }

  const std::string& remote() const override { return remote_; }

 private:
  void read() {
    ws_->async_read(buf_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) return self->closed();
      auto data = self->buf_.cdata();
      std::string_view text(static_cast<const char*>(data.data()), data.size());
      if (self->handlers_.on_message && !self->done_) self->handlers_.on_message(text);
      self->buf_.consume(self->buf_.size());
      self->read();
    });
  }

  void write() {
    if (queue_.empty() || done_) return;
    writing_ = true;
    auto& front = *queue_.front();
    ws_->async_write(asio::buffer(front),
                     [self = shared_from_this()](beast::error_code ec, std::size_t) {
                       self->writing_ = false;
                       if (ec) return self->closed();
                       self->queue_.pop_front();
                       if (self->closing_) {
                         self->closing_ = false;
                         return self->close();
                       }
                       self->write();
                     });
  }

  void closed() {
    if (done_) return;
    done_ = true;
    queue_.clear();
    beast::error_code ec;
    if (ws_) ws_->next_layer().close(ec);
    if (handlers_.on_close) handlers_.on_close();
    handlers_ = {};  // break cycles: handlers may hold this session
  }

  std::optional<websocket::stream<tcp::socket>> ws_;
  beast::flat_buffer buf_;
  std::deque<std::shared_ptr<const std::string>> queue_;
  std::size_t queue_limit_;
  std::string remote_;
  WsHandlers handlers_;
  bool writing_ = false;
  bool closing_ = false;
  bool accepted_ = false;
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
    parser_->body_limit(srv_->opts.body_limit);
    parser_->header_limit(16 * 1024);
    stream_.expires_after(srv_->opts.idle_timeout);
    http::async_read(
        stream_, buf_, *parser_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

 private:
  void on_read(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
        ec == asio::error::connection_reset || ec == asio::error::operation_aborted)
      return shutdown();
    if (ec == http::error::body_limit) return fail(413, "request body too large");
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
                        if (ec || !self->keep_alive_) return self->shutdown();
                        self->replied_ = false;
                        self->read();
                      });
  }

  void shutdown() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buf_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::shared_ptr<HttpServer::Impl> srv_;
  std::string remote_;
  bool keep_alive_ = false;
  bool replied_ = false;
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
