#pragma once
// The Userplane face. See docs/api/userplane.md for the protocol.
#include "api/common/face.hpp"

namespace confab::api::userplane {

class Userplane final : public Face {
 public:
  explicit Userplane(FaceContext ctx);
  ~Userplane() override;
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

}  // namespace confab::api::userplane
