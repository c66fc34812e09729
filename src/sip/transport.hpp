#pragma once
// SIP over UDP and TCP on the control thread's io_context. UDP datagrams are drained in batches
// (recvmmsg) and the responses they cause leave in one sendmmsg; TCP streams are cut into
// messages by Content-Length. The transport knows no SIP beyond that framing.
#include "sip/sip_app.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace confab::sip {

// Where a message came from, and so where its answers go.
struct Peer {
  boost::asio::ip::address addr;
  std::uint16_t port = 0;
  Transport transport = Transport::udp;
  std::uint64_t conn = 0;  // the TCP connection (0 for UDP)
};

struct TransportOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 5060;           // 0: any free port, the same for UDP and TCP
  std::size_t max_message = 65535;     // bytes; a longer datagram is dropped, a longer frame closes
  std::size_t max_connections = 1024;  // TCP, all sources
  std::size_t max_connections_per_source = 64;  // TCP, per IP address
  std::chrono::seconds idle_timeout{900};       // TCP connection silent, carrying no call
  std::chrono::seconds partial_timeout{10};     // TCP: a message begun must be whole by then
  std::size_t write_queue_bytes = 1 << 20;      // TCP: unsent bytes before the connection is cut
  int socket_buffer = 4 << 20;                  // UDP SO_RCVBUF / SO_SNDBUF asked for
};

struct TransportStats {
  std::uint64_t udp_received = 0;
  std::uint64_t udp_sent = 0;
  std::uint64_t udp_send_errors = 0;
  std::uint64_t oversize_dropped = 0;  // datagrams over max_message
  std::uint64_t tcp_accepted = 0;
  std::uint64_t tcp_refused = 0;  // over a connection cap
  std::uint64_t tcp_open = 0;
  std::uint64_t tcp_received = 0;  // messages
  std::uint64_t tcp_sent = 0;
  std::uint64_t tcp_closed_idle = 0;
  std::uint64_t tcp_closed_partial = 0;  // a message did not complete in partial_timeout
  std::uint64_t tcp_closed_framing = 0;  // unframable: bad Content-Length, oversize
  std::uint64_t tcp_closed_slow = 0;     // write queue over its cap
  std::uint64_t keepalives = 0;          // CRLF keep-alives (RFC 5626), answered on TCP
};

class SipTransport {
 public:
  // One message (a datagram, or a frame cut from a stream). Runs on the control thread.
  using OnMessage = std::function<void(std::string_view data, const Peer& from)>;
  using OnClosed = std::function<void(std::uint64_t conn)>;
  // Binds UDP and TCP; throws std::runtime_error naming the address when it cannot.
  SipTransport(boost::asio::io_context& io, TransportOptions opts, OnMessage on_message,
               OnClosed on_closed);
  ~SipTransport();
  SipTransport(const SipTransport&) = delete;
  SipTransport& operator=(const SipTransport&) = delete;

  // Sends one message. UDP: queued while a received batch is handled and flushed with it,
  // else sent at once; TCP: on the peer's connection. False when it cannot go (connection
  // gone, socket error); the transaction layer treats that as a transport error.
  bool send(const Peer& to, std::string_view bytes);
  bool send(const Peer& to, std::string&& bytes);  // the same, taking the bytes without a copy
  // A connection carrying a call is never closed for idleness. Counted: each hold is released.
  void hold(std::uint64_t conn);
  void release(std::uint64_t conn);
  bool connected(std::uint64_t conn) const;

  std::uint16_t port() const;  // UDP and TCP share it
  const std::string& host() const;
  const TransportStats& stats() const;
  void stop();

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace confab::sip
