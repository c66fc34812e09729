// confab_ws_fanout: event fan-out latency of the Kazoo event socket.
//
// Opens N WebSocket connections to /v2/websocket, subscribes each to conference.event.{C}.*, then
// drives R participant actions per second (mute / unmute alternately on one joined participant)
// over one keep-alive HTTP connection. Each action yields exactly one mute-member or
// unmute-member event on those bindings (its companion command event goes only to
// conference.command bindings). The send of action i is timestamped just before the request is
// written; every subscriber's receipt of event i is timestamped when its read completes, and the
// difference is one latency sample.
//
// Deliveries are matched to sends on data.msg_id and data.event (fanout_match.hpp).
//
// Single thread, one io_context, C++20 coroutines. Prints a human summary and one line
// "RESULT {json}" for scripts. Exit status: 0 when the scenario ran (whatever the latencies),
// 2 when it could not run (no subscriber, HTTP failures, bad arguments).
#include "fanout_match.hpp"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json.hpp>

#include <sys/resource.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <iostream>
#include <string>
#include <unordered_map>
#include <vector>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace json = boost::json;
using tcp = asio::ip::tcp;
using asio::awaitable;
using asio::use_awaitable;
using confab::bench::Clock;

namespace {

struct Options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
  std::string token, account, conference;
  int participant = 0;  // 0: join one
  int subscribers = 1000;
  double rate = 100;     // actions per second
  double duration = 10;  // seconds of sending
  int setup_concurrency = 64;
  double drain = 5;             // seconds to wait for stragglers after the last send
  int max_outstanding = 100;    // unanswered requests before the sender waits
  double max_send_seconds = 0;  // stop sending after this long (default 1.5 x duration)
};

void usage() {
  std::cerr << "usage: confab_ws_fanout --port P --token T --account A --conference C\n"
               "         [--host 127.0.0.1] [--participant ID] [--subscribers 1000]\n"
               "         [--rate 100] [--duration 10] [--setup-concurrency 64] [--drain 5]\n"
               "         [--max-outstanding 100] [--max-send-seconds 1.5*duration]\n";
}

bool parse_args(int argc, char** argv, Options& o) {
  using Set = std::function<void(const std::string&)>;
  auto num = [](auto& field) -> Set {
    return [&field](const std::string& v) {
      std::size_t end = 0;
      double d = std::stod(v, &end);
      if (end != v.size()) throw std::invalid_argument(v);
      field = static_cast<std::remove_reference_t<decltype(field)>>(d);
    };
  };
  auto str = [](std::string& field) -> Set {
    return [&field](const std::string& v) { field = v; };
  };
  const std::unordered_map<std::string, Set> setters{
      {"--host", str(o.host)},
      {"--port", num(o.port)},
      {"--token", str(o.token)},
      {"--account", str(o.account)},
      {"--conference", str(o.conference)},
      {"--participant", num(o.participant)},
      {"--subscribers", num(o.subscribers)},
      {"--rate", num(o.rate)},
      {"--duration", num(o.duration)},
      {"--setup-concurrency", num(o.setup_concurrency)},
      {"--drain", num(o.drain)},
      {"--max-outstanding", num(o.max_outstanding)},
      {"--max-send-seconds", num(o.max_send_seconds)},
  };
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    auto it = setters.find(k);
    if (it == setters.end()) {
      if (k != "-h" && k != "--help") std::cerr << "unknown option " << k << "\n";
      return false;
    }
    if (i + 1 >= argc) {
      std::cerr << "missing value for " << k << "\n";
      return false;
    }
    std::string v = argv[++i];
    try {
      it->second(v);
    } catch (const std::exception&) {
      std::cerr << "bad value for " << k << ": " << v << "\n";
      return false;
    }
  }
  if (o.max_send_seconds <= 0) o.max_send_seconds = 1.5 * o.duration;
  if (!o.port || o.token.empty() || o.account.empty() || o.conference.empty()) {
    std::cerr << "--port, --token, --account and --conference are required\n";
    return false;
  }
  if (o.subscribers < 1 || o.rate <= 0 || o.duration <= 0 || o.setup_concurrency < 1 ||
      o.max_outstanding < 1) {
    std::cerr << "--subscribers, --rate, --duration, --setup-concurrency and --max-outstanding "
                 "must be positive\n";
    return false;
  }
  return true;
}

