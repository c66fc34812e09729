// Calls: the INVITE dialog of each (RFC 3261 sections 12-15), its 200 retransmitted until the
// ACK, BYE either way, re-INVITE and UPDATE offers, INFO digits, and RFC 4028 session timers.
#include "sip/dtmf_info.hpp"
#include "sip/endpoint_impl.hpp"

#include <spdlog/spdlog.h>

#include <osipparser2/osip_uri.h>

#include <cstring>
#include <random>

namespace confab::sip {

using namespace std::chrono_literals;

namespace {

std::string owned(char* s) {
  std::string out = s ? s : "";
  osip_free(s);
  return out;
}

// A URI user part with its %HH escapes decoded (RFC 3261 section 19.1.2); a malformed escape
// is kept as it is. The result may hold any byte, NUL included (RFC 4475 section 3.1.1.4).
std::string unescaped(const char* s) {
  std::string out;
  auto hex = [](char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (std::string_view v = sv(s); !v.empty(); v.remove_prefix(1)) {
    if (v[0] == '%' && v.size() > 2 && hex(v[1]) >= 0 && hex(v[2]) >= 0) {
      out += static_cast<char>(hex(v[1]) * 16 + hex(v[2]));
      v.remove_prefix(2);
    } else {
      out += v[0];
    }
  }
  return out;
}

// A display name as sent: a quoted-string loses its quotes and escapes (RFC 3261 25.1).
std::string display_name(const char* s) {
  std::string_view v = sv(s);
  if (v.size() < 2 || v.front() != '"' || v.back() != '"') return std::string(v);
  v = v.substr(1, v.size() - 2);
  std::string out;
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (v[i] == '\\' && i + 1 < v.size()) ++i;
    out += v[i];
  }
  return out;
}

std::string uri_string(osip_uri_t* u) {
  char* s = nullptr;
  if (!u || osip_uri_to_str(u, &s) != 0) return {};
  return owned(s);
}

// The SDP of a request: an application/sdp body, or the application/sdp part of a multipart
// one. `other` is set when there is a body and no SDP in it.
std::optional<std::string> sdp_of(const osip_message_t* m, bool* other) {
  *other = false;
  auto b = body(m);
  auto type = content_type(m);
  if (b.empty()) return std::nullopt;
  if (type == "application/sdp") return std::string(b);
  if (type.starts_with("multipart/")) {
    for (int i = 0; i < osip_list_size(&m->bodies); ++i) {
      auto* part = static_cast<osip_body_t*>(osip_list_get(&m->bodies, i));
      auto* ct = part ? part->content_type : nullptr;
      if (ct && ct->type && ct->subtype && osip_strcasecmp(ct->type, "application") == 0 &&
          osip_strcasecmp(ct->subtype, "sdp") == 0 && part->body)
        return std::string(part->body, part->length);
    }
  }
  *other = true;
  return std::nullopt;
}

bool allows(const osip_message_t* m, std::string_view method) {
  for (int i = 0; i < osip_list_size(&m->allows); ++i) {
    auto* a = static_cast<osip_allow_t*>(osip_list_get(&m->allows, i));
    if (a && a->value && osip_strcasecmp(a->value, std::string(method).c_str()) == 0) return true;
  }
  return false;
}

}  // namespace

Call* Endpoint::Impl::find(CallId id) {
  auto it = calls.find(id);
  return it == calls.end() ? nullptr : &it->second;
}

Call* Endpoint::Impl::find_dialog(const osip_message_t* req) {
  auto it = by_local_tag.find(std::string(to_tag(req)));
  if (it == by_local_tag.end()) return nullptr;
  auto* c = find(it->second);
  if (!c || c->call_id != call_id(req) || c->remote_tag != from_tag(req)) return nullptr;
  return c;
}

void Endpoint::Impl::track_peer(Call& c, const Peer& from) {
  // Requests of ours go where the caller's last request came from (symmetric signalling: the
  // NAT's mapping, and for TCP its live connection).
  if (from.transport == Transport::tcp && from.conn != c.peer.conn) {
    if (c.holds_conn) transport.release(c.peer.conn);
    transport.hold(from.conn);
    c.holds_conn = true;
  }
  c.peer = from;
}

void Endpoint::Impl::arm(Call& c) {
  std::optional<Clock::time_point> first;
  for (auto& t : {c.answer_by, c.ok_resend_at, c.ack_by, c.refresh_at, c.expire_at})
    if (t && (!first || *t < *first)) first = t;
  if (first) call_timers.schedule(*first, c.id, ++c.gen);
}

void Endpoint::Impl::start_timer(Call& c, const TimerDecision& d) {
  c.timer = d;
  c.refresh_at.reset();
  c.expire_at.reset();
  if (d.kind != TimerDecision::Kind::use) return;
  auto now = Clock::now();
  if (d.we_refresh) c.refresh_at = now + std::chrono::seconds(d.refresh_after());
  c.expire_at = now + std::chrono::seconds(d.we_refresh ? d.interval : d.expire_after());
}

Msg Endpoint::Impl::dialog_response(Call& c, const osip_message_t* req, int code,
                                    std::string_view reason) {
  auto r = make_response(req, code, c.local_tag, reason);
  if (code > 100 && code < 300) {
    // RFC 3261 section 12.1.1: the response that makes the dialog carries its route set back.
    if (method(req) == "INVITE") {
      for (int i = 0; i < osip_list_size(&req->record_routes); ++i) {
        osip_record_route_t* rr = nullptr;
        if (osip_record_route_clone(
                static_cast<osip_record_route_t*>(osip_list_get(&req->record_routes, i)), &rr) == 0)
          osip_list_add(&r->record_routes, rr, -1);
      }
    }
    add_header(r.get(), "Contact", contact(c.peer.transport));
  }
  if (code >= 200 && code < 300) {
    add_header(r.get(), "Allow", kAllow);
    if (opts.timers.session_expires > 0) add_header(r.get(), "Supported", kSupported);
  }
  add_common(r.get(), true);
  return r;
}

void Endpoint::Impl::apply_timer(Call&, const TimerDecision& d, Msg& resp) {
  if (d.kind != TimerDecision::Kind::use) return;
  add_header(resp.get(), "Session-Expires", d.session_expires_header());
  if (d.require) add_header(resp.get(), "Require", "timer");
}

bool Endpoint::Impl::respond_pending(Call& c, int code, std::string_view sdp,
                                     std::string_view reason, std::string_view warning) {
  auto* tx = txs.get(c.pending_tx);
  if (c.pending == Call::Pending::none || !tx || !tx->request()) {
    c.pending = Call::Pending::none;
    return false;
  }
  auto resp = dialog_response(c, tx->request(), code, reason);
  if (!warning.empty()) add_header(resp.get(), "Warning", warning_value(adv_host, warning));
  if (code < 200) {
    if (!sdp.empty()) set_body(resp.get(), "application/sdp", sdp);
    c.provisional_sent = true;
    txs.respond(*tx, std::move(resp));
    return true;
  }
  auto kind = c.pending;
  c.pending = Call::Pending::none;
  c.answer_by.reset();
  if (code >= 300) {
    txs.respond(*tx, std::move(resp));
    arm(c);
    return true;
  }
  apply_timer(c, c.pending_timer, resp);
  if (!sdp.empty()) {
    set_body(resp.get(), "application/sdp", sdp);
    c.local_sdp = std::string(sdp);
  }
  if (kind == Call::Pending::update) {
    txs.respond(*tx, std::move(resp));
  } else {
    // The IST sends this once and ends (RFC 3261 section 17.2.1); the 200 is ours to repeat
    // until the ACK (section 13.3.1.4).
    c.ok_wire = serialize(resp.get());
    c.ok_peer = tx->peer;
    c.awaiting_ack = true;
    c.ack_cseq = cseq_number(tx->request()).value_or(0);
    c.ack_delivers_answer = !c.pending_has_offer;
    auto now = Clock::now();
    if (c.ok_peer.transport == Transport::udp) {
      c.ok_interval = opts.t1;
      c.ok_resend_at = now + opts.t1;
    }
    c.ack_by = now + 64 * opts.t1;
    if (kind == Call::Pending::invite) {
      ++stats.answered;
      c.state = Call::State::confirmed;
    }
    txs.respond(*tx, std::move(resp));
  }
  if (kind != Call::Pending::invite) ++stats.refreshes_received;
  start_timer(c, c.pending_timer);
  arm(c);
  return true;
}

void Endpoint::Impl::new_call(Msg req, const Peer& from) {
  auto* r = req.get();
  auto cid = call_id(r);
  std::string remote_tag(from_tag(r));
  auto key = cid + '\x1f' + remote_tag;
  auto cseq = cseq_number(r).value_or(0);
  if (auto it = by_remote.find(key); it != by_remote.end()) {
    auto* c = find(it->second);
    if (c && cseq == c->invite_cseq) {
      // The INVITE again, after our 200 ended its transaction: the call exists already.
      ++stats.invites_absorbed;
      if (c->awaiting_ack && !c->ok_wire.empty()) transport.send(c->ok_peer, c->ok_wire);
      return;
    }
    ++stats.rejected_policy;
    return stateless(r, from, 482, "a call with this Call-ID and From tag exists", "Loop Detected");
  }
  if (calls.size() >= opts.max_dialogs || txs.live() >= opts.max_transactions) {
    ++stats.refused_full;
    return stateless(r, from, 503, "too many calls", {},
                     {{"Retry-After", std::to_string(opts.retry_after.count())}});
  }
  TimerAsk ask;
  if (!read_timer_ask(r, ask)) {
    ++stats.rejected_policy;
    return stateless(r, from, 400, "malformed Session-Expires or Min-SE");
  }
  auto timer = negotiate(ask, opts.timers);
  if (timer.kind == TimerDecision::Kind::too_small) {
    ++stats.rejected_policy;
    return stateless(r, from, 422, "session interval too small", {},
                     {{"Min-SE", std::to_string(timer.min_se)}});
  }
  bool other = false;
  auto offer = sdp_of(r, &other);
  if (other) {
    ++stats.rejected_policy;
    return stateless(r, from, 415, "the body is not application/sdp", {},
                     {{"Accept", "application/sdp"}});
  }
  if (!app) return stateless(r, from, 503, "no application takes calls");

  IncomingCall in;
  in.request_user = unescaped(r->req_uri ? r->req_uri->username : nullptr);
  in.request_uri = uri_string(r->req_uri);
  in.from_user = unescaped(r->from->url ? r->from->url->username : nullptr);
  in.from_display = display_name(r->from->displayname);
  in.from_uri = uri_string(r->from->url);
  in.call_id = cid;
  in.source_ip = from.addr.to_string();
  in.source_port = from.port;
  in.transport = from.transport;
  in.offer = offer;

  Call c;
  c.id = next_call++;
  c.call_id = cid;
  c.local_tag = random_token(8);
  c.remote_tag = remote_tag;
  {
    char* s = nullptr;
    osip_from_to_str(r->from, &s);
    c.remote_uri = owned(s);
    osip_to_t* to = nullptr;
    osip_to_clone(r->to, &to);
    osip_to_set_tag(to, osip_strdup(c.local_tag.c_str()));
    s = nullptr;
    osip_to_to_str(to, &s);
    osip_to_free(to);
    c.local_uri = owned(s);
  }
  osip_contact_t* contact_hdr = nullptr;
  osip_message_get_contact(r, 0, &contact_hdr);
  c.remote_target = uri_string(contact_hdr && contact_hdr->url ? contact_hdr->url : r->from->url);
  for (int i = 0; i < osip_list_size(&r->record_routes); ++i) {
    char* s = nullptr;
    osip_record_route_to_str(static_cast<osip_record_route_t*>(osip_list_get(&r->record_routes, i)),
                             &s);
    c.route_set.push_back(owned(s));
  }
  c.peer = from;
  c.remote_cseq = cseq;
  c.invite_cseq = cseq;
  c.peer_allows_update = allows(r, "UPDATE");
  c.pending = Call::Pending::invite;
  c.pending_has_offer = offer.has_value();
  c.pending_timer = timer;
  c.local_cseq = 1 + static_cast<std::uint32_t>(tag_salt % 1000);

  auto* tx = txs.create_server(std::move(req), response_peer(r, from));
  if (!tx) return;
  auto id = c.id;
  c.pending_tx = tx->id;
  tx->owner = id;
  c.answer_by = Clock::now() + opts.answer_timeout;
  if (from.transport == Transport::tcp) {
    transport.hold(from.conn);
    c.holds_conn = true;
  }
  by_local_tag[c.local_tag] = id;
  by_remote[key] = id;
  auto& call = calls.emplace(id, std::move(c)).first->second;
  arm(call);
  ++stats.calls;
  in.call = id;
  app->on_invite(in);
  // RFC 3261 section 17.2.1: an INVITE not answered at once gets 100 Trying.
  auto* now = find(id);
  if (now && now->pending == Call::Pending::invite && !now->provisional_sent)
    if (auto* t = txs.get(now->pending_tx); t && t->request())
      txs.respond(*t, make_response(t->request(), 100, {}));
}

void Endpoint::Impl::handle_ack(Msg req, const Peer& from) {
  auto* c = find_dialog(req.get());
  if (!c || !c->awaiting_ack || cseq_number(req.get()).value_or(0) != c->ack_cseq) {
    ++stats.stray;  // a repeated ACK, or one for nothing we know
    return;
  }
  track_peer(*c, from);
  c->awaiting_ack = false;
  c->ok_wire.clear();
  c->ok_resend_at.reset();
  c->ack_by.reset();
  std::optional<std::string> answer;
  if (c->ack_delivers_answer) {
    bool other = false;
    answer = sdp_of(req.get(), &other);
  }
  if (c->bye_after_ack) {
    send_bye(*c);
    return end(*c, std::nullopt);
  }
  arm(*c);
  if (app) app->on_ack(c->id, answer);
}

void Endpoint::Impl::in_dialog(Msg req, const Peer& from) {
  auto* r = req.get();
  auto m = method(r);
  auto* c = find_dialog(r);
  if (!c) {
    ++stats.not_found_481;
    return stateless(r, from, 481, "no dialog matches this request");
  }
  auto cseq = cseq_number(r).value_or(0);
  if (cseq <= c->remote_cseq) {
    // RFC 3261 section 12.2.2: lower than the last one seen (and not a retransmission, which
    // its transaction would have caught).
    ++stats.rejected_policy;
    return stateless(r, from, 500, "CSeq lower than the last request's", "Out of Order");
  }
  c->remote_cseq = cseq;
  track_peer(*c, from);
  auto to = response_peer(r, from);
  auto id = c->id;

  if (m == "BYE") {
    auto ok = dialog_response(*c, r, 200);
    if (auto* tx = txs.create_server(std::move(req), to)) txs.respond(*tx, std::move(ok));
    if (c->pending != Call::Pending::none) respond_pending(*c, 487, {}, {}, {});
    return end(*c, EndReason::remote_bye);
  }

  if (m == "INVITE" || m == "UPDATE") {
    bool invite = m == "INVITE";
    if (c->pending != Call::Pending::none) {
      // RFC 3261 section 14.2 / RFC 3311 section 5.2: an offer of theirs is still unanswered.
      ++stats.rejected_policy;
      std::uniform_int_distribution<int> d(0, 10);
      static std::minstd_rand rng(static_cast<unsigned>(tag_salt));
      return stateless(r, from, 500, "an earlier offer is still being answered", {},
                       {{"Retry-After", std::to_string(d(rng))}});
    }
    bool other = false;
    auto offer = sdp_of(r, &other);
    if (other) {
      ++stats.rejected_policy;
      return stateless(r, from, 415, "the body is not application/sdp", {},
                       {{"Accept", "application/sdp"}});
    }
    if (c->awaiting_ack || (c->refresh_tx && txs.get(c->refresh_tx))) {
      ++stats.rejected_policy;  // glare with our own offer (RFC 3261 section 14.2)
      return stateless(r, from, 491, "an offer of ours is in progress");
    }
    TimerAsk ask;
    if (!read_timer_ask(r, ask)) {
      ++stats.rejected_policy;
      return stateless(r, from, 400, "malformed Session-Expires or Min-SE");
    }
    auto timer = negotiate(ask, opts.timers);
    if (timer.kind == TimerDecision::Kind::too_small) {
      ++stats.rejected_policy;
      return stateless(r, from, 422, "session interval too small", {},
                       {{"Min-SE", std::to_string(timer.min_se)}});
    }
    if (allows(r, "UPDATE")) c->peer_allows_update = true;
    auto* tx = txs.create_server(std::move(req), to);
    if (!tx) return;
    tx->owner = id;
    c->pending_tx = tx->id;
    c->pending_timer = timer;
    c->provisional_sent = false;
    if (!invite && !offer) {
      // A bare UPDATE: a session refresh (RFC 4028), answered here.
      c->pending = Call::Pending::update;
      respond_pending(*c, 200, {}, {}, {});
      return;
    }
    c->pending = invite ? Call::Pending::reinvite : Call::Pending::update;
    c->pending_has_offer = offer.has_value();
    c->answer_by = Clock::now() + std::min<Clock::duration>(opts.answer_timeout, 32s);
    arm(*c);
    if (app)
      app->on_reoffer(id, offer);
    else
      respond_pending(*c, 488, {}, {}, "no application takes offers");
    auto* now = find(id);
    if (invite && now && now->pending == Call::Pending::reinvite && !now->provisional_sent)
      if (auto* t = txs.get(now->pending_tx); t && t->request())
        txs.respond(*t, make_response(t->request(), 100, {}));
    return;
  }

  if (m == "INFO") {
    auto type = content_type(r);
    auto b = body(r);
    int code = 200;
    std::string why;
    std::optional<InfoDigit> digit;
    if (!b.empty()) {
      if (!is_dtmf_info_type(type)) {
        code = 415;
      } else if (!(digit = parse_dtmf_info(type, b, &why))) {
        code = 400;
      }
    }
    auto resp = dialog_response(*c, r, code);
    if (code == 415) add_header(resp.get(), "Accept", "application/dtmf-relay, application/dtmf");
    if (code == 400) add_header(resp.get(), "Warning", warning_value(adv_host, why));
    if (auto* tx = txs.create_server(std::move(req), to)) txs.respond(*tx, std::move(resp));
    if (digit) {
      ++stats.dtmf_info;
      if (app) app->on_info_digit(id, digit->digit, digit->duration_ms);
    }
    return;
  }

  if (m == "PRACK") {
    ++stats.not_found_481;  // we never send reliable provisional responses
    return stateless(r, from, 481, "no reliable provisional response to acknowledge");
  }
  ++stats.rejected_policy;
  stateless(r, from, refusal_for_method(m), {}, {}, {{"Allow", kAllow}});
}

Msg Endpoint::Impl::dialog_request(Call& c, std::string_view m, std::uint32_t cseq) {
  // RFC 3261 section 12.2.1.1: Request-URI and Route from the remote target and route set.
  std::string target = c.remote_target;
  std::vector<std::string> routes = c.route_set;
  if (!routes.empty()) {
    osip_route_t* first = nullptr;
    osip_route_init(&first);
    if (osip_route_parse(first, routes.front().c_str()) == 0 && first->url) {
      osip_uri_param_t* lr = nullptr;
      osip_uri_uparam_get_byname(first->url, const_cast<char*>("lr"), &lr);
      if (!lr) {  // a strict router: it gets the Request-URI, the target goes last
        target = uri_string(first->url);
        routes.erase(routes.begin());
        routes.push_back("<" + c.remote_target + ">");
      }
    }
    osip_route_free(first);
  }
  auto req = new_msg();
  osip_uri_t* uri = nullptr;
  osip_uri_init(&uri);
  if (osip_uri_parse(uri, target.c_str()) != 0) {
    osip_uri_free(uri);
    return nullptr;
  }
  std::string mm(m);
  osip_message_set_method(req.get(), osip_strdup(mm.c_str()));
  osip_message_set_version(req.get(), osip_strdup("SIP/2.0"));
  osip_message_set_uri(req.get(), uri);
  auto via = "SIP/2.0/" + std::string(transport_name(c.peer.transport)) + " " + adv_host + ":" +
             std::to_string(adv_port) + ";branch=" + new_branch() + ";rport";
  osip_message_set_via(req.get(), via.c_str());
  osip_message_set_from(req.get(), c.local_uri.c_str());
  osip_message_set_to(req.get(), c.remote_uri.c_str());
  osip_message_set_call_id(req.get(), c.call_id.c_str());
  osip_message_set_cseq(req.get(), (std::to_string(cseq) + " " + mm).c_str());
  osip_message_set_max_forwards(req.get(), "70");
  for (auto& route : routes) osip_message_set_route(req.get(), route.c_str());
  add_common(req.get(), false);
  return req;
}

void Endpoint::Impl::send_bye(Call& c) {
  if (auto req = dialog_request(c, "BYE", ++c.local_cseq))
    txs.send_request(std::move(req), c.peer, 0, kBye);  // runs out on its own: owner none
}

void Endpoint::Impl::send_refresh(Call& c) {
  if (c.refresh_tx && txs.get(c.refresh_tx)) return;
  bool by_invite = !c.peer_allows_update;
  if (by_invite && c.local_sdp.empty()) return;  // nothing to offer: the expiry decides
  auto cseq = ++c.local_cseq;
  auto req = dialog_request(c, by_invite ? "INVITE" : "UPDATE", cseq);
  if (!req) return;
  // In our refresh we are the UAC: refresher=uac keeps the refreshing ours (RFC 4028 sec. 7.4).
  add_header(req.get(), "Session-Expires", std::to_string(c.timer.interval) + ";refresher=uac");
  add_header(req.get(), "Supported", kSupported);
  add_header(req.get(), "Contact", contact(c.peer.transport));
  add_header(req.get(), "Allow", kAllow);
  if (by_invite) set_body(req.get(), "application/sdp", c.local_sdp);
  c.refresh_cseq = cseq;
  c.refresh_by_invite = by_invite;
  c.refresh_ack_wire.clear();
  auto* tx =
      txs.send_request(std::move(req), c.peer, c.id, by_invite ? kRefreshInvite : kRefreshUpdate);
  c.refresh_tx = tx ? tx->id : 0;
  ++stats.refreshes_sent;
}

void Endpoint::Impl::on_tx_response(Tx& tx, const osip_message_t& resp) {
  auto* c = find(tx.owner);
  int code = resp.status_code;
  if (!c || code < 200) return;
  if (tx.purpose != kRefreshInvite && tx.purpose != kRefreshUpdate) return;
  c->refresh_tx = 0;
  auto now = Clock::now();
  if (code < 300) {
    if (tx.purpose == kRefreshInvite) {
      // The ACK of a 2xx is the UAC core's, not the transaction's (RFC 3261 section 13.2.2.4).
      if (auto ack = dialog_request(*c, "ACK", c->refresh_cseq)) {
        c->refresh_ack_wire = serialize(ack.get());
        transport.send(c->peer, c->refresh_ack_wire);
      }
    }
    TimerAsk ask;
    auto d = c->timer;
    if (auto se = header(&resp, {"session-expires", "x"}); se && parse_session_expires(*se, ask)) {
      d.interval = std::max(*ask.session_expires, opts.timers.min_se);
      if (ask.uac_refreshes) d.we_refresh = *ask.uac_refreshes;  // we are the UAC here
    }
    start_timer(*c, d);
  } else if (code == 491) {
    std::uniform_int_distribution<int> ms(2100, 4000);  // RFC 3261 section 14.1
    static std::minstd_rand rng(static_cast<unsigned>(tag_salt >> 7));
    c->refresh_at = now + std::chrono::milliseconds(ms(rng));
  } else if (code == 481 || code == 408) {
    return end(*c, EndReason::refresh_failed);  // RFC 3261 section 12.2.1.2: the dialog is gone
  } else if ((code == 501 || code == 405) && tx.purpose == kRefreshUpdate) {
    c->peer_allows_update = false;  // try a re-INVITE instead
    c->refresh_at = now;
  }
  arm(*c);
}

void Endpoint::Impl::on_tx_failure(Tx& tx) {
  auto* c = find(tx.owner);
  if (!c || (tx.purpose != kRefreshInvite && tx.purpose != kRefreshUpdate)) return;
  c->refresh_tx = 0;
  ++stats.session_expired;
  send_bye(*c);  // RFC 4028 section 10: a refresh without an answer ends the session
  end(*c, EndReason::session_expired);
}

void Endpoint::Impl::handle_response(Msg resp) {
  int code = resp->status_code;
  bool invite_2xx = code >= 200 && code < 300 && cseq_method(resp.get()) == "INVITE";
  std::string tag(from_tag(resp.get()));
  auto cseq = cseq_number(resp.get()).value_or(0);
  if (txs.receive_response(std::move(resp))) return;
  if (invite_2xx) {
    // A repeated 2xx of our refreshing re-INVITE (its ICT ended with the first): ACK again.
    if (auto it = by_local_tag.find(tag); it != by_local_tag.end())
      if (auto* c = find(it->second);
          c && c->refresh_cseq == cseq && !c->refresh_ack_wire.empty()) {
        transport.send(c->peer, c->refresh_ack_wire);
        return;
      }
  }
  ++stats.stray;
}

void Endpoint::Impl::on_call_timer(CallId id, std::uint32_t gen) {
  auto* c = find(id);
  if (!c || gen != c->gen) return;
  auto now = Clock::now();
  if (c->answer_by && *c->answer_by <= now) {
    c->answer_by.reset();
    if (c->pending == Call::Pending::invite) {
      ++stats.answer_timeouts;
      respond_pending(*c, 480, {}, {}, "the call was not answered in time");
      return end(*c, EndReason::answer_timeout);
    }
    if (c->pending != Call::Pending::none)
      respond_pending(*c, 500, {}, {}, "the offer was not answered in time");
  }
  if (c->awaiting_ack && c->ack_by && *c->ack_by <= now) {
    ++stats.ack_timeouts;
    c->awaiting_ack = false;
    bool asked = c->bye_after_ack;
    send_bye(*c);  // RFC 3261 section 13.3.1.4: no ACK in 64*T1
    return end(*c, asked ? std::nullopt : std::optional(EndReason::ack_timeout));
  }
  if (c->awaiting_ack && c->ok_resend_at && *c->ok_resend_at <= now) {
    ++stats.ok_retransmitted;
    transport.send(c->ok_peer, c->ok_wire);
    c->ok_interval = std::min<Clock::duration>(2 * c->ok_interval, 8 * opts.t1);  // T2
    c->ok_resend_at = now + c->ok_interval;
  }
  if (c->expire_at && *c->expire_at <= now) {
    ++stats.session_expired;
    send_bye(*c);
    return end(*c, EndReason::session_expired);
  }
  if (c->refresh_at && *c->refresh_at <= now) {
    c->refresh_at.reset();
    send_refresh(*c);
    if (!(c = find(id))) return;
  }
  arm(*c);
}

void Endpoint::Impl::end(Call& c, std::optional<EndReason> reason) {
  auto id = c.id;
  if (auto* tx = txs.get(c.pending_tx); tx && tx->owner == id) tx->owner = 0;
  if (auto* tx = txs.get(c.refresh_tx); tx && tx->owner == id) tx->owner = 0;
  if (c.holds_conn) transport.release(c.peer.conn);
  if (auto it = by_local_tag.find(c.local_tag); it != by_local_tag.end() && it->second == id)
    by_local_tag.erase(it);
  if (auto it = by_remote.find(c.call_id + '\x1f' + c.remote_tag);
      it != by_remote.end() && it->second == id)
    by_remote.erase(it);
  ++stats.ended;
  calls.erase(id);
  if (reason && app) app->on_end(id, *reason);
}

}  // namespace confab::sip
