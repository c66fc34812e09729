#include "sip/transactions.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <stdexcept>

namespace confab::sip {

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

Tx* tx_of(osip_transaction_t* tr) {
  return static_cast<Tx*>(osip_transaction_get_reserved1(tr));
}

Transactions* layer_of(osip_transaction_t* tr) {
  return static_cast<Transactions*>(osip_get_application_context(static_cast<osip_t*>(tr->config)));
}

bool terminated(state_t s) {
  return s == ICT_TERMINATED || s == IST_TERMINATED || s == NICT_TERMINATED || s == NIST_TERMINATED;
}

// osip's clock is CLOCK_MONOTONIC (osip_gettimeofday), steady_clock's too; deadlines are
// carried over as a delay from now so that any offset osip applies cancels out.
Clock::time_point to_steady(const timeval& at) {
  timeval now{};
  osip_gettimeofday(&now, nullptr);
  auto delta = std::chrono::seconds(at.tv_sec - now.tv_sec) +
               std::chrono::microseconds(at.tv_usec - now.tv_usec);
  return Clock::now() + std::max<Clock::duration>(delta, Clock::duration::zero());
}

bool due(const timeval& t, const timeval& now) {
  return t.tv_sec != -1 && !osip_timercmp(&now, &t, <);
}

// The timers each state runs, in the order osip's own timer functions test them
// (osip_timers_*_execute): the one that ends the transaction first.
struct Timer {
  type_t event;
  const timeval* at;
};

int active_timers(const osip_transaction_t* tr, Timer out[3]) {
  int n = 0;
  switch (tr->ctx_type) {
    case IST: {
      auto* c = tr->ist_context;
      if (tr->state == IST_CONFIRMED) out[n++] = {TIMEOUT_I, &c->timer_i_start};
      if (tr->state == IST_COMPLETED) {
        out[n++] = {TIMEOUT_H, &c->timer_h_start};
        out[n++] = {TIMEOUT_G, &c->timer_g_start};
      }
      break;
    }
    case NIST:
      if (tr->state == NIST_COMPLETED) out[n++] = {TIMEOUT_J, &tr->nist_context->timer_j_start};
      break;
    case NICT: {
      auto* c = tr->nict_context;
      if (tr->state == NICT_COMPLETED) out[n++] = {TIMEOUT_K, &c->timer_k_start};
      if (tr->state == NICT_TRYING || tr->state == NICT_PROCEEDING) {
        out[n++] = {TIMEOUT_F, &c->timer_f_start};
        out[n++] = {TIMEOUT_E, &c->timer_e_start};
      }
      break;
    }
    case ICT: {
      auto* c = tr->ict_context;
      if (tr->state == ICT_COMPLETED) out[n++] = {TIMEOUT_D, &c->timer_d_start};
      if (tr->state == ICT_CALLING) {
        out[n++] = {TIMEOUT_B, &c->timer_b_start};
        out[n++] = {TIMEOUT_A, &c->timer_a_start};
      }
      break;
    }
  }
  return n;
}

}  // namespace

// Every entry into the layer holds one of these: a transaction that terminates is freed when
// the outermost entry returns, never under a caller still holding it.
struct Transactions::Entry {
  explicit Entry(Transactions& t) : t(t) { ++t.depth_; }
  ~Entry() {
    if (--t.depth_ == 0) t.sweep();
  }
  Transactions& t;
};

bool Tx::final_sent() const {
  return tr->state == IST_COMPLETED || tr->state == IST_CONFIRMED || tr->state == IST_TERMINATED ||
         tr->state == NIST_COMPLETED || tr->state == NIST_TERMINATED;
}

// osip's callbacks are plain functions; they find the layer through osip's application context
// and the Tx through the transaction's reserved1 pointer.
struct TxCallbacks {
  static int send(osip_transaction_t* tr, osip_message_t* msg, char*, int, int) {
    auto* tx = tx_of(tr);
    auto* layer = layer_of(tr);
    if (!tx || !layer) return -1;
    std::string fresh;
    const std::string* bytes = nullptr;
    if (msg == tx->wire_of && (msg == tr->last_response || msg == tr->orig_request)) {
      bytes = &tx->wire;
    } else {
      fresh = serialize(msg);
      bytes = &fresh;
    }
    if (bytes->empty() || !layer->hooks_.send(tx->peer, *bytes)) return -1;
    return 0;
  }

