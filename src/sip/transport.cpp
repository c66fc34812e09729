#include "sip/transport.hpp"

#include "sip/parser.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <deque>
#include <stdexcept>
#include <unordered_map>
#include <vector>

namespace confab::sip {

namespace asio = boost::asio;
using udp = asio::ip::udp;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

std::string_view transport_name(Transport t) {
  return t == Transport::udp ? "UDP" : "TCP";
}

namespace {

constexpr int kBatch = 32;          // datagrams per recvmmsg
constexpr int kRoundsPerWake = 16;  // recvmmsg calls before other handlers get a turn
constexpr std::size_t kReadChunk = 16 * 1024;

struct Conn;

}  // namespace

struct SipTransport::Impl : std::enable_shared_from_this<SipTransport::Impl> {
  Impl(asio::io_context& io, TransportOptions o, OnMessage m, OnClosed c)
      : io(io),
        opts(std::move(o)),
        on_message(std::move(m)),
        on_closed(std::move(c)),
        udp_sock(io),
        acceptor(io),
        sweep(io) {}

  asio::io_context& io;
  TransportOptions opts;
  OnMessage on_message;
  OnClosed on_closed;
  udp::socket udp_sock;
  tcp::acceptor acceptor;
  asio::steady_timer sweep;
  TransportStats stats;
  bool stopped = false;
  bool in_batch = false;
  std::uint16_t bound_port = 0;

  // UDP batches: kBatch buffers of max_message + 1 bytes (one more tells a datagram too long).
  std::vector<char> rx_buf;
  std::array<mmsghdr, kBatch> rx_hdr{};
  std::array<iovec, kBatch> rx_iov{};
  std::array<sockaddr_storage, kBatch> rx_addr{};
  struct Out {
    sockaddr_storage addr;
    socklen_t len;
    std::string bytes;
  };
  std::vector<Out> outbox;

  std::uint64_t next_conn = 1;
  std::unordered_map<std::uint64_t, std::shared_ptr<Conn>> conns;
  std::unordered_map<std::string, std::size_t> per_source;

  void bind();
  void udp_wait();
  void udp_drain();
  void flush();
  bool udp_send(const Peer& to, std::string_view bytes, std::string* owned = nullptr);
  void accept();
  void start_sweep();
  void close(Conn& c, std::uint64_t TransportStats::*counter);

  template <typename F>
  void guarded(F&& f) {
    // A throwing handler is a bug; it must not stop the receive loop that called it.
    try {
      f();
    } catch (const std::exception& e) {
      spdlog::error("sip: unhandled exception handling a message: {}", e.what());
    }
  }
};

namespace {

struct Conn : std::enable_shared_from_this<Conn> {
  Conn(tcp::socket s, std::uint64_t id, Peer peer, std::string source)
      : sock(std::move(s)), id(id), peer(std::move(peer)), source(std::move(source)) {}
  tcp::socket sock;
  std::uint64_t id;
  Peer peer;
  std::string source;
  std::string in;
  std::array<char, kReadChunk> chunk;
  std::deque<std::string> out;
  std::size_t out_bytes = 0;
  bool writing = false;
  bool closed = false;
  bool close_when_sent = false;
  int holds = 0;
  Clock::time_point last_rx = Clock::now();
  Clock::time_point partial_since{};

