#pragma once
// Internal to src/sip: the endpoint's state. endpoint.cpp receives, parses, throttles and answers
// what needs no dialog; dialogs.cpp keeps the calls (answer, ACK, BYE, re-offers, INFO, session
// timers) and the requests we send in them.
#include "sip/endpoint.hpp"
#include "sip/timer_queue.hpp"
#include "sip/transactions.hpp"

#include <chrono>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace confab::sip {

inline constexpr char kAllow[] = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE";
inline constexpr char kAccept[] = "application/sdp, application/dtmf-relay, application/dtmf";
inline constexpr char kSupported[] = "timer";

// Methods we know and do not take (405, with Allow) as against methods we do not know (501).
inline int refusal_for_method(std::string_view m) {
  for (std::string_view k : {"REGISTER", "SUBSCRIBE", "NOTIFY", "REFER", "MESSAGE", "PUBLISH"})
    if (m == k) return 405;
  return 501;
}

// What a client transaction of a call was sent for.
enum Purpose : int { kBye = 1, kRefreshUpdate, kRefreshInvite };

struct Call {
  CallId id = 0;
  enum class State { early, confirmed } state = State::early;
  std::string call_id, local_tag, remote_tag;
  std::string local_uri;      // our To header of the INVITE, with our tag: From of our requests
  std::string remote_uri;     // their From header, with their tag: To of our requests
  std::string remote_target;  // their Contact URI (Request-URI of our requests)
  std::vector<std::string> route_set;  // their Record-Route, in order (RFC 3261 12.1.1)
  Peer peer;                           // where their requests come from: ours go there
  bool holds_conn = false;
  std::uint32_t remote_cseq = 0;
  std::uint32_t local_cseq = 1;
  bool peer_allows_update = false;
  std::string local_sdp;  // what we last sent, resent by refreshing re-INVITEs

  // The request the application is to answer: the INVITE, a re-INVITE or an UPDATE.
  enum class Pending { none, invite, reinvite, update } pending = Pending::none;
  std::uint64_t pending_tx = 0;
  bool pending_has_offer = false;
  bool provisional_sent = false;
  TimerDecision pending_timer;  // the session timer its 2xx is to carry

  // Our 200 to an INVITE, until its ACK (RFC 3261 section 13.3.1.4).
  bool awaiting_ack = false;
  bool ack_delivers_answer = false;  // the INVITE had no offer: the ACK has the answer
  std::uint32_t ack_cseq = 0;
  std::uint32_t invite_cseq = 0;  // of the INVITE that made the call: its retransmissions
  std::string ok_wire;
  Peer ok_peer;
  Clock::duration ok_interval{};
  bool bye_after_ack = false;  // the application ended the call before the ACK came

  // Session timer (RFC 4028).
  TimerDecision timer;
  std::uint64_t refresh_tx = 0;
  std::uint32_t refresh_cseq = 0;
  bool refresh_by_invite = false;
  std::string refresh_ack_wire;  // the ACK of our refreshing re-INVITE's 2xx, for its repeats

  // Deadlines; the earliest is in the TimerQueue under `gen`.
  std::optional<Clock::time_point> answer_by, ok_resend_at, ack_by, refresh_at, expire_at;
  std::uint32_t gen = 0;
};

struct Endpoint::Impl {
  Impl(boost::asio::io_context& io, EndpointOptions o, SipApp* app);

  boost::asio::io_context& io;
  EndpointOptions opts;
  SipApp* app;
  std::string adv_host;  // advertised in Contact and Via
  std::uint16_t adv_port = 0;
  std::uint64_t tag_salt;
  RateLimiter limiter;
  Transactions txs;
  TimerQueue call_timers;
  SipTransport transport;  // last: it starts receiving as it is built
  EndpointStats stats;
  bool stopped = false;
  CallId next_call = 1;
  std::unordered_map<CallId, Call> calls;
  std::unordered_map<std::string, CallId> by_local_tag;
  std::unordered_map<std::string, CallId> by_remote;  // call_id + from tag: INVITE dedupe
  Clock::time_point last_log{};
  std::uint64_t unlogged = 0;

  // endpoint.cpp
  void on_message(std::string_view data, const Peer& from);
  void on_closed(std::uint64_t conn);
  void handle_request(Msg req, const Peer& from);
  void out_of_dialog(Msg req, const Peer& from);
  void handle_cancel(Msg req, const Peer& from);
  Peer response_peer(const osip_message_t* req, const Peer& from) const;
  void stateless(const osip_message_t* req, const Peer& from, int code,
                 std::string_view warning = {}, std::string_view reason = {},
                 std::initializer_list<std::pair<const char*, std::string>> headers = {});
  std::string stateless_tag(const osip_message_t* req) const;
  void add_common(osip_message_t* m, bool response) const;
  std::string contact(Transport t) const;
  void note(std::string_view what, const Peer& from);  // rate-limited log line
  std::optional<std::pair<int, std::string>> policy(const osip_message_t* req) const;
  bool read_timer_ask(const osip_message_t* req, TimerAsk& ask) const;

  // dialogs.cpp
  void new_call(Msg req, const Peer& from);
  void in_dialog(Msg req, const Peer& from);
  void handle_ack(Msg req, const Peer& from);
  void handle_response(Msg resp);
  void on_tx_response(Tx& tx, const osip_message_t& resp);
  void on_tx_failure(Tx& tx);
  void on_call_timer(CallId id, std::uint32_t gen);
  void arm(Call& c);
  Call* find(CallId id);
  Call* find_dialog(const osip_message_t* req);
  bool respond_pending(Call& c, int code, std::string_view sdp, std::string_view reason,
                       std::string_view warning);
  Msg dialog_response(Call& c, const osip_message_t* req, int code, std::string_view reason = {});
  void apply_timer(Call& c, const TimerDecision& d, Msg& resp);
  Msg dialog_request(Call& c, std::string_view method, std::uint32_t cseq);
  void send_bye(Call& c);
  void send_refresh(Call& c);
  void start_timer(Call& c, const TimerDecision& d);
  void track_peer(Call& c, const Peer& from);
  void end(Call& c, std::optional<EndReason> reason);  // removes it; on_end when reason
};

}  // namespace confab::sip