  static void message(int type, osip_transaction_t* tr, osip_message_t* msg) {
    auto* tx = tx_of(tr);
    auto* layer = layer_of(tr);
    if (!tx || !layer) return;
    auto& st = layer->stats_;
    switch (type) {
      case OSIP_IST_INVITE_RECEIVED_AGAIN:
      case OSIP_IST_ACK_RECEIVED_AGAIN:
      case OSIP_NIST_REQUEST_RECEIVED_AGAIN:
        ++st.retransmissions_absorbed;
        break;
      case OSIP_ICT_INVITE_SENT_AGAIN:
      case OSIP_NICT_REQUEST_SENT_AGAIN:
      case OSIP_IST_STATUS_3456XX_SENT_AGAIN:
        ++st.retransmitted;
        break;
      case OSIP_ICT_STATUS_1XX_RECEIVED:
      case OSIP_ICT_STATUS_2XX_RECEIVED:
      case OSIP_ICT_STATUS_3XX_RECEIVED:
      case OSIP_ICT_STATUS_4XX_RECEIVED:
      case OSIP_ICT_STATUS_5XX_RECEIVED:
      case OSIP_ICT_STATUS_6XX_RECEIVED:
      case OSIP_NICT_STATUS_1XX_RECEIVED:
      case OSIP_NICT_STATUS_2XX_RECEIVED:
      case OSIP_NICT_STATUS_3XX_RECEIVED:
      case OSIP_NICT_STATUS_4XX_RECEIVED:
      case OSIP_NICT_STATUS_5XX_RECEIVED:
      case OSIP_NICT_STATUS_6XX_RECEIVED:
        if (msg && tx->owner && layer->hooks_.on_response) layer->hooks_.on_response(*tx, *msg);
        break;
      case OSIP_ICT_STATUS_TIMEOUT:
      case OSIP_NICT_STATUS_TIMEOUT:
        ++st.timeouts;
        if (tx->owner && layer->hooks_.on_failure) layer->hooks_.on_failure(*tx);
        break;
      default:
        break;
    }
  }

  static void transport_error(int type, osip_transaction_t* tr, int) {
    auto* tx = tx_of(tr);
    auto* layer = layer_of(tr);
    if (!tx || !layer) return;
    ++layer->stats_.transport_errors;
    bool client = type == OSIP_ICT_TRANSPORT_ERROR || type == OSIP_NICT_TRANSPORT_ERROR;
    if (client && tx->owner && layer->hooks_.on_failure) layer->hooks_.on_failure(*tx);
  }

  static void kill(int, osip_transaction_t*) {}  // the state is checked after each event
};

Transactions::Transactions(boost::asio::io_context& io, Hooks hooks, std::size_t max)
    : hooks_(std::move(hooks)),
      max_(max),
      timers_(io, [this](std::uint64_t id, std::uint32_t gen) { on_timer(id, gen); }) {
  init_osip();
  if (osip_init(&osip_) != 0) throw std::runtime_error("sip: osip_init failed");
  osip_set_application_context(osip_, this);
  osip_set_cb_send_message(osip_, &TxCallbacks::send);
  for (int t = 0; t < OSIP_MESSAGE_CALLBACK_COUNT; ++t)
    osip_set_message_callback(osip_, t, &TxCallbacks::message);
  for (int t = 0; t < OSIP_KILL_CALLBACK_COUNT; ++t)
    osip_set_kill_transaction_callback(osip_, t, &TxCallbacks::kill);
  for (int t = 0; t < OSIP_TRANSPORT_ERROR_CALLBACK_COUNT; ++t)
    osip_set_transport_error_callback(osip_, t, &TxCallbacks::transport_error);
}

