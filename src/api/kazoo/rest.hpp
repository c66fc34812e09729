#pragma once
// Kazoo crossbar face: /v2/... REST in Kazoo's envelope. Translates only; every rule is in core.
#include "api/common/media_port.hpp"
#include "api/common/persist.hpp"
#include "core/error.hpp"
#include "core/service.hpp"
#include "net/http.hpp"

#include <boost/json/object.hpp>

#include <filesystem>
#include <functional>
#include <string>
#include <string_view>

namespace confab::api::kazoo {

struct RestOptions {
  std::string node = "confab@localhost";
  std::string version = CONFAB_VERSION;
  MediaPort* media = nullptr;      // null: joins with an SDP offer are refused
  std::filesystem::path data_dir;  // holds media/ and recordings/; empty: no media files
};

class Rest {
 public:
  Rest(core::ConferenceService& svc, Persister& persist, RestOptions opts);
  void handle(net::Request&& req, net::Reply reply);
  // Kazoo-shaped answer for errors raised below the face (body too large, unparsable request).
  net::Response transport_error(int status, std::string_view message) const;
  // A media upload (POST .../media/{M}/raw): the one request whose body may be larger than the
  // HTTP body limit.
  static bool is_upload(std::string_view method, std::string_view path);

  struct Ctx;  // one request's envelope facts

 private:
  void route(Ctx& c, const net::Request& req, net::Reply& reply);
  void accounts(Ctx& c, const net::Request& req, const std::vector<std::string>& seg,
                net::Reply& reply);
  void users(Ctx& c, const net::Request& req, const std::string& account,
             const std::vector<std::string>& seg, net::Reply& reply);
  void hubs(Ctx& c, const net::Request& req, const std::string& account,
            const std::vector<std::string>& seg, net::Reply& reply);
  void conferences(Ctx& c, const net::Request& req, const std::string& account,
                   const std::vector<std::string>& seg, net::Reply& reply);
  void participants(Ctx& c, const net::Request& req, const std::string& account,
                    const std::string& conf, const std::vector<std::string>& seg,
                    net::Reply& reply);
  // media_rest.cpp: the media store and the recordings.
  void media(Ctx& c, const net::Request& req, const std::string& account,
             const std::vector<std::string>& seg, net::Reply& reply);
  void recordings(Ctx& c, const net::Request& req, const std::string& account,
                  const std::vector<std::string>& seg, net::Reply& reply);
  void upload(Ctx& c, const net::Request& req, const core::Doc& doc, net::Reply& reply);
  void download(Ctx& c, const core::Doc& doc, const std::filesystem::path& file, net::Reply& reply);
  std::filesystem::path file_of(const core::Doc& d) const;

  void save(Ctx& c, core::PendingWrite w, int status, net::Reply& reply,
            boost::json::object extra = {});
  // What answers a client once a write of `w` is durable (or failed): the document as saved.
  std::function<void(const std::string& error)> saved(const Ctx& c, const core::PendingWrite& w,
                                                      int status, net::Reply reply,
                                                      boost::json::object extra = {});

  net::Response success(const Ctx& c, int status, boost::json::value data,
                        std::string revision = {}, std::string_view status_word = "success") const;
  net::Response failure(const Ctx& c, const Error& e) const;
  boost::json::object auth_data(const core::TokenClaims& claims) const;

  core::ConferenceService& svc_;
  Persister& persist_;
  RestOptions opts_;
};

}  // namespace confab::api::kazoo
