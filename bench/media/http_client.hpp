#pragma once
// A tiny blocking HTTP/1.1 client over one keep-alive TCP socket: enough for the benchmark's
// control traffic (confab's REST API, Janus's HTTP API and its long-poll). Reconnects when the
// server closes; a receive timeout bounds every request.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

namespace bench {

struct HttpReply {
  int status = 0;  // 0: no answer (timeout or connection error)
  std::string body;
};

class HttpClient {
 public:
  HttpClient(std::string host, int port) : host_(std::move(host)), port_(port) {}
  ~HttpClient() { close_fd(); }
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  void set_header(std::string h) { extra_ = std::move(h); }  // e.g. "X-Auth-Token: ...\r\n"

  HttpReply request(const std::string& method, const std::string& path,
                    const std::string& body = {}, int timeout_ms = 10000) {
    for (int attempt = 0; attempt < 2; ++attempt) {
      if (fd_ < 0 && !connect_fd()) return {};
      set_timeout(timeout_ms);
      std::string req = method + " " + path + " HTTP/1.1\r\nHost: " + host_ + "\r\n" + extra_ +
                        "Connection: keep-alive\r\n";
      if (!body.empty() || method == "PUT" || method == "POST")
        req += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
               "\r\n";
      req += "\r\n" + body;
      if (!write_all(req)) {
        close_fd();
        continue;  // a stale keep-alive connection: reconnect once
      }
      HttpReply r;
      if (read_reply(r)) return r;
      int err = errno;
      close_fd();
      // Only a keep-alive connection the server had already closed is retried, never a timeout.
      if (r.status != 0 || (err != ECONNRESET && err != EPIPE)) return {};
    }
    return {};
  }

 private:
  bool connect_fd() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return false;
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port_));
    ::inet_pton(AF_INET, host_.c_str(), &a.sin_addr);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      close_fd();
      return false;
    }
    buf_.clear();
    return true;
  }
  void close_fd() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    buf_.clear();
  }
  void set_timeout(int ms) {
    timeval tv{ms / 1000, (ms % 1000) * 1000};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  }
  bool write_all(const std::string& s) {
    std::size_t off = 0;
    while (off < s.size()) {
      ssize_t n = ::send(fd_, s.data() + off, s.size() - off, MSG_NOSIGNAL);
      if (n <= 0) {
        if (n < 0 && errno == EINTR) continue;
        return false;
      }
      off += static_cast<std::size_t>(n);
    }
    return true;
  }
  bool fill() {
    char tmp[65536];
    for (;;) {
      ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
      if (n > 0) {
        buf_.append(tmp, static_cast<std::size_t>(n));
        return true;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n == 0) errno = ECONNRESET;
      return false;
    }
  }
  bool read_reply(HttpReply& r) {
    std::size_t hdr_end;
    while ((hdr_end = buf_.find("\r\n\r\n")) == std::string::npos)
      if (!fill()) return false;
    std::string head = buf_.substr(0, hdr_end);
    buf_.erase(0, hdr_end + 4);
    if (head.size() < 12) return false;
    r.status = std::atoi(head.c_str() + 9);
    std::string lower = head;
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    bool close_after = lower.find("connection: close") != std::string::npos;
    auto cl = lower.find("content-length:");
    if (cl != std::string::npos) {
      std::size_t len = std::strtoul(lower.c_str() + cl + 15, nullptr, 10);
      while (buf_.size() < len)
        if (!fill()) return false;
      r.body = buf_.substr(0, len);
      buf_.erase(0, len);
    } else if (lower.find("transfer-encoding: chunked") != std::string::npos) {
      for (;;) {
        std::size_t eol;
        while ((eol = buf_.find("\r\n")) == std::string::npos)
          if (!fill()) return false;
        std::size_t len = std::strtoul(buf_.c_str(), nullptr, 16);
        buf_.erase(0, eol + 2);
        while (buf_.size() < len + 2)
          if (!fill()) return false;
        r.body.append(buf_, 0, len);
        buf_.erase(0, len + 2);
        if (len == 0) break;
      }
    } else {
      while (fill()) {
      }
      r.body = buf_;
      buf_.clear();
      close_after = true;
    }
    if (close_after) close_fd();
    return true;
  }

  std::string host_;
  int port_;
  int fd_ = -1;
  std::string buf_;
  std::string extra_;
};

}  // namespace bench
