#pragma once
// libosip2's four transaction state machines (ICT, IST, NICT, NIST) driven from Asio on the
// control thread. osip keeps its transactions in lists it searches linearly and asks to be
// polled for timers; here each transaction leaves osip's lists the moment it is made, is found
// in a hash table keyed as RFC 3261 section 17.2.3 (server) and 17.1.3 (client) match, gets its
// events through osip_transaction_execute, and has the timers osip arms (osip only records when
// they are due) run from one TimerQueue. No thread, no polling.
#include "sip/message.hpp"
#include "sip/timer_queue.hpp"
#include "sip/transport.hpp"

#include <osip2/osip.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace confab::sip {

struct Tx {
  osip_transaction_t* tr = nullptr;
  std::uint64_t id = 0;
  std::uint32_t gen = 0;  // of its timer entry
  Peer peer;              // where its messages go
  std::string key;
  std::uint64_t owner = 0;  // the call it belongs to (0: none)
  int purpose = 0;          // what the owner sent it for (client transactions)
  bool dead = false;
  // The last response, serialised once: retransmissions resend these bytes.
  const osip_message_t* wire_of = nullptr;
  std::string wire;

  osip_fsm_type_t type() const { return tr->ctx_type; }
  const osip_message_t* request() const { return tr->orig_request; }
  bool final_sent() const;  // a server transaction past Proceeding
};

struct TxStats {
  std::uint64_t created[4] = {};  // by osip_fsm_type_t
  std::uint64_t live = 0;
  std::uint64_t retransmissions_absorbed = 0;  // requests answered again, not acted on again
  std::uint64_t retransmitted = 0;             // our own retransmissions (timers A E G)
  std::uint64_t timeouts = 0;                  // timers B F H: no answer, no ACK
  std::uint64_t transport_errors = 0;
  std::uint64_t refused_full = 0;  // not created: at max_transactions
};

class Transactions {
 public:
  struct Hooks {
    std::function<bool(const Peer&, std::string_view)> send;
    // A response arrived on a client transaction (each 1xx, the final one).
    std::function<void(Tx&, const osip_message_t& response)> on_response;
    // A client transaction got no final response (timer B or F) or could not be sent.
    std::function<void(Tx&)> on_failure;
  };
  Transactions(boost::asio::io_context& io, Hooks hooks, std::size_t max_transactions);
  ~Transactions();
  Transactions(const Transactions&) = delete;
  Transactions& operator=(const Transactions&) = delete;

  // The server transaction `req` belongs to (an ACK to a non-2xx finds its INVITE's), or null.
  // `as_method` matches it as if it were that method (a CANCEL looks up its INVITE).
  Tx* find_server(const osip_message_t* req, std::string_view as_method = {});
  // A new IST (INVITE) or NIST, which takes `req`; null at the cap or when osip refuses it.
  Tx* create_server(Msg req, const Peer& from);
  // A retransmission, or the ACK of a non-2xx: the state machine answers or absorbs it.
  void receive(Tx& tx, Msg req);
  // Sends a response on a server transaction (1xx, then one final).
  void respond(Tx& tx, Msg response);
  // Sends a request (INVITE: ICT; else NICT) to `to`. Null at the cap.
  Tx* send_request(Msg req, const Peer& to, std::uint64_t owner, int purpose);
  // A response: true when a client transaction took it.
  bool receive_response(Msg response);
  // A live transaction by id (null once it has terminated).
  Tx* get(std::uint64_t id);
  // Detaches a client transaction from its owner (the call is gone; it runs out alone).
  void disown(std::uint64_t id);

  std::size_t live() const { return by_id_.size(); }
  const TxStats& stats() const { return stats_; }

 private:
  friend struct TxCallbacks;
  struct Entry;
  void execute(Tx& tx, type_t type, osip_message_t* sip);
  void arm(Tx& tx);
  void on_timer(std::uint64_t id, std::uint32_t gen);
  void bury(Tx& tx);
  void sweep();
  static std::string server_key(const osip_message_t* req, std::string_view method);
  static std::string client_key(std::string_view branch, std::string_view method);

  Hooks hooks_;
  std::size_t max_;
  osip_t* osip_ = nullptr;
  TimerQueue timers_;
  std::uint64_t next_id_ = 1;
  std::unordered_map<std::uint64_t, std::unique_ptr<Tx>> by_id_;
  std::unordered_map<std::string, Tx*> by_key_;
  std::vector<std::uint64_t> graves_;
  int depth_ = 0;  // nested entries: the dead are freed when the outermost one returns
  TxStats stats_;
};

}  // namespace confab::sip
