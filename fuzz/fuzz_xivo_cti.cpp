// XiVO: the CTI WebSocket's claz/command frames, and xuc's auth/login and auth/check requests,
// through the real Cti face. Input: frames separated by newlines, sent on a socket of alice
// (logged on with her token), who is the organizer of the room numbered 4000; $N stands for that
// number, $E for bob's extension, $T for alice's token. An input whose first line starts with
// "POST " or "GET " is an HTTP request instead ("METHOD TARGET\nheaders\n\nbody").
#include "api/xivo/cti.hpp"
#include "face_world.hpp"

#include <algorithm>

using confab::fuzz::FaceWorld;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static FaceWorld w;
  static confab::api::xivo::Cti cti{w.ctx};
  auto token = w.next_input();
  auto in =
      FaceWorld::fill(std::string(reinterpret_cast<const char*>(data), size),
                      {{"$N", std::string(FaceWorld::kNumber)}, {"$E", "1002"}, {"$T", token}});
  if (in.starts_with("POST ") || in.starts_with("GET ")) {
    auto req = FaceWorld::request(in);
    bool answered = !cti.handles(req.path);  // the server gives the face its paths only
    if (!answered) cti.handle(std::move(req), [&](confab::net::Response) { answered = true; });
    w.run_until(answered);
    return 0;
  }
  // Alice in her room, as the organizer, so that room commands reach the core.
  auto* room = w.svc.room(w.conference);
  bool there = room && std::any_of(room->participants().begin(), room->participants().end(),
                                   [&](const auto& p) { return p.user_id == w.alice; });
  if (!there) {
    confab::core::JoinRequest j;
    j.user_id = w.alice;
    j.pin = "1234";
    try {
      w.svc.join(w.account, w.conference, j);
    } catch (const confab::Error&) {
    }
  }
  auto conn = std::make_shared<confab::fuzz::Conn>();
  auto h = cti.accept(FaceWorld::upgrade("/xuc/api/2.0/cti", token, *conn), conn);
  if (!h) return 0;
  std::string_view rest = in;
  for (int frames = 0; frames < 64 && !rest.empty(); ++frames) {
    auto nl = rest.find('\n');
    h->on_message(rest.substr(0, nl));
    if (nl == std::string_view::npos) break;
    rest.remove_prefix(nl + 1);
  }
  w.settle();
  h->on_close();
  w.settle();
  return 0;
}