// Each subscriber needs one descriptor; leave room for the HTTP client and the runtime.
void raise_nofile(std::size_t want) {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
  if (rl.rlim_cur >= want) return;
  rl.rlim_cur = std::min<rlim_t>(rl.rlim_max, want);
  if (setrlimit(RLIMIT_NOFILE, &rl) != 0) std::perror("setrlimit(RLIMIT_NOFILE)");
  if (rl.rlim_cur < want)
    std::cerr << "warning: RLIMIT_NOFILE hard limit " << rl.rlim_max << " is below " << want
              << "\n";
}

double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto tv = [](timeval t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  return tv(ru.ru_utime) + tv(ru.ru_stime);
}

struct Subscriber {
  explicit Subscriber(asio::any_io_executor ex) : ws(ex) {}
  websocket::stream<beast::tcp_stream> ws;
  beast::flat_buffer buf;
  confab::bench::Cursor cur;
  bool ready = false;
  bool alive = true;
};

struct HttpClient;

struct State {
  Options opt;
  std::unique_ptr<HttpClient> http;  // outlives every coroutine that uses it
  tcp::endpoint ep;
  std::string host_header;
  std::vector<std::unique_ptr<Subscriber>> subs;
  std::array<std::string, 2> actions;  // actions[i % 2] is send i
  confab::bench::Matcher match;

  std::uint32_t responded = 0;
  bool reader_failed = false;
  std::vector<std::uint32_t> http_rtt_us;

  int setup_in_flight = 0, ready = 0, setup_failed = 0, closed_early = 0;
  std::uint64_t http_errors = 0, late_sends = 0;
  std::chrono::microseconds max_send_lag{0};
  std::string first_error;
  bool stopping = false;

  void note_error(const std::string& e) {
    if (first_error.empty()) first_error = e;
  }
};

