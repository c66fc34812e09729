#include "api/xivo/cti.hpp"

namespace confab::api::xivo {

struct Cti::Impl {
  FaceContext ctx;
};

Cti::Cti(FaceContext ctx) : impl_(std::make_unique<Impl>(Impl{ctx})) {}
Cti::~Cti() = default;
bool Cti::handles(std::string_view) const {
  return false;
}
void Cti::handle(net::Request&&, net::Reply) {}
std::optional<net::WsHandlers> Cti::accept(const net::Request&,
                                           std::shared_ptr<net::WsConnection>) {
  return std::nullopt;
}

}  // namespace confab::api::xivo
