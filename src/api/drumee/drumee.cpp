#include "api/drumee/drumee.hpp"

namespace confab::api::drumee {

struct Drumee::Impl {
  FaceContext ctx;
};

Drumee::Drumee(FaceContext ctx) : impl_(std::make_unique<Impl>(Impl{ctx})) {}
Drumee::~Drumee() = default;
bool Drumee::handles(std::string_view) const {
  return false;
}
void Drumee::handle(net::Request&&, net::Reply) {}
std::optional<net::WsHandlers> Drumee::accept(const net::Request&,
                                              std::shared_ptr<net::WsConnection>) {
  return std::nullopt;
}

}  // namespace confab::api::drumee