awaitable<void> subscriber(State& st, Subscriber& s, int n) {
  try {
    auto& sock = beast::get_lowest_layer(s.ws);
    sock.expires_after(std::chrono::seconds(15));
    co_await sock.async_connect(st.ep, use_awaitable);
    sock.socket().set_option(tcp::no_delay(true));
    co_await s.ws.async_handshake(st.host_header, "/v2/websocket", use_awaitable);
    sock.expires_never();
    s.ws.text(true);
    s.ws.read_message_max(1 << 20);
    std::string rid = "sub-" + std::to_string(n);
    json::object msg{
        {"action", "subscribe"},
        {"auth_token", st.opt.token},
        {"request_id", rid},
        {"data", json::object{{"account_id", st.opt.account},
                              {"binding", "conference.event." + st.opt.conference + ".*"}}}};
    co_await s.ws.async_write(asio::buffer(json::serialize(msg)), use_awaitable);
    for (;;) {  // the reply to our subscribe
      s.buf.clear();
      co_await s.ws.async_read(s.buf, use_awaitable);
      auto r = json::parse(beast::buffers_to_string(s.buf.cdata()));
      auto& o = r.as_object();
      auto* got = o.if_contains("request_id");
      if (got && got->is_string() && got->as_string() == rid) {
        auto* status = o.if_contains("status");
        if (!status || !status->is_string() || status->as_string() != "success")
          throw std::runtime_error("subscribe refused: " + json::serialize(r));
        break;
      }
    }
    s.ready = true;
    ++st.ready;
    --st.setup_in_flight;
    // From here the tool reads the raw socket and splits the server's (unmasked) frames itself:
    // Beast's per-message machinery cost more than the server's send, and made the measuring
    // client, not the server, the bottleneck at 100,000 deliveries a second. No event can be in
    // Beast's buffer yet: events start only once every subscriber is ready.
    auto& raw = s.ws.next_layer().socket();
    std::vector<char> in(1 << 16);
    std::size_t have = 0;
    for (;;) {
      if (have == in.size()) in.resize(in.size() * 2);
      have += co_await raw.async_read_some(asio::buffer(in.data() + have, in.size() - have),
                                           use_awaitable);
      auto now = Clock::now();
      std::size_t off = 0;
      while (have - off >= 2) {
        auto* b = reinterpret_cast<const unsigned char*>(in.data() + off);
        std::size_t len = b[1] & 0x7f, hdr = 2;
        if (len == 126) {
          if (have - off < 4) break;
          len = std::size_t{b[2]} << 8 | b[3];
          hdr = 4;
        } else if (len == 127) {
          if (have - off < 10) break;
          len = 0;
          for (int i = 0; i < 8; ++i) len = len << 8 | b[2 + i];
          hdr = 10;
        }
        if (have - off < hdr + len) break;
        if ((b[0] & 0x0f) == 1) st.match.on_text(s.cur, {in.data() + off + hdr, len}, now);
        off += hdr + len;
      }
      std::memmove(in.data(), in.data() + off, have - off);
      have -= off;
    }
  } catch (const std::exception& e) {
    s.alive = false;
    if (st.stopping) co_return;
    if (!s.ready) {
      ++st.setup_failed;
      --st.setup_in_flight;
      st.note_error("subscriber " + std::to_string(n) + " setup: " + e.what());
    } else {
      ++st.closed_early;
      st.note_error("subscriber " + std::to_string(n) + " closed: " + e.what());
    }
  }
}

struct HttpClient {
  explicit HttpClient(asio::any_io_executor ex) : stream(ex) {}
  beast::tcp_stream stream;
  beast::flat_buffer buf;

  awaitable<http::response<http::string_body>> call(State& st, http::verb verb,
                                                    const std::string& target, std::string body) {
    http::request<http::string_body> req{verb, target, 11};
    req.set(http::field::host, st.host_header);
    req.set("X-Auth-Token", st.opt.token);
    req.set(http::field::content_type, "application/json");
    req.keep_alive(true);
    req.body() = std::move(body);
    req.prepare_payload();
    stream.expires_after(std::chrono::seconds(10));
    co_await http::async_write(stream, req, use_awaitable);
    http::response<http::string_body> res;
    co_await http::async_read(stream, buf, res, use_awaitable);
    stream.expires_never();
    co_return res;
  }
};

awaitable<void> sleep_for(Clock::duration d) {
  asio::steady_timer t(co_await asio::this_coro::executor);
  t.expires_after(d);
  co_await t.async_wait(use_awaitable);
}

// Ends the run: every pending operation completes with an error the coroutines ignore, after
// which io_context::run returns by itself.
void close_all(State& st) {
  st.stopping = true;
  beast::error_code ec;
  for (auto& s : st.subs) beast::get_lowest_layer(s->ws).socket().close(ec);
  if (st.http) st.http->stream.socket().close(ec);
}

// Takes the pipelined responses in order; response j answers send j.
awaitable<void> read_responses(State& st, HttpClient& cli, std::uint32_t total) {
  try {
    for (std::uint32_t j = 0; j < total; ++j) {
      http::response<http::string_body> res;
      co_await http::async_read(cli.stream, cli.buf, res, use_awaitable);
      auto rtt = Clock::now() - st.match.sent_at(j);
      st.http_rtt_us.push_back(static_cast<std::uint32_t>(
          std::chrono::duration_cast<std::chrono::microseconds>(rtt).count()));
      st.responded = j + 1;
      if (res.result_int() != 202) {
        ++st.http_errors;
        st.note_error("action " + std::to_string(j) + ": HTTP " + std::to_string(res.result_int()) +
                      " " + res.body());
      }
    }
  } catch (const std::exception& e) {
    if (st.stopping) co_return;
    st.reader_failed = true;
    st.note_error(std::string("HTTP connection: ") + e.what());
  }
}

