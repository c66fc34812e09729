// Receiving: caps and parse, per-source throttle, transaction look-up, and the answers that need
// no dialog (OPTIONS, 481, 405, 501, policy 4xx, CANCEL). Calls are in dialogs.cpp.
#include "sip/endpoint_impl.hpp"

#include <spdlog/spdlog.h>

#include <openssl/rand.h>

#include <cctype>
#include <charconv>
#include <cstring>

namespace confab::sip {

using namespace std::chrono_literals;

std::string_view end_reason_name(EndReason r) {
  switch (r) {
    case EndReason::remote_bye:
      return "remote_bye";
    case EndReason::cancelled:
      return "cancelled";
    case EndReason::ack_timeout:
      return "ack_timeout";
    case EndReason::session_expired:
      return "session_expired";
    case EndReason::answer_timeout:
      return "answer_timeout";
    case EndReason::refresh_failed:
      return "refresh_failed";
    case EndReason::shutdown:
      return "shutdown";
  }
  return "unknown";
}

namespace {

std::uint64_t fnv(std::string_view s, std::uint64_t h) {
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

// "host[:port]" or "[v6]:port" into its parts; port 0 when none.
std::pair<std::string, std::uint16_t> split_host_port(const std::string& s) {
  auto colon = s.rfind(':');
  bool v6 = !s.empty() && s.front() == '[';
  if (colon == std::string::npos || (v6 && s.find(']') > colon) || (!v6 && s.find(':') != colon))
    return {s, 0};
  unsigned port = 0;
  auto p = s.substr(colon + 1);
  std::from_chars(p.data(), p.data() + p.size(), port);
  return {s.substr(0, colon), static_cast<std::uint16_t>(port)};
}

}  // namespace

Endpoint::Impl::Impl(boost::asio::io_context& io_, EndpointOptions o, SipApp* a)
    : io(io_),
      opts(std::move(o)),
      app(a),
      limiter(opts.rate),
      txs(io_,
          {[this](const Peer& to, std::string_view bytes) { return transport.send(to, bytes); },
           [this](Tx& tx, const osip_message_t& resp) { on_tx_response(tx, resp); },
           [this](Tx& tx) { on_tx_failure(tx); }},
          opts.max_transactions),
      call_timers(io_, [this](std::uint64_t id, std::uint32_t gen) { on_call_timer(id, gen); }),
      transport(
          io_,
          [&] {
            auto t = opts.transport;
            t.max_message = opts.limits.max_message;
            return t;
          }(),
          [this](std::string_view data, const Peer& from) { on_message(data, from); },
          [this](std::uint64_t conn) { on_closed(conn); }) {
  init_osip();
  if (RAND_bytes(reinterpret_cast<unsigned char*>(&tag_salt), sizeof tag_salt) != 1)
    tag_salt = static_cast<std::uint64_t>(Clock::now().time_since_epoch().count());
  auto [h, p] = split_host_port(opts.advertise);
  adv_host = h.empty() ? opts.transport.host : h;
  if (adv_host == "0.0.0.0" || adv_host == "::" || adv_host == "[::]") adv_host = "127.0.0.1";
  if (adv_host.find(':') != std::string::npos && adv_host.front() != '[')
    adv_host = "[" + adv_host + "]";
  adv_port = p ? p : transport.port();
}

void Endpoint::Impl::note(std::string_view what, const Peer& from) {
  // At most one line a second: a flood of garbage must not become a flood of log lines.
  auto now = Clock::now();
  if (now - last_log < 1s) {
    ++unlogged;
    return;
  }
  last_log = now;
  if (unlogged)
    spdlog::info("sip: {} from {}:{} ({} more not logged)", what, from.addr.to_string(), from.port,
                 unlogged);
  else
    spdlog::info("sip: {} from {}:{}", what, from.addr.to_string(), from.port);
  unlogged = 0;
}

std::string Endpoint::Impl::contact(Transport t) const {
  std::string c = "<sip:" + adv_host + ":" + std::to_string(adv_port);
  if (t == Transport::tcp) c += ";transport=tcp";
  return c + ">";
}

void Endpoint::Impl::add_common(osip_message_t* m, bool response) const {
  add_header(m, response ? "Server" : "User-Agent", opts.user_agent);
}

std::string Endpoint::Impl::stateless_tag(const osip_message_t* req) const {
  // RFC 3261 section 8.2.7: a stateless UAS gives a retransmission the same To tag.
  auto h = fnv(call_id(req), 0xcbf29ce484222325ull ^ tag_salt);
  h = fnv(from_tag(req), h);
  h = fnv(branch(req), h);
  h = fnv(sv(req->cseq ? req->cseq->number : nullptr), h);
  char buf[17];
  static constexpr char hex[] = "0123456789abcdef";
  for (int i = 0; i < 16; ++i) buf[i] = hex[(h >> (60 - 4 * i)) & 15];
  return std::string(buf, 16);
}

Peer Endpoint::Impl::response_peer(const osip_message_t*, const Peer& from) const {
  // RFC 3261 section 18.2.2 would send a response without rport to the Via's port; we answer
  // every UDP request where it came from, as RFC 3581 does when asked (the symmetric response
  // that NATs need, and that keeps a forged Via from aiming our answers at another port).
  // TCP: the connection it came on.
  return from;
}

void Endpoint::Impl::stateless(const osip_message_t* req, const Peer& from, int code,
                               std::string_view warning, std::string_view reason,
                               std::initializer_list<std::pair<const char*, std::string>> headers) {
  auto resp = make_response(req, code, stateless_tag(req), reason);
  for (auto& [name, value] : headers) add_header(resp.get(), name, value);
  if (!warning.empty()) add_header(resp.get(), "Warning", warning_value(adv_host, warning));
  add_common(resp.get(), true);
  auto bytes = serialize(resp.get());
  if (bytes.empty()) return;
  ++stats.stateless;
  transport.send(response_peer(req, from), std::move(bytes));
}

bool Endpoint::Impl::read_timer_ask(const osip_message_t* req, TimerAsk& ask) const {
  ask.supported = header_has_token(req, {"supported", "k"}, "timer") ||
                  header_has_token(req, {"require"}, "timer");
  if (auto se = header(req, {"session-expires", "x"}); se && !parse_session_expires(*se, ask))
    return false;
  if (auto ms = header(req, {"min-se"}); ms && !parse_min_se(*ms, ask)) return false;
  return true;
}

// Rules a request must pass before anything acts on it; each failure has its own answer.
std::optional<std::pair<int, std::string>> Endpoint::Impl::policy(const osip_message_t* req) const {
  auto m = method(req);
  std::string scheme(req->req_uri ? sv(req->req_uri->scheme) : std::string_view());
  for (auto& ch : scheme) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (scheme != "sip" && scheme != "sips")
    return std::pair{416, "Request-URI scheme " + scheme + " is not supported"};
  if (m != "CANCEL") {
    auto unknown = unknown_tokens(req, {"require"}, kSupported);
    if (!unknown.empty()) return std::pair{420, unknown};
  }
  return std::nullopt;
}

void Endpoint::Impl::on_message(std::string_view data, const Peer& from) {
  if (stopped) return;
  if (data.find_first_not_of("\r\n") == std::string_view::npos) {
    ++stats.keepalives;  // RFC 5626 keep-alives on UDP: nothing to answer
    return;
  }
  bool first_refusal = false;
  auto verdict = limiter.check(from.addr, Clock::now(), &first_refusal);
  if (verdict == RateVerdict::drop) return;
  if (first_refusal)
    spdlog::warn("sip: {} is over {} messages/s (burst {}): refusing it (503), then dropping",
                 from.addr.to_string(), opts.rate.rate, opts.rate.burst);
  auto p = parse(data, opts.limits);
  if (p.status != 0) {
    if (p.respond && verdict == RateVerdict::pass) {
      ++stats.malformed;
      note(std::to_string(p.status) + " " + p.why, from);
      stateless(p.msg.get(), from, p.status, p.why);
    } else {
      ++stats.malformed_dropped;
      note("dropped unanswerable message (" + p.why + ")", from);
    }
    return;
  }
  if (!p.request) {
    ++stats.responses;
    if (verdict == RateVerdict::pass) handle_response(std::move(p.msg));
    return;
  }
  ++stats.requests;
  auto m = method(p.msg.get());
  if (verdict == RateVerdict::refuse) {
    if (m != "ACK")
      stateless(p.msg.get(), from, 503, "too many requests from this address", {},
                {{"Retry-After", std::to_string(opts.retry_after.count())}});
    return;
  }
  // RFC 3261 section 18.2.1 and RFC 3581: where the request really came from, for the
  // responses (and for whoever reads our answer's Via).
  auto* via = static_cast<osip_via_t*>(osip_list_get(&p.msg->vias, 0));
  auto ip = from.addr.to_string();
  osip_generic_param_t* rport = nullptr;
  osip_via_param_get_byname(via, const_cast<char*>("rport"), &rport);
  if (rport) {
    osip_free(rport->gvalue);
    rport->gvalue = osip_strdup(std::to_string(from.port).c_str());
  }
  if (rport || sv(via->host) != ip) {
    osip_generic_param_t* received = nullptr;
    osip_via_param_get_byname(via, const_cast<char*>("received"), &received);
    if (received) {
      osip_free(received->gvalue);
      received->gvalue = osip_strdup(ip.c_str());
    } else {
      osip_via_set_received(via, osip_strdup(ip.c_str()));
    }
  }
  if (m == "INVITE")
    ++stats.invite;
  else if (m == "ACK")
    ++stats.ack;
  else if (m == "BYE")
    ++stats.bye;
  else if (m == "CANCEL")
    ++stats.cancel;
  else if (m == "OPTIONS")
    ++stats.options;
  else if (m == "INFO")
    ++stats.info;
  else if (m == "UPDATE")
    ++stats.update;
  else
    ++stats.other;
  handle_request(std::move(p.msg), from);
}

void Endpoint::Impl::handle_request(Msg req, const Peer& from) {
  auto m = method(req.get());
  if (auto* tx = txs.find_server(req.get())) {
    // A retransmission (or the ACK of a non-2xx): the state machine answers or absorbs it.
    txs.receive(*tx, std::move(req));
    return;
  }
  if (m == "ACK") return handle_ack(std::move(req), from);
  if (auto problem = policy(req.get())) {
    ++stats.rejected_policy;
    if (problem->first == 420)
      stateless(req.get(), from, 420, "unsupported extension " + problem->second, {},
                {{"Unsupported", problem->second}});
    else
      stateless(req.get(), from, problem->first, problem->second);
    return;
  }
  if (m == "CANCEL") return handle_cancel(std::move(req), from);
  if (!to_tag(req.get()).empty() && m != "OPTIONS") return in_dialog(std::move(req), from);
  out_of_dialog(std::move(req), from);
}

void Endpoint::Impl::out_of_dialog(Msg req, const Peer& from) {
  auto m = method(req.get());
  if (m == "OPTIONS") {
    // Answered without a transaction (RFC 3261 section 8.2.7): it changes nothing, so a
    // retransmission is answered again instead of being remembered for 32 s per probe.
    std::initializer_list<std::pair<const char*, std::string>> h = {
        {"Allow", kAllow}, {"Accept", kAccept}, {"Accept-Language", "en"}};
    auto resp = make_response(req.get(), 200, stateless_tag(req.get()));
    for (auto& [name, value] : h) add_header(resp.get(), name, value);
    if (opts.timers.session_expires > 0) add_header(resp.get(), "Supported", kSupported);
    add_header(resp.get(), "Contact", contact(from.transport));
    add_common(resp.get(), true);
    auto bytes = serialize(resp.get());
    ++stats.stateless;
    transport.send(response_peer(req.get(), from), std::move(bytes));
    return;
  }
  if (m == "INVITE") return new_call(std::move(req), from);
  if (m == "BYE" || m == "INFO" || m == "UPDATE" || m == "PRACK") {
    ++stats.not_found_481;
    return stateless(req.get(), from, 481, "no dialog matches this request");
  }
  ++stats.rejected_policy;
  stateless(req.get(), from, refusal_for_method(m), {}, {}, {{"Allow", kAllow}});
}

void Endpoint::Impl::handle_cancel(Msg req, const Peer& from) {
  auto* invite = txs.find_server(req.get(), "INVITE");
  if (!invite) {
    ++stats.not_found_481;
    return stateless(req.get(), from, 481, "no transaction matches this CANCEL");
  }
  // RFC 3261 section 9.2: 200 to the CANCEL; 487 to the INVITE when it is still unanswered.
  auto to = response_peer(req.get(), from);
  auto owner = invite->owner;
  bool unanswered = !invite->final_sent();
  auto ok = make_response(req.get(), 200, stateless_tag(req.get()));
  add_common(ok.get(), true);
  if (auto* tx = txs.create_server(std::move(req), to))
    txs.respond(*tx, std::move(ok));
  else
    ++stats.refused_full;
  if (!unanswered) return;
  auto* c = find(owner);
  if (!c || c->pending_tx != invite->id) return;
  respond_pending(*c, 487, {}, {}, {});
  if (c->pending == Call::Pending::none && c->state == Call::State::early)
    end(*c, EndReason::cancelled);
}

void Endpoint::Impl::on_closed(std::uint64_t conn) {
  // The caller's TCP connection is gone: its call carries on (media does not need it), and its
  // next request, on a new connection, becomes the way to reach it.
  for (auto& [id, c] : calls)
    if (c.peer.conn == conn) c.holds_conn = false;
}

// --- Endpoint ---

Endpoint::Endpoint(boost::asio::io_context& io, EndpointOptions opts, SipApp* app)
    : impl_(std::make_unique<Impl>(io, std::move(opts), app)) {}

Endpoint::~Endpoint() {
  impl_->app = nullptr;  // the application may be gone already; it learns nothing more
  stop();
}

void Endpoint::set_app(SipApp* app) {
  impl_->app = app;
}
std::uint16_t Endpoint::port() const {
  return impl_->transport.port();
}
const std::string& Endpoint::host() const {
  return impl_->transport.host();
}
std::size_t Endpoint::dialogs() const {
  return impl_->calls.size();
}
std::size_t Endpoint::transactions() const {
  return impl_->txs.live();
}
const EndpointStats& Endpoint::stats() const {
  return impl_->stats;
}
const TransportStats& Endpoint::transport_stats() const {
  return impl_->transport.stats();
}
const RateStats& Endpoint::rate_stats() const {
  return impl_->limiter.stats();
}
std::size_t Endpoint::rate_tracked() const {
  return impl_->limiter.tracked();
}

Endpoint::TxCounters Endpoint::tx_stats() const {
  auto& s = impl_->txs.stats();
  return {s.created[ICT],
          s.created[IST],
          s.created[NICT],
          s.created[NIST],
          s.retransmissions_absorbed,
          s.retransmitted,
          s.timeouts,
          s.transport_errors};
}

bool Endpoint::ring(CallId id, int code, std::optional<std::string_view> sdp) {
  auto* c = impl_->find(id);
  if (!c || c->pending != Call::Pending::invite || code < 180 || code > 199) return false;
  return impl_->respond_pending(*c, code, sdp.value_or(std::string_view()), {}, {});
}

bool Endpoint::answer(CallId id, std::string_view sdp) {
  auto* c = impl_->find(id);
  if (!c || c->pending == Call::Pending::none || sdp.empty()) return false;
  return impl_->respond_pending(*c, 200, sdp, {}, {});
}

bool Endpoint::reject(CallId id, int code, std::string_view reason, std::string_view warning) {
  auto* c = impl_->find(id);
  if (!c || c->pending == Call::Pending::none || code < 300 || code > 699) return false;
  bool initial = c->pending == Call::Pending::invite;
  if (!impl_->respond_pending(*c, code, {}, reason, warning)) return false;
  if (initial) impl_->end(*c, std::nullopt);
  return true;
}

bool Endpoint::bye(CallId id) {
  auto* c = impl_->find(id);
  if (!c) return false;
  if (c->pending == Call::Pending::invite) {
    impl_->respond_pending(*c, 480, {}, {}, {});
    impl_->end(*c, std::nullopt);
    return true;
  }
  if (c->pending != Call::Pending::none) impl_->respond_pending(*c, 487, {}, {}, {});
  if (c->awaiting_ack) {
    c->bye_after_ack = true;  // RFC 3261 section 15: not before the ACK (or its timeout)
    return true;
  }
  impl_->send_bye(*c);
  impl_->end(*c, std::nullopt);
  return true;
}

void Endpoint::inject(std::string_view data, const Peer& from) {
  impl_->on_message(data, from);
}

void Endpoint::stop() {
  auto& s = *impl_;
  if (s.stopped) return;
  std::vector<CallId> ids;
  for (auto& [id, c] : s.calls) ids.push_back(id);
  for (auto id : ids) {
    auto* c = s.find(id);
    if (!c || c->bye_after_ack) continue;
    if (c->pending == Call::Pending::invite) {
      s.respond_pending(*c, 503, {}, {}, "the server is shutting down");
    } else {
      if (c->pending != Call::Pending::none) s.respond_pending(*c, 487, {}, {}, {});
      s.send_bye(*c);
    }
    if ((c = s.find(id))) s.end(*c, EndReason::shutdown);
  }
  s.stopped = true;
  s.call_timers.clear();
  s.transport.stop();
}

}  // namespace confab::sip