  void read(const std::shared_ptr<SipTransport::Impl>& srv);
  void frames(SipTransport::Impl& srv);
  void write(const std::shared_ptr<SipTransport::Impl>& srv);
  bool queue(SipTransport::Impl& srv, std::string_view bytes);
};

void Conn::read(const std::shared_ptr<SipTransport::Impl>& srv) {
  std::weak_ptr<SipTransport::Impl> w = srv;
  sock.async_read_some(asio::buffer(chunk),
                       [self = shared_from_this(), w](boost::system::error_code ec, std::size_t n) {
                         auto srv = w.lock();
                         if (!srv || self->closed) return;
                         if (ec) return srv->close(*self, nullptr);
                         self->last_rx = Clock::now();
                         if (self->in.empty()) self->partial_since = self->last_rx;
                         self->in.append(self->chunk.data(), n);
                         self->frames(*srv);
                         if (!self->closed && !self->close_when_sent) self->read(srv);
                       });
}

// Cuts whole messages off the front of the stream. Framing relies on Content-Length (RFC 3261
// section 18.3: mandatory on streams; a message without one has no body). A message that
// cannot be framed is handed on for its 4xx and the connection closed after that answer.
void Conn::frames(SipTransport::Impl& srv) {
  const auto max = srv.opts.max_message;
  while (!closed && !close_when_sent) {
    std::size_t crlf = 0;
    while (crlf < in.size() && (in[crlf] == '\r' || in[crlf] == '\n')) ++crlf;
    if (crlf) {
      // RFC 5626 section 4.4.1: a CRLF CRLF ping is answered with a CRLF pong.
      if (std::string_view(in).substr(0, crlf).find("\r\n\r\n") != std::string_view::npos) {
        ++srv.stats.keepalives;
        queue(srv, "\r\n");
      }
      in.erase(0, crlf);
      partial_since = Clock::now();
    }
    if (in.empty()) return;
    auto h = scan_head(in, max + 1);
    if (!h.complete) {
      if (in.size() <= max) return;  // wait for more
    } else if (!h.length_bad && h.body + h.length.value_or(0) <= max) {
      auto total = h.body + h.length.value_or(0);
      if (in.size() < total) return;
      ++srv.stats.tcp_received;
      srv.guarded([&] { srv.on_message(std::string_view(in).substr(0, total), peer); });
      in.erase(0, total);
      partial_since = Clock::now();
      continue;
    }
    // Unframable: too long, or a Content-Length that cannot be trusted.
    ++srv.stats.tcp_received;
    srv.guarded([&] {
      srv.on_message(std::string_view(in).substr(0, std::min(in.size(), max + 1)), peer);
    });
    ++srv.stats.tcp_closed_framing;
    in.clear();
    close_when_sent = true;
    if (!writing) srv.close(*this, nullptr);
    return;
  }
}

bool Conn::queue(SipTransport::Impl& srv, std::string_view bytes) {
  if (closed) return false;
  if (out_bytes + bytes.size() > srv.opts.write_queue_bytes) {
    srv.close(*this, &TransportStats::tcp_closed_slow);
    return false;
  }
  out.emplace_back(bytes);
  out_bytes += bytes.size();
  if (!writing) write(srv.shared_from_this());
  return true;
}

void Conn::write(const std::shared_ptr<SipTransport::Impl>& srv) {
  writing = true;
  std::weak_ptr<SipTransport::Impl> w = srv;
  asio::async_write(sock, asio::buffer(out.front()),
                    [self = shared_from_this(), w](boost::system::error_code ec, std::size_t) {
                      auto srv = w.lock();
                      self->writing = false;
                      if (!srv || self->closed) return;
                      if (ec) return srv->close(*self, nullptr);
                      self->out_bytes -= self->out.front().size();
                      self->out.pop_front();
                      if (!self->out.empty()) return self->write(srv);
                      if (self->close_when_sent) srv->close(*self, nullptr);
                    });
}

asio::ip::address listen_address(const std::string& host) {
  std::string h = host == "localhost" ? "127.0.0.1" : host;
  if (h.size() > 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  boost::system::error_code ec;
  auto a = asio::ip::make_address(h, ec);
  if (ec) throw std::runtime_error("sip: not an IP address: " + host);
  return a;
}

}  // namespace

void SipTransport::Impl::bind() {
  auto addr = listen_address(opts.host);
  // Port 0: UDP picks a port, TCP must get the same one; another socket may hold it on TCP,
  // so try a few.
  for (int attempt = 0;; ++attempt) {
    boost::system::error_code ec;
    udp_sock.open(addr.is_v6() ? udp::v6() : udp::v4());
    udp_sock.bind(udp::endpoint(addr, opts.port), ec);
    if (ec) {
      throw std::runtime_error("sip: cannot bind UDP " + addr.to_string() + ":" +
                               std::to_string(opts.port) + ": " + ec.message());
    }
    auto port = udp_sock.local_endpoint().port();
    tcp::endpoint tep(addr, port);
    acceptor.open(tep.protocol());
    acceptor.set_option(asio::socket_base::reuse_address(true));
    acceptor.bind(tep, ec);
    if (!ec) {
      acceptor.listen(asio::socket_base::max_listen_connections);
      bound_port = port;
      break;
    }
    acceptor.close();
    udp_sock.close();
    if (opts.port != 0 || attempt >= 20)
      throw std::runtime_error("sip: cannot bind TCP " + addr.to_string() + ":" +
                               std::to_string(port) + ": " + ec.message());
  }
  udp_sock.non_blocking(true);
  boost::system::error_code ec;
  udp_sock.set_option(asio::socket_base::receive_buffer_size(opts.socket_buffer), ec);
  udp_sock.set_option(asio::socket_base::send_buffer_size(opts.socket_buffer), ec);
  rx_buf.resize(static_cast<std::size_t>(kBatch) * (opts.max_message + 1));
  for (int i = 0; i < kBatch; ++i) {
    rx_iov[i].iov_base = rx_buf.data() + static_cast<std::size_t>(i) * (opts.max_message + 1);
    rx_iov[i].iov_len = opts.max_message + 1;
  }
}

void SipTransport::Impl::udp_wait() {
  if (stopped) return;
  udp_sock.async_wait(udp::socket::wait_read, [w = weak_from_this()](boost::system::error_code ec) {
    auto self = w.lock();
    if (!self || ec || self->stopped) return;
    self->udp_drain();
  });
}

void SipTransport::Impl::udp_drain() {
  int fd = udp_sock.native_handle();
  in_batch = true;
  for (int round = 0; round < kRoundsPerWake && !stopped; ++round) {
    for (int i = 0; i < kBatch; ++i) {
      rx_hdr[i].msg_hdr = {};
      rx_hdr[i].msg_hdr.msg_name = &rx_addr[i];
      rx_hdr[i].msg_hdr.msg_namelen = sizeof(sockaddr_storage);
      rx_hdr[i].msg_hdr.msg_iov = &rx_iov[i];
      rx_hdr[i].msg_hdr.msg_iovlen = 1;
      rx_hdr[i].msg_len = 0;
    }
    int n = ::recvmmsg(fd, rx_hdr.data(), kBatch, MSG_DONTWAIT, nullptr);
    if (n <= 0) break;
    for (int i = 0; i < n && !stopped; ++i) {
      auto len = rx_hdr[i].msg_len;
      if (len > opts.max_message || (rx_hdr[i].msg_hdr.msg_flags & MSG_TRUNC)) {
        ++stats.oversize_dropped;
        continue;
      }
      ++stats.udp_received;
      udp::endpoint ep;
      std::memcpy(ep.data(), &rx_addr[i], rx_hdr[i].msg_hdr.msg_namelen);
      ep.resize(rx_hdr[i].msg_hdr.msg_namelen);
      Peer from{ep.address(), ep.port(), Transport::udp, 0};
      guarded([&] {
        on_message(std::string_view(static_cast<const char*>(rx_iov[i].iov_base), len), from);
      });
    }
    if (n < kBatch) break;
  }
  flush();
  in_batch = false;
  udp_wait();
}

void SipTransport::Impl::flush() {
  int fd = udp_sock.native_handle();
  std::size_t done = 0;
  std::array<mmsghdr, kBatch> hdr{};
  std::array<iovec, kBatch> iov{};
  while (done < outbox.size()) {
    auto count = std::min<std::size_t>(kBatch, outbox.size() - done);
    for (std::size_t i = 0; i < count; ++i) {
      auto& o = outbox[done + i];
      iov[i] = {o.bytes.data(), o.bytes.size()};
      hdr[i] = {};
      hdr[i].msg_hdr.msg_name = &o.addr;
      hdr[i].msg_hdr.msg_namelen = o.len;
      hdr[i].msg_hdr.msg_iov = &iov[i];
      hdr[i].msg_hdr.msg_iovlen = 1;
    }
    int n = ::sendmmsg(fd, hdr.data(), static_cast<unsigned>(count), MSG_DONTWAIT);
    if (n <= 0) {
      // The first of them failed (a full buffer, an unreachable address): skip it only.
      ++stats.udp_send_errors;
      ++done;
      continue;
    }
    stats.udp_sent += static_cast<std::uint64_t>(n);
    done += static_cast<std::size_t>(n);
  }
  outbox.clear();
}

bool SipTransport::Impl::udp_send(const Peer& to, std::string_view bytes, std::string* owned) {
  udp::endpoint ep(to.addr, to.port);
  if (in_batch) {
    auto& o = outbox.emplace_back();
    std::memcpy(&o.addr, ep.data(), ep.size());
    o.len = static_cast<socklen_t>(ep.size());
    if (owned)
      o.bytes = std::move(*owned);
    else
      o.bytes.assign(bytes);
    return true;
  }
  auto n = ::sendto(udp_sock.native_handle(), bytes.data(), bytes.size(), MSG_DONTWAIT, ep.data(),
                    static_cast<socklen_t>(ep.size()));
  if (n < 0) {
    ++stats.udp_send_errors;
    return false;
  }
  ++stats.udp_sent;
  return true;
}

void SipTransport::Impl::accept() {
  if (stopped) return;
  acceptor.async_accept([w = weak_from_this()](boost::system::error_code ec, tcp::socket s) {
    auto self = w.lock();
    if (!self || self->stopped) return;
    if (ec) {
      // Out of descriptors: the connection stays queued; try again shortly.
      auto t = std::make_shared<asio::steady_timer>(self->io, 50ms);
      t->async_wait([w, t](boost::system::error_code) {
        if (auto self = w.lock()) self->accept();
      });
      return;
    }
    boost::system::error_code e2;
    auto remote = s.remote_endpoint(e2);
    if (e2) return self->accept();
    auto source = remote.address().to_string();
    auto& n = self->per_source[source];
    if (self->conns.size() >= self->opts.max_connections ||
        n >= self->opts.max_connections_per_source) {
      if (n == 0) self->per_source.erase(source);
      ++self->stats.tcp_refused;
      s.close(e2);
      return self->accept();
    }
    ++n;
    s.set_option(tcp::no_delay(true), e2);
    auto id = self->next_conn++;
    auto c = std::make_shared<Conn>(std::move(s), id,
                                    Peer{remote.address(), remote.port(), Transport::tcp, id},
                                    std::move(source));
    self->conns.emplace(id, c);
    ++self->stats.tcp_accepted;
    self->stats.tcp_open = self->conns.size();
    c->read(self);
    self->accept();
  });
}

void SipTransport::Impl::close(Conn& c, std::uint64_t TransportStats::*counter) {
  if (c.closed) return;
  c.closed = true;
  if (counter) ++(stats.*counter);
  boost::system::error_code ec;
  c.sock.shutdown(tcp::socket::shutdown_both, ec);
  c.sock.close(ec);
  if (auto it = per_source.find(c.source); it != per_source.end() && --it->second == 0)
    per_source.erase(it);
  auto id = c.id;
  auto keep = conns[id];  // c lives until this returns
  conns.erase(id);
  stats.tcp_open = conns.size();
  if (on_closed && !stopped) guarded([&] { on_closed(id); });
}

void SipTransport::Impl::start_sweep() {
  sweep.expires_after(1s);
  sweep.async_wait([w = weak_from_this()](boost::system::error_code ec) {
    auto self = w.lock();
    if (!self || ec || self->stopped) return;
    auto now = Clock::now();
    std::vector<std::shared_ptr<Conn>> expired_partial, expired_idle;
    for (auto& [id, c] : self->conns) {
      if (!c->in.empty() && now - c->partial_since > self->opts.partial_timeout)
        expired_partial.push_back(c);
      else if (c->holds == 0 && c->out.empty() && now - c->last_rx > self->opts.idle_timeout)
        expired_idle.push_back(c);
    }
    for (auto& c : expired_partial) self->close(*c, &TransportStats::tcp_closed_partial);
    for (auto& c : expired_idle) self->close(*c, &TransportStats::tcp_closed_idle);
    self->start_sweep();
  });
}

SipTransport::SipTransport(asio::io_context& io, TransportOptions opts, OnMessage on_message,
                           OnClosed on_closed)
    : impl_(std::make_shared<Impl>(io, std::move(opts), std::move(on_message),
                                   std::move(on_closed))) {
  impl_->bind();
  impl_->udp_wait();
  impl_->accept();
  impl_->start_sweep();
}

SipTransport::~SipTransport() {
  stop();
}

bool SipTransport::send(const Peer& to, std::string_view bytes) {
  if (impl_->stopped) return false;
  if (to.transport == Transport::udp) return impl_->udp_send(to, bytes);
  auto it = impl_->conns.find(to.conn);
  if (it == impl_->conns.end()) return false;
  if (!it->second->queue(*impl_, bytes)) return false;
  ++impl_->stats.tcp_sent;
  return true;
}

bool SipTransport::send(const Peer& to, std::string&& bytes) {
  if (impl_->stopped) return false;
  if (to.transport == Transport::udp) return impl_->udp_send(to, bytes, &bytes);
  return send(to, std::string_view(bytes));
}

void SipTransport::hold(std::uint64_t conn) {
  if (auto it = impl_->conns.find(conn); it != impl_->conns.end()) ++it->second->holds;
}

void SipTransport::release(std::uint64_t conn) {
  if (auto it = impl_->conns.find(conn); it != impl_->conns.end() && it->second->holds > 0)
    --it->second->holds;
}

bool SipTransport::connected(std::uint64_t conn) const {
  return impl_->conns.contains(conn);
}

std::uint16_t SipTransport::port() const {
  return impl_->bound_port;
}
const std::string& SipTransport::host() const {
  return impl_->opts.host;
}
const TransportStats& SipTransport::stats() const {
  return impl_->stats;
}

void SipTransport::stop() {
  if (impl_->stopped) return;
  impl_->flush();
  impl_->stopped = true;
  boost::system::error_code ec;
  impl_->udp_sock.close(ec);
  impl_->acceptor.close(ec);
  impl_->sweep.cancel();
  auto conns = impl_->conns;
  for (auto& [id, c] : conns) impl_->close(*c, nullptr);
}

}  // namespace confab::sip
