#include "app/server.hpp"

#include "api/common/face.hpp"
#include "api/common/persist.hpp"
#include "api/drumee/drumee.hpp"
#include "api/kazoo/event_socket.hpp"
#include "api/kazoo/rest.hpp"
#include "api/userplane/userplane.hpp"
#include "api/xivo/cti.hpp"
#include "app/media_bridge.hpp"
#include "app/prompt_set.hpp"
#include "app/sip_bridge.hpp"
#include "bus/local_bus.hpp"
#include "core/calls.hpp"
#include "core/chat.hpp"
#include "core/crypto.hpp"
#include "core/error.hpp"
#include "core/log_text.hpp"
#include "core/service.hpp"
#include "media/engine.hpp"
#include "net/http_server.hpp"
#include "sip/endpoint.hpp"
#include "store/executor.hpp"
#include "store/media_files.hpp"
#include "store/sqlite/sqlite_store.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/json.hpp>

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <thread>

namespace confab::app {
namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

std::int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string default_node() {
  char host[256] = "localhost";
  gethostname(host, sizeof host - 1);
  return std::string("confab@") + host;
}

// Encodes by codec (the shared-encode promise is checked against these: DESIGN.md section 3).
json::object codec_encodes(const media::Engine::Stats& s) {
  json::object o;
  for (auto c : {media::Codec::opus, media::Codec::g722, media::Codec::pcmu, media::Codec::pcma})
    o[media::codec_name(c)] = s.codec_encodes[static_cast<std::size_t>(c)];
  return o;
}

class NullSink final : public core::EventSink {
 public:
  void publish(const core::Event&) override {}
};

void load_docs(core::ConferenceService& svc, store::Store& st) {
  for (auto& d : st.load_all()) {
    boost::system::error_code ec;
    auto body = json::parse(d.body, ec);
    if (ec || !body.is_object()) {
      spdlog::error("store: skipping unreadable {} {}: {}", d.kind, d.id, ec.message());
      continue;
    }
    svc.load(core::Doc{d.kind, d.id, d.account_id, d.revision, std::move(body.as_object())});
  }
}

// GET /metrics "http" (connections, refusals, timeouts, slow WebSocket consumers) and "control"
// (how long handlers held the control thread, how late its loop ran).
void add_http_metrics(json::object& m, const net::HttpStats& s) {
  m["http"] = json::object{
      {"connections_open", s.connections_open},
      {"websockets_open", s.websockets_open},
      {"connections_accepted", s.connections_accepted},
      {"refused", json::object{{"per_source", s.refused_per_source}, {"total", s.refused_total}}},
      {"accept_errors", s.accept_errors},
      {"timed_out", json::object{{"header", s.timeout_header},
                                 {"body", s.timeout_body},
                                 {"idle", s.timeout_idle},
                                 {"write", s.timeout_write}}},
      {"ws_closed_slow", s.ws_closed_slow},
      {"ws_ping_timeouts", s.ws_ping_timeouts}};
  auto ms = [](double v) { return std::round(v * 1000) / 1000; };
  m["control"] = json::object{{"handler_calls", s.handler_calls},
                              {"max_handler_ms", ms(s.max_handler_ms)},
                              {"slow_handlers", s.slow_handlers},
                              {"loop_lag_max_ms", ms(s.loop_lag_max_ms)}};
}

// GET /metrics "pins" and "logins": what a guessing throttle saw (the conference scope is
// named as the guard names it: "refused_conference" for PINs, "refused_target" for logins).
json::object guard_metrics(const core::PinGuard& g, bool callers) {
  auto p = g.stats();
  json::object o{{"failures", p.failures},
                 {"refused", p.refused},
                 {"refused_source", p.refused_source},
                 {"lockouts", p.lockouts},
                 {"tracked", p.tracked}};
  if (callers) o["refused_caller"] = p.refused_caller;
  o["refused_" + std::string(g.config().conference_scope)] = p.refused_conference;
  return o;
}

// GET /metrics "sip": the endpoint's counters (docs/sip.md); "dialogs" is the live call count.
json::object sip_metrics(const sip::Endpoint& ep) {
  auto& s = ep.stats();
  auto& t = ep.transport_stats();
  auto& r = ep.rate_stats();
  auto x = ep.tx_stats();
  return json::object{
      {"dialogs", ep.dialogs()},
      {"transactions", ep.transactions()},
      {"requests", json::object{{"total", s.requests},
                                {"invite", s.invite},
                                {"ack", s.ack},
                                {"bye", s.bye},
                                {"cancel", s.cancel},
                                {"options", s.options},
                                {"info", s.info},
                                {"update", s.update},
                                {"other", s.other}}},
      {"responses_received", s.responses},
      {"malformed", s.malformed},
      {"malformed_dropped", s.malformed_dropped},
      {"keepalives", s.keepalives + t.keepalives},
      {"stateless_responses", s.stateless},
      {"not_found_481", s.not_found_481},
      {"rejected_policy", s.rejected_policy},
      {"refused_full", s.refused_full},
      {"stray", s.stray},
      {"calls", json::object{{"started", s.calls},
                             {"answered", s.answered},
                             {"ended", s.ended},
                             {"ack_timeouts", s.ack_timeouts},
                             {"session_expired", s.session_expired},
                             {"answer_timeouts", s.answer_timeouts},
                             {"ok_retransmitted", s.ok_retransmitted},
                             {"invites_absorbed", s.invites_absorbed},
                             {"refreshes_received", s.refreshes_received},
                             {"refreshes_sent", s.refreshes_sent},
                             {"dtmf_info", s.dtmf_info}}},
      {"transactions_created",
       json::object{{"ict", x.ict}, {"ist", x.ist}, {"nict", x.nict}, {"nist", x.nist}}},
      {"retransmissions_absorbed", x.absorbed},
      {"retransmitted", x.retransmitted},
      {"transaction_timeouts", x.timeouts},
      {"transport_errors", x.transport_errors},
      {"rate_limit", json::object{{"refused", r.refused},
                                  {"dropped", r.dropped},
                                  {"limited_sources", r.limited_sources},
                                  {"tracked_sources", ep.rate_tracked()}}},
      {"udp", json::object{{"received", t.udp_received},
                           {"sent", t.udp_sent},
                           {"send_errors", t.udp_send_errors},
                           {"oversize_dropped", t.oversize_dropped}}},
      {"tcp", json::object{{"open", t.tcp_open},
                           {"accepted", t.tcp_accepted},
                           {"refused", t.tcp_refused},
                           {"received", t.tcp_received},
                           {"sent", t.tcp_sent},
                           {"closed_idle", t.tcp_closed_idle},
                           {"closed_partial", t.tcp_closed_partial},
                           {"closed_framing", t.tcp_closed_framing},
                           {"closed_slow", t.tcp_closed_slow}}}};
}

sip::EndpointOptions sip_options(const Config& cfg) {
  sip::EndpointOptions o;
  o.transport.host = cfg.sip_host() == "localhost" ? "127.0.0.1" : cfg.sip_host();
  o.transport.port = cfg.sip_port();
  o.transport.max_connections = cfg.sip_max_connections;
  o.transport.max_connections_per_source = cfg.sip_max_connections_per_source;
  o.transport.idle_timeout = std::chrono::seconds(cfg.sip_tcp_idle_timeout);
  o.limits.max_message = cfg.sip_max_message;
  o.limits.max_headers = cfg.sip_max_headers;
  o.limits.max_body = cfg.sip_max_body;
  o.rate.rate = cfg.sip_rate_per_source;
  o.rate.burst = cfg.sip_burst_per_source;
  o.rate.exempt = sip_rate_exempt(cfg);
  o.timers.session_expires = cfg.sip_session_expires;
  o.timers.min_se = cfg.sip_min_se;
  // Unspecified listen address: the media address is the one this host is reached at.
  o.advertise = cfg.sip_advertise;
  if (o.advertise.empty() && (o.transport.host == "0.0.0.0" || o.transport.host == "::"))
    o.advertise = cfg.media_ip;
  o.max_dialogs = cfg.sip_max_dialogs;
  o.max_transactions = cfg.sip_max_transactions;
  o.answer_timeout = std::chrono::seconds(cfg.sip_answer_timeout);
  o.user_agent = std::string("confab/") + CONFAB_VERSION;
  return o;
}

// Each connection is a descriptor: the soft limit (often 1,024) goes up to the hard one, so that
// the connection caps, not the descriptor limit, decide whom we refuse.
void raise_fd_limit(std::size_t max_connections) {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
  if (rl.rlim_cur < rl.rlim_max) {
    auto was = rl.rlim_cur;
    rl.rlim_cur = rl.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &rl) != 0) rl.rlim_cur = was;
  }
  if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < max_connections + 256)
    spdlog::warn(
        "open-file limit {} is below http.max_connections {} plus what the server needs; "
        "past it accept() fails (accept_errors in /metrics) and clients wait unanswered",
        rl.rlim_cur, max_connections);
}