Transactions::~Transactions() {
  timers_.clear();
  for (auto& [id, tx] : by_id_) osip_transaction_free2(tx->tr);
  by_id_.clear();
  osip_release(osip_);
}

std::string Transactions::server_key(const osip_message_t* req, std::string_view as_method) {
  std::string_view m = as_method.empty() ? method(req) : as_method;
  if (m == "ACK") m = "INVITE";
  auto* via = static_cast<osip_via_t*>(osip_list_get(&req->vias, 0));
  std::string sent_by = lower(sv(via ? via->host : nullptr));
  sent_by += ':';
  sent_by += via && via->port ? std::string_view(via->port) : std::string_view("5060");
  auto br = branch(req);
  std::string key(m);
  key += '\x1f';
  if (br.starts_with("z9hG4bK")) {
    key += br;
  } else {
    // RFC 2543 peers (no magic cookie): match on the request's identifying fields instead
    // (RFC 3261 section 17.2.3, the backwards-compatible rule, To tag aside: an ACK carries
    // the tag our response gave, its INVITE none).
    key += "2543\x1f";
    key += call_id(req);
    key += '\x1f';
    key += from_tag(req);
    key += '\x1f';
    key += sv(req->cseq ? req->cseq->number : nullptr);
    key += '\x1f';
    key += br;
  }
  key += '\x1f';
  key += sent_by;
  return key;
}

std::string Transactions::client_key(std::string_view branch, std::string_view method) {
  std::string key = "C\x1f";
  key += method == "ACK" ? "INVITE" : method;
  key += '\x1f';
  key += branch;
  return key;
}

Tx* Transactions::find_server(const osip_message_t* req, std::string_view as_method) {
  auto it = by_key_.find(server_key(req, as_method));
  return it == by_key_.end() || it->second->dead ? nullptr : it->second;
}

Tx* Transactions::create_server(Msg req, const Peer& from) {
  Entry entry(*this);
  if (by_id_.size() >= max_) {
    ++stats_.refused_full;
    return nullptr;
  }
  bool invite = method(req.get()) == "INVITE";
  auto type = invite ? IST : NIST;
  osip_transaction_t* tr = nullptr;
  if (osip_transaction_init(&tr, type, osip_, req.get()) != 0) return nullptr;
  osip_remove_transaction(osip_, tr);  // this layer finds it, not osip's list walk
  auto tx = std::make_unique<Tx>();
  tx->tr = tr;
  tx->id = next_id_++;
  tx->peer = from;
  tx->key = server_key(req.get(), {});
  osip_transaction_set_reserved1(tr, tx.get());
  auto* p = tx.get();
  by_key_[p->key] = p;
  by_id_.emplace(p->id, std::move(tx));
  ++stats_.created[type];
  stats_.live = by_id_.size();
  execute(*p, invite ? RCV_REQINVITE : RCV_REQUEST, req.release());
  return p->dead ? nullptr : p;
}

void Transactions::receive(Tx& tx, Msg req) {
  Entry entry(*this);
  auto m = method(req.get());
  execute(tx, m == "ACK" ? RCV_REQACK : (m == "INVITE" ? RCV_REQINVITE : RCV_REQUEST),
          req.release());
}

void Transactions::respond(Tx& tx, Msg response) {
  Entry entry(*this);
  if (tx.dead) return;
  tx.wire = serialize(response.get());
  tx.wire_of = response.get();
  int code = response->status_code;
  auto type = code < 200 ? SND_STATUS_1XX : (code < 300 ? SND_STATUS_2XX : SND_STATUS_3456XX);
  bool final = code >= 200;
  execute(tx, type, response.release());
  // A final answer is given: the request is no longer needed (retransmissions of it are
  // matched by key and answered from the last response), and a server holding thousands of
  // answered INVITEs for timer I need not hold their SDP too.
  if (final && !tx.dead && tx.tr->orig_request && tx.type() == IST &&
      tx.tr->state != IST_PROCEEDING) {
    osip_message_free(tx.tr->orig_request);
    tx.tr->orig_request = nullptr;
  }
}

