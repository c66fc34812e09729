#pragma once
// The SIP endpoint: a UAS on UDP and TCP (RFC 3261), on the control thread. It parses (libosip2,
// behind the caps of parser.hpp), throttles per source (rate_limit.hpp), runs osip's transaction
// state machines (transactions.hpp), keeps the dialogs of INVITEs (a table with a cap), answers
// what needs no application by itself (OPTIONS, 481, 405, 501, CANCEL's 200 and 487, session
// timer refreshes) and hands calls to a SipApp (sip_app.hpp). docs/sip.md describes what is
// answered how.
#include "sip/parser.hpp"
#include "sip/rate_limit.hpp"
#include "sip/session_timer.hpp"
#include "sip/sip_app.hpp"
#include "sip/transport.hpp"

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace confab::sip {

struct EndpointOptions {
  TransportOptions transport;
  Limits limits;
  RateOptions rate;
  SessionTimerConfig timers;
  // host[:port] put in our Contact and Via; "": the listen address (its port when none given).
  std::string advertise;
  std::size_t max_dialogs = 10000;           // calls at once; past it INVITEs get 503
  std::size_t max_transactions = 50000;      // past it requests that need one get 503
  std::chrono::seconds answer_timeout{120};  // INVITE the application leaves unanswered: 480
  std::chrono::seconds retry_after{5};       // in our 503s
  std::string user_agent = "confab";         // Server / User-Agent header
  // RFC 3261's T1, for the 2xx the endpoint repeats until the ACK (T1 doubling up to 8*T1,
  // given up after 64*T1). osip's transactions keep the standard 500 ms; tests shorten this.
  std::chrono::milliseconds t1{500};
};

struct EndpointStats {
  std::uint64_t requests = 0;   // parsed requests, by method below
  std::uint64_t responses = 0;  // parsed responses received
  std::uint64_t invite = 0, ack = 0, bye = 0, cancel = 0, options = 0, info = 0, update = 0,
                other = 0;
  std::uint64_t malformed = 0;          // answered 4xx/5xx by the parser's checks (Warning)
  std::uint64_t malformed_dropped = 0;  // malformed and unanswerable (a response, an ACK, no Via)
  std::uint64_t keepalives = 0;         // bare CRLFs on UDP
  std::uint64_t stateless = 0;          // responses sent without a transaction
  std::uint64_t not_found_481 = 0;      // 481 for unknown dialogs and transactions
  std::uint64_t rejected_policy = 0;    // 415 416 420 422 482 491 500 405 501
  std::uint64_t refused_full = 0;       // 503: dialog or transaction table full
  std::uint64_t stray = 0;              // ACKs and responses that match nothing
  std::uint64_t calls = 0;              // INVITEs handed to the application
  std::uint64_t answered = 0;           // calls that got our 200
  std::uint64_t ended = 0;              // calls over, for any reason
  std::uint64_t ack_timeouts = 0;
  std::uint64_t session_expired = 0;
  std::uint64_t answer_timeouts = 0;
  std::uint64_t ok_retransmitted = 0;    // our 200 resent waiting for an ACK
  std::uint64_t invites_absorbed = 0;    // INVITE retransmissions after our 200
  std::uint64_t refreshes_received = 0;  // session refreshes from the caller
  std::uint64_t refreshes_sent = 0;
  std::uint64_t dtmf_info = 0;  // digits delivered from INFO
};

class Endpoint {
 public:
  // Binds UDP and TCP; throws std::runtime_error when it cannot. `app` may be set later.
  Endpoint(boost::asio::io_context& io, EndpointOptions opts, SipApp* app = nullptr);
  ~Endpoint();
  Endpoint(const Endpoint&) = delete;
  Endpoint& operator=(const Endpoint&) = delete;

  void set_app(SipApp* app);
  std::uint16_t port() const;  // UDP and TCP
  const std::string& host() const;

  // --- what the application does with a call (false: unknown call or wrong state) ---
  // 180 (or 183 with early media SDP), with our To tag; before answer/reject only.
  bool ring(CallId call, int code = 180, std::optional<std::string_view> sdp = std::nullopt);
  // 200 with `sdp`: the answer to the caller's offer, or our offer when it made none. For a
  // re-INVITE or UPDATE (on_reoffer) the answer to that. Retransmitted until the ACK.
  bool answer(CallId call, std::string_view sdp);
  // A final response 300-699 to the pending INVITE (the call ends, on_end is not called) or to
  // the pending re-offer (the call continues unchanged). `warning` adds a Warning header.
  bool reject(CallId call, int code, std::string_view reason = {}, std::string_view warning = {});
  // Ends the call: BYE when established (after the ACK if it is still due), 480 before the
  // answer. on_end is not called.
  bool bye(CallId call);

  std::size_t dialogs() const;
  std::size_t transactions() const;
  const EndpointStats& stats() const;
  const TransportStats& transport_stats() const;
  const RateStats& rate_stats() const;
  std::size_t rate_tracked() const;
  struct TxCounters {
    std::uint64_t ict = 0, ist = 0, nict = 0, nist = 0, absorbed = 0, retransmitted = 0,
                  timeouts = 0, transport_errors = 0;
  };
  TxCounters tx_stats() const;
  // Handles `data` as one message received from `from` (fuzzing, benches): exactly what the
  // transport does with a datagram.
  void inject(std::string_view data, const Peer& from);
  // Sends BYE to every established call (on_end(shutdown) for each), stops listening.
  void stop();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// The application until the conference bridge is wired: every number is unknown (404).
class UnknownNumberApp final : public SipApp {
 public:
  explicit UnknownNumberApp(Endpoint& ep) : ep_(ep) {}
  void on_invite(const IncomingCall& call) override {
    ep_.reject(call.call, 404, {}, "no conference at this number");
  }
  void on_ack(CallId, const std::optional<std::string>&) override {}
  void on_reoffer(CallId call, const std::optional<std::string>&) override {
    ep_.reject(call, 488);
  }
  void on_info_digit(CallId, char, int) override {}
  void on_end(CallId, EndReason) override {}

 private:
  Endpoint& ep_;
};

}  // namespace confab::sip
