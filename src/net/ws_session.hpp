#pragma once
// Internal to src/net: a WebSocket connection after its HTTP upgrade request was read.
#include "net/server_impl.hpp"
#include "net/ws_frame.hpp"

#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include <deque>
#include <optional>
#include <vector>

namespace confab::net {

// Beast performs the upgrade handshake; after it, this class owns the TCP socket: it parses the
// client's frames itself (net/ws_frame) and writes frames straight to the socket with one
// non-blocking writev when it can take them, waiting for writability only when it cannot.
// Fan-out to many sockets then costs one system call each, not an asynchronous operation each;
// and data, pings, pongs and the close frame share one queue, so they never interleave.
//
// The queue is bounded in frames and in bytes: a consumer that does not keep up is cut with
// 1008 (its queue is released at once), not waited for. A client silent for the ping interval is
// pinged; one silent for the idle timeout is closed with 1001. A closing socket whose peer does
// not finish the close within a few seconds is closed regardless.
class WsSession final : public WsConnection, public std::enable_shared_from_this<WsSession> {
 public:
  WsSession(std::shared_ptr<HttpServer::Impl> srv, std::string remote, std::string path);
  ~WsSession() override;

  void start(boost::asio::ip::tcp::socket&& s,
             boost::beast::http::request<boost::beast::http::string_body> req, WsHandlers h,
             ConnSlot slot);
  void send(std::shared_ptr<const std::string> text) override;
  void close() override;
  const std::string& remote() const override { return remote_; }

  static constexpr std::size_t kMaxMessage = 64 * 1024;

 private:
  static constexpr std::size_t kMaxIov = 32;
  static constexpr auto kCloseGrace = std::chrono::seconds(5);

  struct Out {
    std::uint8_t header[10];
    std::size_t header_len = 0;
    std::shared_ptr<const std::string> payload;
    std::size_t sent = 0;  // of header + payload
    bool close_after = false;
    std::size_t size() const { return header_len + payload->size(); }
  };

  boost::asio::ip::tcp::socket& socket() { return ws_->next_layer(); }
  void enqueue(ws::Opcode op, std::shared_ptr<const std::string> payload, bool close_after = false);
  void post_flush();
  void flush();
  void wait_writable();
  void shutdown_after_close();
  void read();
  bool consume();
  void fail(std::uint16_t code);
  void cut(std::uint16_t code);
  void on_tick();
  void closed();

  std::shared_ptr<HttpServer::Impl> srv_;
  ConnSlot slot_;
  std::optional<boost::beast::websocket::stream<boost::asio::ip::tcp::socket>> ws_;
  std::optional<Deadline> timer_;  // pings, the idle timeout, the close grace
  std::vector<std::uint8_t> rbuf_;
  std::size_t rlen_ = 0;
  std::deque<Out> queue_;
  std::size_t queued_bytes_ = 0;
  std::string remote_;
  std::string path_;
  ws::Assembler assembler_;
  WsHandlers handlers_;
  Clock::time_point last_rx_{};
  bool accepted_ = false;
  bool waiting_ = false;
  bool flush_posted_ = false;
  bool ping_outstanding_ = false;
  bool closing_ = false;
  bool close_received_ = false;
  bool done_ = false;
};

}  // namespace confab::net
