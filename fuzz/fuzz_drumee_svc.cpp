// Drumee: /-/svc/<service> calls, their parameters from the query string and a JSON or form body
// (wire.hpp Params), through the real Drumee face. Input: "METHOD TARGET\nheaders\n\nbody"
// (without an empty line, all after the first line is the body); $H stands for the hub, $S for
// the socket id of a live socket of alice (open for the input), $T for alice's token, $B for
// bob's user id, $C for a conference of the account.
#include "api/drumee/drumee.hpp"
#include "face_world.hpp"

#include <boost/json.hpp>

using confab::fuzz::FaceWorld;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static FaceWorld w;
  static confab::api::drumee::Drumee drumee{w.ctx};
  auto token = w.next_input();
  // A live socket of alice: its id comes in its first frame (sys.hello).
  auto conn = std::make_shared<confab::fuzz::Conn>();
  auto h = drumee.accept(FaceWorld::upgrade("/-/websocket", token, *conn), conn);
  std::string socket_id;
  if (h && !conn->frames.empty()) {
    boost::system::error_code ec;
    auto hello = boost::json::parse(conn->frames.front(), ec);
    if (!ec && hello.is_object())
      if (auto* d = hello.as_object().if_contains("data"); d && d->is_object())
        if (auto* id = d->as_object().if_contains("socket_id"); id && id->is_string())
          socket_id = std::string(id->as_string());
  }
  auto in = FaceWorld::fill(
      std::string(reinterpret_cast<const char*>(data), size),
      {{"$H", w.hub}, {"$S", socket_id}, {"$T", token}, {"$B", w.bob}, {"$C", w.conference}});
  auto req = FaceWorld::request(in, conn->name);
  bool answered = !drumee.handles(req.path);  // the server gives the face its paths only
  if (!answered) drumee.handle(std::move(req), [&](confab::net::Response) { answered = true; });
  w.run_until(answered);
  if (h) h->on_close();
  w.settle();
  return 0;
}
