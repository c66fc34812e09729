#pragma once
// The XiVO face: xuc's REST login (/xuc/api/2.0/auth/...) and its CTI WebSocket
// (/xuc/api/2.0/cti), with the conference part of the claz/command protocol. See docs/api/xivo.md.
#include "api/common/face.hpp"

namespace confab::api::xivo {

class Cti final : public Face {
 public:
  explicit Cti(FaceContext ctx);
  ~Cti() override;
  bool handles(std::string_view path) const override;
  void handle(net::Request&& req, net::Reply reply) override;
  std::optional<net::WsHandlers> accept(const net::Request& req,
                                        std::shared_ptr<net::WsConnection> conn) override;
  std::optional<net::Response> transport_error(int status, std::string_view message,
                                               std::string_view path) const override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace confab::api::xivo
