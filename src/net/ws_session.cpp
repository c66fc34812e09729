#include "net/ws_session.hpp"

#include <boost/asio/post.hpp>

#include <sys/socket.h>
#include <sys/uio.h>

#include <cerrno>
#include <cstring>

namespace confab::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

namespace {
std::shared_ptr<const std::string> close_payload(std::uint16_t code) {
  std::string body;
  body.push_back(static_cast<char>(code >> 8));
  body.push_back(static_cast<char>(code & 0xff));
  return std::make_shared<const std::string>(std::move(body));
}
}  // namespace

WsSession::WsSession(std::shared_ptr<HttpServer::Impl> srv, std::string remote, std::string path)
    : srv_(std::move(srv)),
      remote_(std::move(remote)),
      path_(std::move(path)),
      assembler_(kMaxMessage) {}

WsSession::~WsSession() = default;

void WsSession::start(tcp::socket&& s, http::request<http::string_body> req, WsHandlers h,
                      ConnSlot slot) {
  handlers_ = std::move(h);
  slot_ = std::move(slot);
  ws_.emplace(std::move(s));
  timer_.emplace(socket().get_executor(), [this] { on_tick(); });
  timer_->bind(weak_from_this());
  // Beast's handshake timeout bounds a client that does not take the 101 answer.
  ws_->set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
  ws_->set_option(websocket::stream_base::decorator(
      [](websocket::response_type& res) { res.set(http::field::server, "confab"); }));
  ws_->async_accept(req, [self = shared_from_this()](beast::error_code ec) {
    if (ec) return self->closed();
    self->accepted_ = true;
    ++self->srv_->stats.websockets_open;
    boost::system::error_code ignored;
    self->socket().set_option(tcp::no_delay(true), ignored);
    self->rbuf_.resize(kMaxMessage + 16);
    self->last_rx_ = Clock::now();
    self->timer_->set(self->closing_ ? self->last_rx_ + kCloseGrace
                                     : self->last_rx_ + self->srv_->opts.ws_ping_interval);
    self->read();
    self->flush();  // what a face sent during the handshake, and a close it asked for
  });
}

void WsSession::send(std::shared_ptr<const std::string> text) {
  if (done_ || closing_) return;
  auto& o = srv_->opts;
  auto over = [&] {
    return !queue_.empty() && (queue_.size() >= o.ws_queue_limit ||
                               queued_bytes_ + text->size() + 10 > o.ws_queue_bytes);
  };
  if (over()) {
    if (accepted_ && !waiting_) flush();  // what the socket takes now is not a backlog
    if (done_) return;
    if (over()) {  // a consumer this slow is cut, not waited for
      ++srv_->stats.ws_closed_slow;
      return cut(1008);
    }
  }
  enqueue(ws::Opcode::text, std::move(text));
  post_flush();
}

// Written at the end of this pass of the event loop, not at once: when events come faster than
// sockets drain, several leave in one segment instead of one each.
void WsSession::post_flush() {
  if (!accepted_ || waiting_ || flush_posted_) return;
  flush_posted_ = true;
  asio::post(socket().get_executor(), [self = shared_from_this()] {
    self->flush_posted_ = false;
    if (!self->waiting_) self->flush();
  });
}

void WsSession::close() {
  if (done_ || closing_) return;
  closing_ = true;
  std::string body("\x03\xe8", 2);  // 1000: normal closure
  enqueue(ws::Opcode::close, std::make_shared<const std::string>(std::move(body)), true);
  if (timer_) timer_->set(Clock::now() + kCloseGrace);
  if (accepted_ && !waiting_) flush();
}

void WsSession::enqueue(ws::Opcode op, std::shared_ptr<const std::string> payload,
                        bool close_after) {
  Out o;
  o.header_len = ws::write_header(o.header, op, payload->size());
  o.payload = std::move(payload);
  o.close_after = close_after;
  queued_bytes_ += o.size();
  queue_.push_back(std::move(o));
}

// Writes as much of the queue as the socket takes now; waits for writability for the rest.
void WsSession::flush() {
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
        break;
      }
      left -= rest;
      bool last = o.close_after;
      queued_bytes_ -= o.size();
      queue_.pop_front();
      if (last) return shutdown_after_close();
    }
  }
}

void WsSession::wait_writable() {
  waiting_ = true;
  socket().async_wait(tcp::socket::wait_write,
                      [self = shared_from_this()](boost::system::error_code ec) {
                        self->waiting_ = false;
                        if (ec) return self->closed();
                        self->flush();
                      });
}