std::string octal_mode(mode_t m) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(m & 07777));
  return buf;
}

// The data dir is the owner's only (0700), whatever the umask: it holds the store, the secret
// and the audio. One left wider (by an older version, or by hand) is narrowed, with a warning.
fs::path prepare_data_dir(const fs::path& dir) {
  std::error_code ec;
  bool existed = fs::exists(dir, ec);
  if (!existed && dir.has_parent_path()) fs::create_directories(dir.parent_path(), ec);
  if (!existed && ::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    throw std::runtime_error("cannot create data dir " + dir.string() + ": " +
                             std::strerror(errno));
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    throw std::runtime_error("data dir " + dir.string() + " is not a directory");
  if ((st.st_mode & 0777) != 0700) {
    if (::chmod(dir.c_str(), 0700) != 0)
      throw std::runtime_error("cannot make data dir " + dir.string() +
                               " mode 0700: " + std::strerror(errno));
    if (existed)
      spdlog::warn("start-up: data dir {} had mode {}; narrowed to 0700", dir.string(),
                   octal_mode(st.st_mode));
  }
  return dir / "confab.db";
}

}  // namespace

// Everything stored depends on secret.key (token signatures, key and password hashes): it is
// the owner's only from its first byte, on disk before anything is signed with it, and an
// existing one that others can read is refused, since it may have been read already; the
// operator decides (chmod 600 it, or replace it, which ends every token and stored hash).
std::string load_secret(const fs::path& data_dir) {
  auto file = data_dir / "secret.key";
  if (int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW); fd >= 0) {
    struct stat st {};
    bool ok = ::fstat(fd, &st) == 0;
    ::close(fd);
    if (!ok || !S_ISREG(st.st_mode))
      throw std::runtime_error(file.string() + " is not a regular file");
    if (st.st_mode & 077)
      throw std::runtime_error(file.string() + " has mode " + octal_mode(st.st_mode) +
                               ": group or others may read the server secret; run chmod 600 " +
                               file.string() + " (and replace it if it may have been read)");
    auto s = store::read_file(file, 4096);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
    if (s.size() >= 32) return s;
    throw std::runtime_error(file.string() + " is too short to be a secret");
  } else if (errno != ENOENT) {
    throw std::runtime_error("cannot open " + file.string() + ": " + std::strerror(errno));
  }
  // A fixed temporary name, swept at start-up should we die before the rename. It is made anew
  // (never reused: an older one may be wider), 0600 from the first byte, synced, renamed into
  // place, and the directory synced, before the secret is used.
  auto secret = core::random_hex(32);
  auto tmp = file;
  tmp += ".tmp";
  if (::unlink(tmp.c_str()) != 0 && errno != ENOENT)
    throw std::runtime_error("cannot remove " + tmp.string() + ": " + std::strerror(errno));
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0)
    throw std::runtime_error("cannot create " + tmp.string() + ": " + std::strerror(errno));
  auto text = secret + "\n";
  bool ok = ::fchmod(fd, 0600) == 0 &&
            ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
            ::fsync(fd) == 0;
  int err = errno;
  if (::close(fd) != 0 && ok) ok = false, err = errno;
  if (!ok || ::rename(tmp.c_str(), file.c_str()) != 0) {
    if (ok) err = errno;
    ::unlink(tmp.c_str());
    throw std::runtime_error("cannot write " + file.string() + ": " + std::strerror(err));
  }
  store::sync_dir(data_dir);
  return secret;
}

