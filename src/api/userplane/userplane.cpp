#include "api/userplane/userplane.hpp"

namespace confab::api::userplane {

struct Userplane::Impl {
  FaceContext ctx;
};

Userplane::Userplane(FaceContext ctx) : impl_(std::make_unique<Impl>(Impl{ctx})) {}
Userplane::~Userplane() = default;
bool Userplane::handles(std::string_view) const {
  return false;
}
void Userplane::handle(net::Request&&, net::Reply) {}
std::optional<net::WsHandlers> Userplane::accept(const net::Request&,
                                                 std::shared_ptr<net::WsConnection>) {
  return std::nullopt;
}

}  // namespace confab::api::userplane