void WsSession::shutdown_after_close() {
  boost::system::error_code ec;
  socket().shutdown(tcp::socket::shutdown_send, ec);
  if (close_received_) closed();  // otherwise the client's close (or EOF, or the grace) ends it
}

void WsSession::read() {
  socket().async_read_some(
      asio::buffer(rbuf_.data() + rlen_, rbuf_.size() - rlen_),
      [self = shared_from_this()](boost::system::error_code ec, std::size_t n) {
        if (ec) return self->closed();
        self->last_rx_ = Clock::now();  // any frame, a pong or a part of one, is an answer
        self->ping_outstanding_ = false;
        self->rlen_ += n;
        if (!self->consume()) return;
        self->read();
      });
}

// Handles every whole frame in the read buffer; false when the connection is ending.
bool WsSession::consume() {
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
                std::make_shared<const std::string>(reinterpret_cast<const char*>(f.payload.data()),
                                                    f.payload.size()));
        if (!waiting_) flush();
        break;
      case ws::Opcode::pong:
        break;
      case ws::Opcode::close:
        if (auto code = ws::close_frame_error(f.payload)) {
          fail(code);
          return false;
        }
        close_received_ = true;
        if (!closing_)
          close();  // answer it; the socket ends once our close is out
        else if (queue_.empty())
          closed();
        return false;
      default:
        if (assembler_.add(f)) {
          if (assembler_.message_opcode() == ws::Opcode::text &&
              !ws::valid_utf8(assembler_.message())) {
            fail(1007);  // not text: no face ever sees it
            return false;
          }
          if (handlers_.on_message && !closing_)
            srv_->timed("WebSocket message", path_,
                        [&] { handlers_.on_message(assembler_.message()); });
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

// A protocol error of the client's: our close goes after what is queued, and we do not wait
// for the client's answer.
void WsSession::fail(std::uint16_t code) {
  if (closing_) return closed();
  closing_ = true;
  enqueue(ws::Opcode::close, close_payload(code), true);
  close_received_ = true;
  if (timer_) timer_->set(Clock::now() + kCloseGrace);
  if (!waiting_) flush();
}

// Gives a socket up (slow consumer, silent peer): what has not started to leave is dropped at
// once, a frame half written is finished (the peer would misread what follows), then the close
// frame, if the socket takes it within the grace; the socket is closed then regardless.
void WsSession::cut(std::uint16_t code) {
  closing_ = true;
  close_received_ = true;
  std::size_t keep = !queue_.empty() && queue_.front().sent > 0 ? 1 : 0;
  while (queue_.size() > keep) {
    queued_bytes_ -= queue_.back().size();
    queue_.pop_back();
  }
  queue_.shrink_to_fit();
  enqueue(ws::Opcode::close, close_payload(code), true);
  if (timer_) timer_->set(Clock::now() + kCloseGrace);
  if (accepted_ && !waiting_) flush();
}

void WsSession::on_tick() {
  if (done_) return;
  if (closing_) return closed();  // the close grace is over
  auto& o = srv_->opts;
  auto idle = Clock::now() - last_rx_;
  if (idle >= o.ws_idle_timeout) {
    ++srv_->stats.ws_ping_timeouts;
    return cut(1001);
  }
  if (idle >= o.ws_ping_interval && !ping_outstanding_) {
    static const auto kEmpty = std::make_shared<const std::string>();
    ping_outstanding_ = true;
    enqueue(ws::Opcode::ping, kEmpty);
    if (!waiting_) flush();
    if (done_) return;
  }
  timer_->set(last_rx_ + (ping_outstanding_ ? o.ws_idle_timeout : o.ws_ping_interval));
}

void WsSession::closed() {
  if (done_) return;
  done_ = true;
  queue_.clear();
  queued_bytes_ = 0;
  if (accepted_) --srv_->stats.websockets_open;
  if (timer_) timer_->clear();
  if (ws_) {
    boost::system::error_code ec;
    socket().close(ec);
  }
  slot_.reset();
  // The face hears of it on the next pass of the loop, never from inside its own call (a send
  // during a fan-out, a message handler): it may then change its lists freely. The handlers go
  // then too, which breaks the cycle (they may hold this session).
  asio::post(srv_->io, [self = shared_from_this()] {
    auto h = std::move(self->handlers_);
    self->handlers_ = {};
    if (h.on_close) h.on_close();
  });
}

}  // namespace confab::net