int create_account_offline(const fs::path& data_dir, const std::string& name, bool admin) {
  auto db = prepare_data_dir(data_dir);
  auto secret = load_secret(data_dir);
  store::SqliteStore st(db);
  NullSink sink;
  core::ConferenceService svc(sink, unix_now, secret);
  load_docs(svc, st);
  std::string api_key;
  core::PendingWrite w;
  try {
    w = svc.prepare_account(json::object{{"name", name}}, admin, api_key);
  } catch (const Error& e) {
    // Name the field and the rule: "name: unique (Value already in use)".
    std::string why = e.message;
    for (auto& [field, rules] : e.details)
      for (auto& [rule, body] : rules.as_object())
        why = std::string(field) + ": " + std::string(rule) + " (" +
              std::string(body.as_object().at("message").as_string()) + ")";
    throw std::invalid_argument("cannot create account '" + name + "': " + why);
  }
  st.begin();
  st.put({w.doc.kind, w.doc.id, w.doc.account_id, w.doc.revision, json::serialize(w.doc.body)});
  st.commit();
  std::cout << json::serialize(json::object{{"account_id", w.doc.id}, {"api_key", api_key}})
            << std::endl;
  return 0;
}

int serve(const Config& cfg) {
  auto db = prepare_data_dir(cfg.data_dir);
  // A crash mid-write leaves its temporary file behind; nothing refers to it.
  auto stray = store::sweep_temp_files(cfg.data_dir);
  for (auto& p : stray) spdlog::warn("start-up: removed stray temporary file {}", p.string());
  if (!stray.empty())
    spdlog::info("start-up: swept {} stray temporary file(s) from {}", stray.size(),
                 cfg.data_dir.string());
  auto secret = load_secret(cfg.data_dir);
  boost::asio::io_context io{1};
  bus::LocalBus bus;
  core::ServiceConfig scfg;
  scfg.token_ttl_seconds = cfg.token_ttl;
  scfg.pins = cfg.pins;
  scfg.logins = cfg.logins;
  scfg.max_pin_attempts = cfg.pins.caller_attempts;
  scfg.pin_lockout_seconds = cfg.pins.caller_lockout_s;
  core::ConferenceService svc(bus, unix_now, secret, scfg);
  // Each lockout is logged once, when it starts (a guesser's further tries are refused unlogged,
  // and counted in /metrics). A caller key is the number the client claims: shown escaped.
  svc.pin_guard().on_lockout([](std::string_view scope, std::string_view key,
                                std::string_view conference, std::int64_t seconds) {
    spdlog::warn("pins: {} {} locked out of conference {} for {} s after wrong PINs", scope,
                 core::log_text(key), core::log_text(conference), seconds);
  });
  // The same for logins: a source (addr:<ip>) or a target (the account or user name the client
  // typed, escaped) that starts to wait.
  svc.login_guard().on_lockout([](std::string_view scope, std::string_view key,
                                  std::string_view target, std::int64_t seconds) {
    if (scope == "source")
      spdlog::warn("logins: source {} waits {} s after failed logins (the last for {})",
                   core::log_text(key), seconds,
                   target.empty() ? "an API key" : core::log_text(target));
    else
      spdlog::warn("logins: target {} throttled for {} s after failed logins from several sources",
                   core::log_text(key), seconds);
  });
  store::StoreExecutor exec(
      std::make_unique<store::SqliteStore>(db),
      [&io](std::function<void()> f) { boost::asio::post(io, std::move(f)); });

  load_docs(svc, exec.direct());
  // A file swapped in for a document write that never committed is put back (or removed).
  for (auto& line : store::recover_installs(
           cfg.data_dir, [&svc](std::string_view area, std::string_view id) -> std::int64_t {
             auto* d = svc.directory().find(area == "media" ? "media" : "recording", id);
             return d ? d->revision : 0;
           }))
    spdlog::warn("start-up: settled a file install: {}", line);
  if (svc.directory().all("account").empty()) {
    // First start: an admin account whose API key is shown this once.
    std::string api_key;
    auto w = svc.prepare_account(json::object{{"name", "admin"}}, true, api_key);
    auto& st = exec.direct();
    st.begin();
    st.put({w.doc.kind, w.doc.id, w.doc.account_id, w.doc.revision, json::serialize(w.doc.body)});
    st.commit();
    svc.commit(w);
    std::cout << json::serialize(json::object{{"admin_account_id", w.doc.id}, {"api_key", api_key}})
              << std::endl;
    spdlog::warn("created the admin account {}; its API key was printed once above", w.doc.id);
  }

  std::string node = cfg.node.empty() ? default_node() : cfg.node;
  core::Chat chat(svc, bus, unix_ms);
  for (auto& [room, seq] : exec.direct().last_seqs()) chat.load_seq(room, seq);
  core::Calls calls(svc, bus);
  api::Persister persist(svc, exec);
  persist.set_refresh_interval(std::chrono::seconds(cfg.account_reload_interval));
  media::EngineConfig ecfg;
  ecfg.bind_ip = cfg.media_ip;
  ecfg.port_base = static_cast<std::uint16_t>(cfg.media_port);
  ecfg.shards = cfg.media_shards > 0
                    ? cfg.media_shards
                    : std::max(1, static_cast<int>(std::thread::hardware_concurrency()) - 1);
  ecfg.conference_rate = cfg.media_rate;
  ecfg.tick_ms = cfg.media_tick_ms;
  ecfg.max_speakers = cfg.max_speakers;
  ecfg.rtp_timeout_ms = cfg.rtp_timeout_ms;
  ecfg.allow_destinations = allow_destinations(cfg);
  ecfg.realtime_priority = cfg.media_realtime_priority;
  media::Engine engine(ecfg);
  if (ecfg.realtime_priority > 0 && engine.realtime_shards() < ecfg.shards)
    spdlog::warn(
        "media: realtime_priority {} not granted (needs root or CAP_SYS_NICE); shards "
        "run at normal priority",
        ecfg.realtime_priority);
  else if (ecfg.realtime_priority > 0)
    spdlog::info("media: {} shard(s) run SCHED_FIFO priority {}", ecfg.shards,
                 ecfg.realtime_priority);
  MediaBridge media_bridge(svc, bus, engine, persist, io,
                           {cfg.media_ip, cfg.data_dir, cfg.hold_music});
  api::kazoo::Rest rest(svc, persist, {node, CONFAB_VERSION, &media_bridge, cfg.data_dir});
  api::kazoo::EventSocket events(svc, bus, node);
  api::FaceContext ctx{svc, chat, calls, persist, bus, node};
  std::vector<std::unique_ptr<api::Face>> faces;
  faces.push_back(std::make_unique<api::xivo::Cti>(ctx));
  faces.push_back(std::make_unique<api::drumee::Drumee>(ctx));
  faces.push_back(std::make_unique<api::userplane::Userplane>(ctx));

  net::HttpOptions hopts;
  hopts.address = cfg.host() == "localhost" ? "127.0.0.1" : cfg.host();
  {
    boost::system::error_code ec;
    boost::asio::ip::make_address(hopts.address, ec);
    if (ec) throw std::invalid_argument("http: not an IP address: " + cfg.host());
  }
  hopts.port = cfg.port();
  hopts.body_limit = cfg.body_limit;
  hopts.body_limit_for = [&cfg](std::string_view method, std::string_view path) {
    return api::kazoo::Rest::is_upload(method, path) ? cfg.media_upload_limit : cfg.body_limit;
  };
  hopts.error_response = [&rest, &faces](int status, std::string_view msg, std::string_view path) {
    for (auto& f : faces)  // in the format of the face the request was for
      if (f->handles(path))
        if (auto r = f->transport_error(status, msg, path)) return std::move(*r);
    return rest.transport_error(status, msg);
  };
  hopts.header_timeout = std::chrono::seconds(cfg.header_timeout);
  hopts.body_timeout = std::chrono::seconds(cfg.body_timeout);
  hopts.body_min_rate = cfg.body_min_rate;
  hopts.keepalive_timeout = std::chrono::seconds(cfg.keepalive_timeout);
  hopts.max_connections = cfg.max_connections;
  hopts.max_connections_per_source = std::min(cfg.max_connections_per_source, cfg.max_connections);
  hopts.ws_ping_interval = std::chrono::seconds(cfg.ws_ping_interval);
  hopts.ws_idle_timeout = std::chrono::seconds(cfg.ws_idle_timeout);
  hopts.ws_queue_limit = cfg.ws_queue_frames;
  hopts.ws_queue_bytes = cfg.ws_queue_bytes;
  hopts.slow_handler = std::chrono::milliseconds(cfg.slow_handler_ms);
  raise_fd_limit(cfg.max_connections + cfg.sip_max_connections);
  // SIP (docs/sip.md): callers reach conferences through the dial-in bridge (its IVR).
  std::unique_ptr<sip::Endpoint> sip_endpoint;
  std::unique_ptr<sip::SipApp> sip_app;
  PromptSet prompts;
  if (!cfg.sip.empty()) {
    try {
      prompts = PromptSet::load(PromptSet::default_root());
    } catch (const std::exception& e) {
      spdlog::warn("sip: callers will hear no prompts: {}", e.what());
    }
    sip_endpoint = std::make_unique<sip::Endpoint>(io, sip_options(cfg));
    sip_app =
        std::make_unique<SipBridge>(*sip_endpoint, svc, bus, media_bridge, prompts, io,
                                    SipBridgeOptions{cfg.sip_access_number, cfg.sip_language});
    sip_endpoint->set_app(sip_app.get());
    auto h = sip_endpoint->host();
    if (h.find(':') != std::string::npos) h = "[" + h + "]";
    spdlog::info("sip: answering on udp and tcp {}:{}", h, sip_endpoint->port());
  }
  const net::HttpServer* http_server = nullptr;  // for /metrics, set once it exists
  net::HttpServer http(
      io, hopts,
      [&rest, &faces, &engine, &media_bridge, &bus, &http_server, &svc, &persist, &sip_endpoint](
          net::Request&& req, net::Reply reply) {
        for (auto& f : faces)
          if (f->handles(req.path)) return f->handle(std::move(req), std::move(reply));
        if (req.path == "/metrics") {  // counters for benchmarks and operators, JSON
          auto s = engine.stats();
          json::object m{{"media", json::object{{"ticks", s.ticks},
                                                {"late_ticks", s.late_ticks},
                                                {"rx_packets", s.rx_packets},
                                                {"tx_packets", s.tx_packets},
                                                {"rx_unknown", s.rx_unknown},
                                                {"encodes", s.encodes},
                                                {"decodes", s.decodes},
                                                {"rtcp_rx", s.rtcp_rx},
                                                {"rtcp_tx", s.rtcp_tx},
                                                {"events_dropped", s.queue_full},
                                                {"events_deferred", s.events_deferred},
                                                {"rx_refused", s.rx_refused},
                                                {"sleeps", s.sleeps},
                                                {"mixed_samples", s.mixed_samples},
                                                {"rate_changes", s.rate_changes},
                                                {"commands_deferred", s.commands_deferred},
                                                {"commands_waiting", s.commands_waiting},
                                                {"codec_encodes", codec_encodes(s)},
                                                {"legs", media_bridge.legs()},
                                                {"plays", media_bridge.plays()}}},
                         {"events_published", bus.published()}};
          if (http_server) add_http_metrics(m, http_server->stats());
          if (sip_endpoint) m["sip"] = sip_metrics(*sip_endpoint);
          m["pins"] = guard_metrics(svc.pin_guard(), true);
          auto logins = guard_metrics(svc.login_guard(), false);
          logins["account_reloads"] = persist.refreshes();
          m["logins"] = std::move(logins);
          return reply({200, json::serialize(m), "application/json", {}});
        }
        if (req.path == "/healthz") {
          if (req.method != "GET" && req.method != "HEAD")
            return reply({405,
                          R"({"status":"error","message":"method not allowed"})",
                          "application/json",
                          {{"Allow", "GET"}}});
          return reply({200, R"({"status":"ok"})", "application/json", {}});
        }
        rest.handle(std::move(req), std::move(reply));
      },
      [&events, &faces](const net::Request& req,
                        std::shared_ptr<net::WsConnection> conn) -> std::optional<net::WsHandlers> {
        if (req.path == "/v2/websocket") return events.accept(req, std::move(conn));
        for (auto& f : faces)
          if (auto h = f->accept(req, conn)) return h;
        return std::nullopt;
      });
  http_server = &http;

  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    spdlog::info("signal {}: shutting down", sig);
    if (sip_endpoint) sip_endpoint->stop();  // BYE to the calls while the loop still runs
    http.stop();
    // Media first: shards joined (nothing reads a clip any more), running recordings finished
    // and queued on the store as documents.
    media_bridge.shutdown();
    exec.stop();  // every queued write is committed (and its completion posted) first
    // After those completions (posted before this, run in order): every client whose write is
    // on disk gets its reply before the loop ends.
    boost::asio::post(io, [&io] { io.stop(); });
  });

  auto host = cfg.host();
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  spdlog::info("confab {} listening on http://{}:{} (data dir {})", CONFAB_VERSION, host,
               http.port(), cfg.data_dir.string());
  spdlog::info("media: {} shard(s) on {}, {} Hz, {} ms ticks", ecfg.shards, cfg.media_ip,
               ecfg.conference_rate, ecfg.tick_ms);
  // A handler that throws is a bug; it must not take the server down with it.
  for (;;) {
    try {
      io.run();
      break;
    } catch (const std::exception& e) {
      spdlog::error("unhandled exception on the control thread: {}", e.what());
    }
  }
  io.restart();
  io.poll();  // what the last replies left ready (a write's completion) runs, without waiting
  media_bridge.shutdown();
  exec.stop();
  spdlog::info("stopped");
  return 0;
}

}  // namespace confab::app
