// Kazoo blackhole WebSocket messages, through the real EventSocket with a live room behind it.
#include "api/kazoo/event_socket.hpp"
#include "bus/local_bus.hpp"
#include "core/error.hpp"
#include "core/service.hpp"

#include <boost/json.hpp>

#include <cstdint>

namespace {

struct NullConn final : confab::net::WsConnection {
  std::size_t sent = 0;
  std::string name = "fuzz";
  void send(std::shared_ptr<const std::string>) override { ++sent; }
  void close() override {}
  const std::string& remote() const override { return name; }
};

struct World {
  confab::bus::LocalBus bus;
  confab::core::ConferenceService svc{bus, [] { return std::int64_t{1000}; }, "fuzz-secret"};
  confab::api::kazoo::EventSocket sock{svc, bus, "fuzz@node"};
  std::string account, conference, token;
  World() {
    std::string key;
    auto a = svc.prepare_account(boost::json::object{{"name", "a"}}, false, key);
    svc.commit(a);
    account = a.doc.id;
    auto c = svc.prepare("conference", account, {}, confab::core::WriteMode::create,
                         boost::json::object{{"name", "c"}});
    svc.commit(c);
    conference = c.doc.id;
    token = svc.auth_api_key(key);
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static World w;
  auto conn = std::make_shared<NullConn>();
  auto h = w.sock.accept({}, conn);
  std::string_view in(reinterpret_cast<const char*>(data), size);
  // Authenticate first so the fuzzer reaches subscribe/unsubscribe parsing, then replay the
  // input with placeholders filled in, then make an event flow through whatever was bound.
  std::string msg(in);
  for (auto [ph, val] : {std::pair<std::string_view, const std::string*>{"$T", &w.token},
                         {"$A", &w.account},
                         {"$C", &w.conference}})
    for (std::size_t p; (p = msg.find(ph)) != std::string::npos;) msg.replace(p, 2, *val);
  h->on_message(R"({"action":"ping","auth_token":")" + w.token + "\"}");
  h->on_message(msg);
  try {
    auto p = w.svc.join(w.account, w.conference, {});
    w.svc.participant_action(w.account, w.conference, p.participant_id, "mute");
    w.svc.leave(w.account, w.conference, p.participant_id, "left");
  } catch (const confab::Error&) {
  }
  h->on_close();
  return 0;
}