// Throws on anything that makes the run meaningless.
awaitable<void> run(State& st) {
  auto ex = co_await asio::this_coro::executor;
  auto& o = st.opt;
  st.http = std::make_unique<HttpClient>(ex);
  auto& cli = *st.http;
  co_await cli.stream.async_connect(st.ep, use_awaitable);
  cli.stream.socket().set_option(tcp::no_delay(true));
  std::string base = "/v2/accounts/" + o.account + "/conferences/" + o.conference + "/participants";

  // The participant whose mute state we toggle; joined before anyone subscribes so that its
  // add-member event is not in the measurement.
  int pid = o.participant;
  json::object pview;
  if (!pid) {
    auto res = co_await cli.call(st, http::verb::post, base,
                                 R"({"data":{"name":"fanout-bench","number":"9000"}})");
    if (res.result_int() != 201)
      throw std::runtime_error("join failed: " + std::to_string(res.result_int()) + " " +
                               res.body());
    pview = json::parse(res.body()).at("data").as_object();
    pid = static_cast<int>(pview.at("participant_id").to_number<std::int64_t>());
  } else {
    auto res = co_await cli.call(st, http::verb::get, base + "/" + std::to_string(pid), "");
    if (res.result_int() != 200)
      throw std::runtime_error("participant lookup failed: " + std::to_string(res.result_int()) +
                               " " + res.body());
    pview = json::parse(res.body()).at("data").as_object();
  }
  bool speaking = pview.at("speak").as_bool();
  st.actions = speaking ? std::array<std::string, 2>{"mute", "unmute"}
                        : std::array<std::string, 2>{"unmute", "mute"};
  auto events = speaking ? std::array<std::string, 2>{"mute-member", "unmute-member"}
                         : std::array<std::string, 2>{"unmute-member", "mute-member"};

  // Connect and subscribe, a bounded number at a time.
  auto t_setup = Clock::now();
  for (int i = 0; i < o.subscribers; ++i) {
    while (st.setup_in_flight >= o.setup_concurrency)
      co_await sleep_for(std::chrono::milliseconds(1));
    st.subs.push_back(std::make_unique<Subscriber>(ex));
    ++st.setup_in_flight;
    asio::co_spawn(ex, subscriber(st, *st.subs.back(), i), asio::detached);
  }
  while (st.ready + st.setup_failed < o.subscribers &&
         Clock::now() - t_setup < std::chrono::seconds(60))
    co_await sleep_for(std::chrono::milliseconds(5));
  double setup_s = std::chrono::duration<double>(Clock::now() - t_setup).count();
  std::cout << "subscribed " << st.ready << "/" << o.subscribers << " in " << setup_s << " s"
            << (st.setup_failed ? " (" + std::to_string(st.setup_failed) + " failed)" : "")
            << std::endl;
  if (st.ready == 0) throw std::runtime_error("no subscriber could subscribe: " + st.first_error);
  co_await sleep_for(std::chrono::milliseconds(300));

  // Drive the actions on a fixed schedule, open loop: requests are pipelined on the one
  // keep-alive connection and a separate reader takes the responses in order, so a slow answer
  // does not delay the next send. Only when --max-outstanding requests are unanswered does the
  // sender wait (the server is not keeping up); such sends are counted as late. Sending stops
  // at --max-send-seconds even if not all planned actions went out, to bound the run.
  auto total = static_cast<std::uint32_t>(o.rate * o.duration + 0.5);
  st.match.plan(total, events, static_cast<std::size_t>(total) * st.ready);
  st.http_rtt_us.reserve(total);
  auto interval =
      std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(1.0 / o.rate));
  std::array<std::string, 2> wire;
  for (int k = 0; k < 2; ++k) {
    std::string body = R"({"data":{"action":")" + st.actions[k] + R"("}})";
    wire[k] =
        "PUT " + base + "/" + std::to_string(pid) + " HTTP/1.1\r\nHost: " + st.host_header +
        "\r\nX-Auth-Token: " + o.token +
        "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
        "\r\n\r\n" + body;
  }
  asio::co_spawn(ex, read_responses(st, cli, total), asio::detached);
  asio::steady_timer timer(ex);
  auto start = Clock::now();
  double cpu0 = cpu_seconds();
  auto send_deadline = start + std::chrono::duration_cast<Clock::duration>(
                                   std::chrono::duration<double>(o.max_send_seconds));
  for (std::uint32_t i = 0; i < total && !st.reader_failed; ++i) {
    auto due = start + i * interval;
    if (Clock::now() >= send_deadline) break;
    if (Clock::now() < due) {
      timer.expires_at(due);
      co_await timer.async_wait(use_awaitable);
    }
    while (st.match.sent() - st.responded >= static_cast<std::uint32_t>(o.max_outstanding) &&
           !st.reader_failed && Clock::now() < send_deadline)
      co_await sleep_for(std::chrono::microseconds(500));
    if (Clock::now() >= send_deadline) break;
    auto t = Clock::now();
    auto lag = std::chrono::duration_cast<std::chrono::microseconds>(t - due);
    st.max_send_lag = std::max(st.max_send_lag, lag);
    if (lag > interval) ++st.late_sends;
    st.match.sent(i, t);
    co_await asio::async_write(cli.stream, asio::buffer(wire[i % 2]), use_awaitable);
  }
  double send_s = std::chrono::duration<double>(Clock::now() - start).count();

  // Wait for every live subscriber to catch up, or for the drain deadline.
  auto drain_until = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                        std::chrono::duration<double>(o.drain));
  for (;;) {
    std::uint32_t sent = st.match.sent();
    bool done = st.responded >= sent && std::all_of(st.subs.begin(), st.subs.end(), [&](auto& s) {
                  return !s->ready || !s->alive || s->cur.next >= sent;
                });
    if (done || Clock::now() >= drain_until) break;
    co_await sleep_for(std::chrono::milliseconds(5));
  }
  double cpu = cpu_seconds() - cpu0;
  double wall = std::chrono::duration<double>(Clock::now() - start).count();

  close_all(st);

  // Report.
  using confab::bench::percentile_ms;
  auto& lat = st.match.latencies_us();
  auto& mc = st.match.counts();
  std::uint32_t sent = st.match.sent();
  std::uint64_t expected = static_cast<std::uint64_t>(sent) * st.ready;
  std::uint64_t got = lat.size();
  std::sort(lat.begin(), lat.end());
  auto pct = [&](double p) { return percentile_ms(lat, p); };
  double max_ms = lat.empty() ? 0 : lat.back() / 1000.0;
  auto& rtt = st.http_rtt_us;
  std::sort(rtt.begin(), rtt.end());
  auto rtt_pct = [&](double p) { return percentile_ms(rtt, p); };
  double achieved = sent / send_s;
  std::printf(
      "sent %u of %u actions in %.2f s (%.1f/s of %.1f/s asked), late sends %llu, max "
      "send lag %.2f ms; %u answered, HTTP round trip p50 %.2f p99 %.2f max %.2f ms, "
      "HTTP errors %llu\n",
      sent, total, send_s, achieved, o.rate, static_cast<unsigned long long>(st.late_sends),
      st.max_send_lag.count() / 1000.0, st.responded, rtt_pct(50), rtt_pct(99), rtt_pct(100),
      static_cast<unsigned long long>(st.http_errors));
  std::printf(
      "deliveries %llu of %llu expected, lost %llu, mismatched %llu, duplicates %llu, "
      "closed early %d\n",
      static_cast<unsigned long long>(got), static_cast<unsigned long long>(expected),
      static_cast<unsigned long long>(expected - std::min(expected, got)),
      static_cast<unsigned long long>(mc.mismatched),
      static_cast<unsigned long long>(mc.duplicates), st.closed_early);
  if (mc.unparsable || mc.parse_disagreements)
    std::printf("unparsable messages %llu, quick/full parse disagreements %llu\n",
                static_cast<unsigned long long>(mc.unparsable),
                static_cast<unsigned long long>(mc.parse_disagreements));
  std::printf("latency ms: p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f\n", pct(50), pct(90),
              pct(99), pct(99.9), max_ms);
  // The server writes to its subscribers one after another: the spread between the best- and
  // worst-served subscriber's mean latency is about the time of one fan-out pass.
  double best_ms = 0, worst_ms = 0;
  bool any = false;
  for (auto& s : st.subs) {
    if (!s->cur.received) continue;
    double m = s->cur.latency_sum_us / s->cur.received / 1000.0;
    best_ms = any ? std::min(best_ms, m) : m;
    worst_ms = any ? std::max(worst_ms, m) : m;
    any = true;
  }
  std::printf("per-subscriber mean latency ms: best %.3f  worst %.3f\n", best_ms, worst_ms);
  std::printf("client CPU %.1f%% of one core over %.1f s\n", 100.0 * cpu / wall, wall);
  if (!st.first_error.empty()) std::printf("first error: %s\n", st.first_error.c_str());
  json::object r{{"subscribers", o.subscribers},
                 {"subscribed", st.ready},
                 {"setup_failed", st.setup_failed},
                 {"setup_seconds", setup_s},
                 {"rate", o.rate},
                 {"achieved_rate", achieved},
                 {"planned", total},
                 {"sent", sent},
                 {"answered", st.responded},
                 {"http_p50_ms", rtt_pct(50)},
                 {"http_p99_ms", rtt_pct(99)},
                 {"send_seconds", send_s},
                 {"late_sends", st.late_sends},
                 {"max_send_lag_ms", st.max_send_lag.count() / 1000.0},
                 {"max_http_rtt_ms", rtt_pct(100)},
                 {"http_errors", st.http_errors},
                 {"expected", expected},
                 {"count", got},
                 {"lost", expected - std::min(expected, got)},
                 {"mismatched", mc.mismatched},
                 {"duplicates", mc.duplicates},
                 {"unparsable", mc.unparsable},
                 {"parse_disagreements", mc.parse_disagreements},
                 {"closed_early", st.closed_early},
                 {"p50_ms", pct(50)},
                 {"p90_ms", pct(90)},
                 {"p99_ms", pct(99)},
                 {"p999_ms", pct(99.9)},
                 {"max_ms", max_ms},
                 {"best_subscriber_mean_ms", best_ms},
                 {"worst_subscriber_mean_ms", worst_ms},
                 {"client_cpu_pct", 100.0 * cpu / wall},
                 {"first_error", st.first_error}};
  std::printf("RESULT %s\n", json::serialize(r).c_str());
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  // Declared first so that it is destroyed last: the sockets in State need its services.
  asio::io_context io{1};
  State st;
  if (!parse_args(argc, argv, st.opt)) {
    usage();
    return 2;
  }
  raise_nofile(static_cast<std::size_t>(st.opt.subscribers) + 64);
  try {
    st.ep = tcp::endpoint(asio::ip::make_address(st.opt.host), st.opt.port);
  } catch (const std::exception& e) {
    std::cerr << "bad --host: " << e.what() << "\n";
    return 2;
  }
  st.host_header = st.opt.host + ":" + std::to_string(st.opt.port);
  int status = 0;
  asio::co_spawn(io, run(st), [&](std::exception_ptr e) {
    if (e) {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& x) {
        std::cerr << "ws_fanout: " << x.what() << "\n";
      }
      status = 2;
    } else if (st.match.sent() == 0 || st.http_errors > 0 || st.reader_failed) {
      status = 2;
    }
    close_all(st);
  });
  io.run();
  return status;
}
