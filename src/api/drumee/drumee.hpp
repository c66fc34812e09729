#pragma once
// The Drumee face. See docs/api/drumee.md for the protocol.
#include "api/common/face.hpp"

namespace confab::api::drumee {

class Drumee final : public Face {
 public:
  explicit Drumee(FaceContext ctx);
  ~Drumee() override;
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

}  // namespace confab::api::drumee