Tx* Transactions::send_request(Msg req, const Peer& to, std::uint64_t owner, int purpose) {
  Entry entry(*this);
  if (by_id_.size() >= max_) {
    ++stats_.refused_full;
    return nullptr;
  }
  bool invite = method(req.get()) == "INVITE";
  auto type = invite ? ICT : NICT;
  osip_transaction_t* tr = nullptr;
  if (osip_transaction_init(&tr, type, osip_, req.get()) != 0) return nullptr;
  osip_remove_transaction(osip_, tr);
  auto tx = std::make_unique<Tx>();
  tx->tr = tr;
  tx->id = next_id_++;
  tx->peer = to;
  tx->owner = owner;
  tx->purpose = purpose;
  tx->key = client_key(branch(req.get()), method(req.get()));
  tx->wire = serialize(req.get());
  tx->wire_of = req.get();
  osip_transaction_set_reserved1(tr, tx.get());
  auto* p = tx.get();
  by_key_[p->key] = p;
  by_id_.emplace(p->id, std::move(tx));
  ++stats_.created[type];
  stats_.live = by_id_.size();
  execute(*p, invite ? SND_REQINVITE : SND_REQUEST, req.release());
  return p->dead ? nullptr : p;
}

bool Transactions::receive_response(Msg response) {
  Entry entry(*this);
  auto it = by_key_.find(client_key(branch(response.get()), cseq_method(response.get())));
  if (it == by_key_.end() || it->second->dead) return false;
  int code = response->status_code;
  auto type = code < 200 ? RCV_STATUS_1XX : (code < 300 ? RCV_STATUS_2XX : RCV_STATUS_3456XX);
  execute(*it->second, type, response.release());
  return true;
}

Tx* Transactions::get(std::uint64_t id) {
  auto it = by_id_.find(id);
  return it == by_id_.end() || it->second->dead ? nullptr : it->second.get();
}

void Transactions::disown(std::uint64_t id) {
  if (auto* tx = get(id)) tx->owner = 0;
}

void Transactions::execute(Tx& tx, type_t type, osip_message_t* sip) {
  auto* ev = static_cast<osip_event_t*>(osip_malloc(sizeof(osip_event_t)));
  ev->type = type;
  ev->transactionid = tx.tr->transactionid;
  ev->sip = sip;
  Entry entry(*this);
  osip_transaction_execute(tx.tr, ev);  // frees the event, and the message when unused
  if (terminated(tx.tr->state))
    bury(tx);
  else
    arm(tx);
}

void Transactions::arm(Tx& tx) {
  Timer t[3] = {};
  int n = active_timers(tx.tr, t);
  const timeval* first = nullptr;
  for (int i = 0; i < n; ++i)
    if (t[i].at->tv_sec != -1 && (!first || osip_timercmp(t[i].at, first, <))) first = t[i].at;
  if (!first) return;
  timers_.schedule(to_steady(*first), tx.id, ++tx.gen);
}

void Transactions::on_timer(std::uint64_t id, std::uint32_t gen) {
  Entry entry(*this);
  auto* tx = get(id);
  if (!tx || gen != tx->gen) return;
  Timer t[3] = {};
  int n = active_timers(tx->tr, t);
  timeval now{};
  osip_gettimeofday(&now, nullptr);
  for (int i = 0; i < n; ++i) {
    if (!due(*t[i].at, now)) continue;
    if (t[i].event == TIMEOUT_H) ++stats_.timeouts;
    execute(*tx, t[i].event, nullptr);
    return;
  }
  arm(*tx);  // woke a little early (microseconds lost converting clocks)
}

void Transactions::bury(Tx& tx) {
  if (tx.dead) return;
  tx.dead = true;
  if (auto it = by_key_.find(tx.key); it != by_key_.end() && it->second == &tx) by_key_.erase(it);
  graves_.push_back(tx.id);
}

void Transactions::sweep() {
  for (auto id : graves_) {
    auto it = by_id_.find(id);
    if (it == by_id_.end()) continue;
    osip_transaction_free2(it->second->tr);
    by_id_.erase(it);
  }
  graves_.clear();
  stats_.live = by_id_.size();
}

}  // namespace confab::sip
