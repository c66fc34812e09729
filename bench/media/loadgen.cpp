// confab_media_loadgen: puts N plain-RTP participants into R rooms of confab (its Kazoo REST API)
// or of Janus AudioBridge (its HTTP API), streams 20 ms packets, receives the mixes, and reports
// delivery, loss, the server's late ticks and the server's CPU over a measured window.
//
// One thread, one UDP socket for every participant: the socket is bound to 0.0.0.0 on the
// loopback device only, and participant i is the address 127.1.x.y (i + 1 over 127.1.0.0) on
// that one port. Packets leave with IP_PKTINFO naming the participant's source address and are
// batched with sendmmsg; arrivals are told apart by their destination address (IP_PKTINFO on
// receive) and drained with recvmmsg. So 2,000 participants cost the load generator a few
// syscalls per tick, not 4,000, and each server sees 2,000 distinct peers.
//
// Speakers loop one second of a pre-encoded tone (a different pitch each). Listeners behave as a
// muted client: by default they send an encoded silent frame every 20 ms (a browser with a
// disabled track does that); --listener-tx dtx sends one every 400 ms (Opus DTX), none sends
// nothing (confab drops a leg silent for 30 s).
#include "http_client.hpp"

// GCC 12 at -O3 reports a false -Wrestrict inside std::string's operator+ (GCC bug 105329).
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ == 12
#pragma GCC diagnostic ignored "-Wrestrict"
#endif

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <opus/opus.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

namespace json = boost::json;
using bench::HttpClient;
using bench::HttpReply;

namespace {

constexpr std::int64_t kTickNs = 20'000'000;
constexpr std::uint32_t kIpBase = (127u << 24) | (1u << 16);  // 127.1.0.0
constexpr unsigned kBatch = 1024;                             // UIO_MAXIOV

std::int64_t mono_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

[[noreturn]] void die(const std::string& msg) {
  std::fprintf(stderr, "loadgen: %s\n", msg.c_str());
  std::exit(2);
}

struct Options {
  std::string target = "confab";  // confab | janus
  std::string label;
  std::string host = "127.0.0.1";
  int http_port = 0;
  std::string api_key;  // confab
  std::string janus_path = "/janus";
  int pid = 0;  // server process, for its CPU
  int rooms = 1;
  int per_room = 5;
  int speakers = 5;            // per room
  std::string codec = "opus";  // opus | pcmu
  std::string profile;         // confab: the conferences' profile (their mixing rate)
  int janus_rate = 0;          // AudioBridge sampling_rate; 0: 48000 for Opus, 8000 for PCMU
  double warmup_s = 3;
  double window_s = 10;
  double setup_limit_s = 120;
  std::string listener_tx = "silence";  // silence | dtx | none
  int rtp_port = 0;                     // our UDP port (0: any)
  int join_budget = 3000;  // confab: shard commands joins may have queued at once (queue: 4096)
  std::string json_out;
};

void usage() {
  std::puts(
      "confab_media_loadgen --target confab|janus --http-port P [--api-key K] --pid PID\n"
      "  [--rooms R] [--per-room N] [--speakers S] [--codec opus|pcmu] [--warmup S]\n"
      "  [--window S] [--listener-tx silence|dtx|none] [--janus-rate HZ] [--label L]\n"
      "  [--json FILE] [--setup-limit S] [--join-budget CMDS] [--profile NAME]");
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto val = [&]() -> std::string {
      if (i + 1 >= argc) die("missing value for " + a);
      return argv[++i];
    };
    if (a == "--target")
      o.target = val();
    else if (a == "--label")
      o.label = val();
    else if (a == "--host")
      o.host = val();
    else if (a == "--http-port")
      o.http_port = std::stoi(val());
    else if (a == "--api-key")
      o.api_key = val();
    else if (a == "--pid")
      o.pid = std::stoi(val());
    else if (a == "--rooms")
      o.rooms = std::stoi(val());
    else if (a == "--per-room")
      o.per_room = std::stoi(val());
    else if (a == "--speakers")
      o.speakers = std::stoi(val());
    else if (a == "--codec")
      o.codec = val();
    else if (a == "--profile")
      o.profile = val();
    else if (a == "--janus-rate")
      o.janus_rate = std::stoi(val());
    else if (a == "--warmup")
      o.warmup_s = std::stod(val());
    else if (a == "--window")
      o.window_s = std::stod(val());
    else if (a == "--setup-limit")
      o.setup_limit_s = std::stod(val());
    else if (a == "--listener-tx")
      o.listener_tx = val();
    else if (a == "--rtp-port")
      o.rtp_port = std::stoi(val());
    else if (a == "--join-budget")
      o.join_budget = std::stoi(val());
    else if (a == "--json")
      o.json_out = val();
    else if (a == "-h" || a == "--help") {
      usage();
      std::exit(0);
    } else
      die("unknown option " + a);
  }
  if (o.http_port <= 0) die("--http-port is required");
  if (o.target != "confab" && o.target != "janus") die("--target must be confab or janus");
  if (o.codec != "opus" && o.codec != "pcmu") die("--codec must be opus or pcmu");
  if (o.speakers > o.per_room) o.speakers = o.per_room;
  if (o.janus_rate == 0) o.janus_rate = o.codec == "opus" ? 48000 : 8000;
  return o;
}

// ---- media: pre-encoded frames ----

std::uint8_t linear_to_ulaw(int pcm) {
  constexpr int kBias = 0x84, kClip = 32635;
  int sign = (pcm >> 8) & 0x80;
  if (sign) pcm = -pcm;
  if (pcm > kClip) pcm = kClip;
  pcm += kBias;
  int exponent = 7;
  for (int mask = 0x4000; (pcm & mask) == 0 && exponent > 0; mask >>= 1) --exponent;
  int mantissa = (pcm >> (exponent + 3)) & 0x0F;
  return static_cast<std::uint8_t>(~(sign | (exponent << 4) | mantissa));
}

using Frames = std::vector<std::vector<std::uint8_t>>;  // 50 frames: one second

// One second of a tone (or silence when hz == 0), looping without a seam: Opus encodes two
// seconds and keeps the second, so the encoder state at the loop point is the periodic one.
Frames make_frames(const std::string& codec, double hz, double amplitude) {
  Frames out;
  if (codec == "pcmu") {
    for (int f = 0; f < 50; ++f) {
      std::vector<std::uint8_t> fr(160);
      for (int i = 0; i < 160; ++i) {
        double t = (f * 160 + i) / 8000.0;
        fr[static_cast<std::size_t>(i)] =
            linear_to_ulaw(static_cast<int>(amplitude * std::sin(2 * M_PI * hz * t)));
      }
      out.push_back(std::move(fr));
    }
    return out;
  }
  int err = 0;
  OpusEncoder* enc = opus_encoder_create(48000, 1, OPUS_APPLICATION_VOIP, &err);
  if (err != OPUS_OK) die("opus_encoder_create");
  opus_encoder_ctl(enc, OPUS_SET_BITRATE(32000));
  opus_encoder_ctl(enc, OPUS_SET_INBAND_FEC(1));
  opus_encoder_ctl(enc, OPUS_SET_PACKET_LOSS_PERC(5));
  std::vector<opus_int16> pcm(960);
  std::uint8_t buf[1500];
  for (int f = 0; f < 100; ++f) {
    for (int i = 0; i < 960; ++i) {
      double t = ((f % 50) * 960 + i) / 48000.0;
      pcm[static_cast<std::size_t>(i)] =
          static_cast<opus_int16>(amplitude * std::sin(2 * M_PI * hz * t));
    }
    int n = opus_encode(enc, pcm.data(), 960, buf, sizeof buf);
    if (n < 0) die("opus_encode");
    if (f >= 50) out.emplace_back(buf, buf + n);
  }
  opus_encoder_destroy(enc);
  return out;
}

// ---- participants ----

struct Part {
  int idx = 0;
  int room = 0;
  bool speaker = false;
  std::uint32_t ip = 0;  // host order
  sockaddr_in dst{};     // where the server wants our RTP
  bool joined = false;
  int participant_id = -1;   // confab
  std::uint64_t handle = 0;  // janus
  const Frames* frames = nullptr;
  int frame = 0;
  std::uint32_t ssrc = 0;
  std::uint16_t seq = 0;
  std::uint32_t ts = 0;
  std::uint8_t header[12]{};
  alignas(8) std::uint8_t control[CMSG_SPACE(sizeof(in_pktinfo))]{};
  // receive side
  std::uint64_t rx = 0, audible = 0;
  bool rx_any = false;
  std::uint16_t max_seq = 0;
  std::uint32_t cycles = 0;  // extended sequence = cycles + max_seq
  std::uint64_t win_rx = 0, win_audible = 0;
  std::uint32_t win_ext_start = 0;
  bool win_started = false;

  std::uint32_t ext_seq() const { return cycles + max_seq; }
};

std::string ip_str(std::uint32_t host_order) {
  in_addr a{htonl(host_order)};
  char b[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &a, b, sizeof b);
  return b;
}

// ---- process and machine CPU ----

struct CpuSample {
  double proc_s = 0;  // utime + stime of the server, seconds
  double busy_s = 0;  // the whole machine, all cores
  double self_s = 0;  // this load generator
  std::int64_t wall_ns = 0;
};

double proc_cpu_s(int pid) {
  if (pid <= 0) return 0;
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  auto rp = s.rfind(')');
  if (rp == std::string::npos) return 0;
  std::istringstream in(s.substr(rp + 2));
  std::vector<std::string> fields;
  std::string w;
  while (in >> w) fields.push_back(w);
  if (fields.size() < 13) return 0;
  double tck = static_cast<double>(sysconf(_SC_CLK_TCK));
  return (std::stod(fields[11]) + std::stod(fields[12])) / tck;  // utime, stime
}

double machine_busy_s() {
  std::ifstream f("/proc/stat");
  std::string cpu;
  f >> cpu;
  std::vector<double> v;
  double x;
  for (int i = 0; i < 8 && f >> x; ++i) v.push_back(x);
  if (v.size() < 5) return 0;
  double total = 0;
  for (double d : v) total += d;
  return (total - v[3] - v[4]) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double self_cpu_s() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

CpuSample sample_cpu(int pid) {
  return {proc_cpu_s(pid), machine_busy_s(), self_cpu_s(), mono_ns()};
}

// ---- the load generator ----

class LoadGen {
 public:
  explicit LoadGen(Options o)
      : o_(std::move(o)), http_(o_.host, o_.http_port), poll_(o_.host, o_.http_port) {}

  int run();

 private:
  void open_socket();
  void make_media();
  void plan_parts();
  void queue_confab_setup();
  void queue_janus_setup();
  void send_tick();
  void receive();
  void on_datagram(std::uint32_t dst_ip, const std::uint8_t* d, std::size_t n);
  void start_window();
  json::object finish_window();
  json::object metrics();
  json::value call(const std::string& method, const std::string& path, const json::value& body);
  json::value janus(const std::string& path, json::object body);
  void janus_wait_joined(Part& p);

  Options o_;
  HttpClient http_;
  HttpClient poll_;  // Janus long-poll
  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::vector<Part> parts_;
  std::vector<Frames> voices_;
  Frames silence_;
  std::deque<std::function<void()>> steps_;
  std::vector<int> room_legs_;  // confab: legs placed per room so far
  std::deque<std::pair<std::int64_t, std::int64_t>> inflight_;  // (shard tick seen, commands)
  std::int64_t outstanding_ = 0;
  std::int64_t retry_at_ = 0;
  std::vector<std::string> conf_ids_;
  std::string account_;
  std::uint64_t session_ = 0;
  std::uint64_t tick_ = 0;
  std::uint64_t own_late_ = 0, sent_ = 0, send_errors_ = 0, rx_unknown_ = 0;
  std::vector<mmsghdr> tx_msgs_;
  std::vector<iovec> tx_iov_;
  std::vector<mmsghdr> rx_msgs_;
  std::vector<iovec> rx_iov_;
  std::vector<std::uint8_t> rx_buf_;
  std::vector<std::uint8_t> rx_ctl_;
  bool in_window_ = false;
  CpuSample w0_{};
  json::object m0_;
  std::uint64_t own_late0_ = 0;
  std::int64_t setup_ns_ = 0;
  int tx_every_ = 1;  // listeners send every N ticks (0: never)
};

void LoadGen::open_socket() {
  fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0) die("socket");
  int one = 1, size = 32 << 20;
  ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size);
  ::setsockopt(fd_, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size);
  ::setsockopt(fd_, IPPROTO_IP, IP_PKTINFO, &one, sizeof one);
  // Every 127.1.x.y address lands on this one socket, and nothing from outside the machine does.
  if (::setsockopt(fd_, SOL_SOCKET, SO_BINDTODEVICE, "lo", 3) != 0)
    die(std::string("SO_BINDTODEVICE lo: ") + std::strerror(errno));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(o_.rtp_port));
  a.sin_addr.s_addr = htonl(INADDR_ANY);
  if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
    die(std::string("bind: ") + std::strerror(errno));
  socklen_t len = sizeof a;
  ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
  port_ = ntohs(a.sin_port);

  tx_msgs_.resize(kBatch);
  tx_iov_.resize(kBatch * 2);
  rx_msgs_.resize(256);
  rx_iov_.resize(256);
  rx_buf_.resize(256 * 1500);
  rx_ctl_.resize(256 * 64);
}

void LoadGen::make_media() {
  int voices = o_.speakers;
  for (int s = 0; s < voices; ++s) {
    double hz = 200 + 53 * s;  // distinct pitches
    double amp = 5000 + 4000.0 * ((s * 7) % 10) / 10.0;
    voices_.push_back(make_frames(o_.codec, hz, amp));
  }
  silence_ = make_frames(o_.codec, 0, 0);
  if (o_.listener_tx == "silence")
    tx_every_ = 1;
  else if (o_.listener_tx == "dtx")
    tx_every_ = 20;
  else if (o_.listener_tx == "none")
    tx_every_ = 0;
  else
    die("--listener-tx must be silence, dtx or none");
}

void LoadGen::plan_parts() {
  std::uint32_t seed = 0x9e3779b9u;
  auto rnd = [&] {
    seed ^= seed << 13;
    seed ^= seed >> 17;
    seed ^= seed << 5;
    return seed;
  };
  parts_.resize(static_cast<std::size_t>(o_.rooms * o_.per_room));
  for (int r = 0; r < o_.rooms; ++r)
    for (int k = 0; k < o_.per_room; ++k) {
      int i = r * o_.per_room + k;
      auto& p = parts_[static_cast<std::size_t>(i)];
      p.idx = i;
      p.room = r;
      p.speaker = k < o_.speakers;
      p.ip = kIpBase + static_cast<std::uint32_t>(i) + 1;
      p.frames = p.speaker ? &voices_[static_cast<std::size_t>(k)] : &silence_;
      p.frame = static_cast<int>(rnd() % 50);
      p.ssrc = rnd();
      p.seq = static_cast<std::uint16_t>(rnd());
      p.ts = rnd();
      auto* c = reinterpret_cast<cmsghdr*>(p.control);
      c->cmsg_level = IPPROTO_IP;
      c->cmsg_type = IP_PKTINFO;
      c->cmsg_len = CMSG_LEN(sizeof(in_pktinfo));
      in_pktinfo pi{};
      pi.ipi_spec_dst.s_addr = htonl(p.ip);
      std::memcpy(CMSG_DATA(c), &pi, sizeof pi);
    }
  room_legs_.assign(static_cast<std::size_t>(o_.rooms), 0);
}

json::value LoadGen::call(const std::string& method, const std::string& path,
                          const json::value& body) {
  HttpReply r = http_.request(method, path, body.is_null() ? "" : json::serialize(body));
  if (r.status < 200 || r.status >= 300)
    die(method + " " + path + " -> " + std::to_string(r.status) + " " + r.body.substr(0, 300));
  return json::parse(r.body);
}

std::string offer_sdp(const Part& p, std::uint16_t port, const std::string& codec) {
  std::string ip = ip_str(p.ip);
  std::string s = "v=0\r\no=- " + std::to_string(p.idx + 1) + " 1 IN IP4 " + ip +
                  "\r\ns=bench\r\nc=IN IP4 " + ip + "\r\nt=0 0\r\n";
  if (codec == "opus")
    s += "m=audio " + std::to_string(port) +
         " RTP/AVP 111\r\na=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10;useinbandfec=1\r\n";
  else
    s += "m=audio " + std::to_string(port) + " RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";
  return s + "a=ptime:20\r\na=sendrecv\r\n";
}

void set_dst(Part& p, const std::string& ip, int port) {
  p.dst.sin_family = AF_INET;
  p.dst.sin_port = htons(static_cast<std::uint16_t>(port));
  if (inet_pton(AF_INET, ip.c_str(), &p.dst.sin_addr) != 1) die("bad server address " + ip);
}

void LoadGen::queue_confab_setup() {
  steps_.push_back([this] {
    auto r = call("PUT", "/v2/api_auth", json::object{{"data", {{"api_key", o_.api_key}}}});
    http_.set_header("X-Auth-Token: " + std::string(r.at("auth_token").as_string()) + "\r\n");
    account_ = r.at("data").at("account_id").as_string();
  });
  bool join_muted = o_.speakers < o_.per_room;  // listeners join muted; speakers are unmuted
  for (int r = 0; r < o_.rooms; ++r) {
    steps_.push_back([this, r, join_muted] {
      json::object data{{"name", "bench-" + std::to_string(r)},
                        {"member", {{"join_muted", join_muted}}}};
      if (!o_.profile.empty()) data["profile"] = o_.profile;
      auto res =
          call("PUT", "/v2/accounts/" + account_ + "/conferences", json::object{{"data", data}});
      conf_ids_.push_back(std::string(res.at("data").at("id").as_string()));
    });
    for (int k = 0; k < o_.per_room; ++k) {
      int i = r * o_.per_room + k;
      steps_.push_back([this, i, r, join_muted] {
        auto& p = parts_[static_cast<std::size_t>(i)];
        std::string base = "/v2/accounts/" + account_ + "/conferences/" +
                           conf_ids_[static_cast<std::size_t>(r)] + "/participants";
        json::object data{{"name", "p" + std::to_string(i)},
                          {"number", std::to_string(1000 + i)},
                          {"sdp", offer_sdp(p, port_, o_.codec)}};
        auto res = call("POST", base, json::object{{"data", data}});
        auto& d = res.at("data").as_object();
        p.participant_id = static_cast<int>(d.at("participant_id").to_number<std::int64_t>());
        std::string sdp(d.at("sdp").as_string());
        std::string ip = "127.0.0.1";
        int port = 0;
        std::istringstream in(sdp);
        for (std::string line; std::getline(in, line);) {
          if (!line.empty() && line.back() == '\r') line.pop_back();
          if (line.rfind("c=IN IP4 ", 0) == 0) ip = line.substr(9);
          if (line.rfind("m=audio ", 0) == 0) port = std::stoi(line.substr(8));
        }
        if (port <= 0) die("no m=audio in answer: " + sdp);
        set_dst(p, ip, port);
        ++room_legs_[static_cast<std::size_t>(r)];
        if (p.speaker && join_muted)
          call("PUT", base + "/" + std::to_string(p.participant_id),
               json::object{{"data", {{"action", "unmute"}}}});
        p.joined = true;
      });
    }
  }
}

json::value LoadGen::janus(const std::string& path, json::object body) {
  body["transaction"] = "t" + std::to_string(tick_) + "-" + std::to_string(sent_);
  auto r = call("POST", o_.janus_path + path, body);
  auto& o = r.as_object();
  auto kind = o.at("janus").as_string();
  if (kind == "error") die("janus " + path + ": " + json::serialize(r));
  return r;
}

void LoadGen::janus_wait_joined(Part& p) {
  std::int64_t deadline = mono_ns() + 10'000'000'000;
  while (mono_ns() < deadline) {
    HttpReply r = poll_.request(
        "GET", o_.janus_path + "/" + std::to_string(session_) + "?maxev=100", {}, 5000);
    if (r.status != 200) continue;
    json::value v = json::parse(r.body);
    json::array evs;
    if (v.is_array())
      evs = v.as_array();
    else
      evs.push_back(v);
    bool mine = false;
    for (auto& e : evs) {
      auto* o = e.if_object();
      if (!o || !o->contains("plugindata")) continue;
      auto& data = o->at("plugindata").at("data").as_object();
      auto* ab = data.if_contains("audiobridge");
      if (!ab || *ab != "joined" || !data.contains("rtp")) continue;
      auto sender = o->at("sender").to_number<std::uint64_t>();
      for (auto& q : parts_)
        if (q.handle == sender && !q.joined) {
          auto& rtp = data.at("rtp").as_object();
          set_dst(q, std::string(rtp.at("ip").as_string()),
                  static_cast<int>(rtp.at("port").to_number<std::int64_t>()));
          q.joined = true;
          if (&q == &p) mine = true;
        }
    }
    if (mine || p.joined) return;
  }
  die("janus: no joined event for participant " + std::to_string(p.idx));
}

void LoadGen::queue_janus_setup() {
  steps_.push_back([this] {
    auto r = janus("", json::object{{"janus", "create"}});
    session_ = r.at("data").at("id").to_number<std::uint64_t>();
    auto a = janus("/" + std::to_string(session_),
                   json::object{{"janus", "attach"}, {"plugin", "janus.plugin.audiobridge"}});
    auto ctl = a.at("data").at("id").to_number<std::uint64_t>();
    for (int room = 0; room < o_.rooms; ++room) {
      json::object body{{"request", "create"},
                        {"room", 1000 + room},
                        {"sampling_rate", o_.janus_rate},
                        {"allow_rtp_participants", true},
                        {"audiolevel_event", false},
                        {"record", false}};
      auto c = janus("/" + std::to_string(session_) + "/" + std::to_string(ctl),
                     json::object{{"janus", "message"}, {"body", body}});
      auto& d = c.at("plugindata").at("data").as_object();
      if (d.contains("error")) die("janus create room: " + json::serialize(d));
    }
  });
  for (auto& part : parts_) {
    int i = part.idx;
    steps_.push_back([this, i] {
      auto& p = parts_[static_cast<std::size_t>(i)];
      auto a = janus("/" + std::to_string(session_),
                     json::object{{"janus", "attach"}, {"plugin", "janus.plugin.audiobridge"}});
      p.handle = a.at("data").at("id").to_number<std::uint64_t>();
      json::object rtp{
          {"ip", ip_str(p.ip)}, {"port", port_}, {"payload_type", o_.codec == "opus" ? 111 : 0}};
      json::object body{
          {"request", "join"}, {"room", 1000 + p.room}, {"display", "p" + std::to_string(i)},
          {"codec", o_.codec}, {"muted", !p.speaker},   {"rtp", rtp}};
      janus("/" + std::to_string(session_) + "/" + std::to_string(p.handle),
            json::object{{"janus", "message"}, {"body", body}});
      janus_wait_joined(p);
    });
  }
}

void LoadGen::send_tick() {
  ++tick_;
  bool pcmu = o_.codec == "pcmu";
  std::uint8_t pt = pcmu ? 0 : 111;
  std::uint32_t inc = pcmu ? 160 : 960;
  unsigned n = 0;
  auto flush = [&] {
    unsigned off = 0;
    while (off < n) {
      int k = ::sendmmsg(fd_, tx_msgs_.data() + off, n - off, 0);
      if (k <= 0) {
        if (k < 0 && errno == EINTR) continue;
        ++send_errors_;
        ++off;
        continue;
      }
      off += static_cast<unsigned>(k);
      sent_ += static_cast<std::uint64_t>(k);
    }
    n = 0;
  };
  for (auto& p : parts_) {
    if (!p.joined) continue;
    const auto& fr = (*p.frames)[static_cast<std::size_t>(p.frame)];
    p.frame = (p.frame + 1) % 50;
    bool send = p.speaker || (tx_every_ > 0 && (tick_ + static_cast<std::uint64_t>(p.idx)) %
                                                       static_cast<std::uint64_t>(tx_every_) ==
                                                   0);
    std::uint32_t ts = p.ts;
    p.ts += inc;
    if (!send) continue;
    p.header[0] = 0x80;
    p.header[1] = pt;
    p.header[2] = static_cast<std::uint8_t>(p.seq >> 8);
    p.header[3] = static_cast<std::uint8_t>(p.seq);
    for (int b = 0; b < 4; ++b) {
      p.header[4 + b] = static_cast<std::uint8_t>(ts >> (24 - 8 * b));
      p.header[8 + b] = static_cast<std::uint8_t>(p.ssrc >> (24 - 8 * b));
    }
    ++p.seq;
    auto& m = tx_msgs_[n];
    auto* iov = &tx_iov_[n * 2];
    iov[0] = {p.header, 12};
    iov[1] = {const_cast<std::uint8_t*>(fr.data()), fr.size()};
    m = {};
    m.msg_hdr.msg_name = &p.dst;
    m.msg_hdr.msg_namelen = sizeof p.dst;
    m.msg_hdr.msg_iov = iov;
    m.msg_hdr.msg_iovlen = 2;
    m.msg_hdr.msg_control = p.control;
    m.msg_hdr.msg_controllen = sizeof p.control;
    if (++n == kBatch) flush();
  }
  flush();
}

void LoadGen::on_datagram(std::uint32_t dst_ip, const std::uint8_t* d, std::size_t len) {
  std::uint32_t i = dst_ip - kIpBase - 1;
  if (dst_ip <= kIpBase || i >= parts_.size() || len < 12 || (d[0] >> 6) != 2) {
    ++rx_unknown_;
    return;
  }
  auto& p = parts_[i];
  std::uint16_t seq = static_cast<std::uint16_t>(d[2] << 8 | d[3]);
  if (!p.rx_any) {
    p.rx_any = true;
    p.max_seq = seq;
  } else {
    auto delta = static_cast<std::uint16_t>(seq - p.max_seq);
    if (delta < 0x8000) {
      if (seq < p.max_seq) p.cycles += 65536;
      p.max_seq = seq;
    }
  }
  ++p.rx;
  // A heard tone: Opus at 32 kb/s takes ~80 bytes a frame, silence ~20 (with in-band FEC) or
  // fewer; mu-law silence is 0xFF (or 0x7F) throughout, so its first byte tells.
  std::size_t hdr = 12 + 4 * static_cast<std::size_t>(d[0] & 0x0F);
  std::size_t payload = len > hdr ? len - hdr : 0;
  bool loud = o_.codec == "opus" ? payload > 40 : payload > 0 && (d[hdr] & 0x7F) != 0x7F;
  if (loud) ++p.audible;
  if (in_window_) {
    ++p.win_rx;
    if (loud) ++p.win_audible;
  }
}

void LoadGen::receive() {
  for (;;) {
    for (std::size_t i = 0; i < rx_msgs_.size(); ++i) {
      rx_iov_[i] = {rx_buf_.data() + i * 1500, 1500};
      auto& h = rx_msgs_[i].msg_hdr;
      h = {};
      h.msg_iov = &rx_iov_[i];
      h.msg_iovlen = 1;
      h.msg_control = rx_ctl_.data() + i * 64;
      h.msg_controllen = 64;
    }
    int n = ::recvmmsg(fd_, rx_msgs_.data(), static_cast<unsigned>(rx_msgs_.size()), MSG_DONTWAIT,
                       nullptr);
    if (n <= 0) return;
    for (int k = 0; k < n; ++k) {
      auto& h = rx_msgs_[static_cast<std::size_t>(k)].msg_hdr;
      std::uint32_t dst = 0;
      for (auto* c = CMSG_FIRSTHDR(&h); c; c = CMSG_NXTHDR(&h, c))
        if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
          in_pktinfo pi;
          std::memcpy(&pi, CMSG_DATA(c), sizeof pi);
          dst = ntohl(pi.ipi_addr.s_addr);
        }
      on_datagram(dst, rx_buf_.data() + static_cast<std::size_t>(k) * 1500,
                  rx_msgs_[static_cast<std::size_t>(k)].msg_len);
    }
    if (n < static_cast<int>(rx_msgs_.size())) return;
  }
}

json::object LoadGen::metrics() {
  if (o_.target != "confab") return {};
  HttpReply r = http_.request("GET", "/metrics");
  if (r.status != 200) return {};
  auto v = json::parse(r.body);
  return v.at("media").as_object();
}

void LoadGen::start_window() {
  receive();
  for (auto& p : parts_) {
    p.win_rx = p.win_audible = 0;
    p.win_started = p.rx_any;
    p.win_ext_start = p.ext_seq();
  }
  m0_ = metrics();
  w0_ = sample_cpu(o_.pid);
  own_late0_ = own_late_;
  in_window_ = true;
}

json::object LoadGen::finish_window() {
  auto w1 = sample_cpu(o_.pid);
  receive();
  in_window_ = false;
  auto m1 = metrics();
  double wall = static_cast<double>(w1.wall_ns - w0_.wall_ns) / 1e9;
  std::uint64_t received = 0, audible = 0, listen_rx = 0, listen_audible = 0, seq_expected = 0;
  int silent = 0;
  for (auto& p : parts_) {
    received += p.win_rx;
    audible += p.win_audible;
    if (!p.speaker) {
      listen_rx += p.win_rx;
      listen_audible += p.win_audible;
    }
    if (p.win_rx == 0) ++silent;
    if (p.win_started)
      seq_expected += p.ext_seq() - p.win_ext_start;
    else if (p.rx_any)
      seq_expected += p.win_rx;
  }
  double expected = static_cast<double>(parts_.size()) * wall * 50.0;
  auto n = static_cast<double>(parts_.size());
  double cpu = (w1.proc_s - w0_.proc_s) / wall * 100.0;
  json::object out{
      {"label", o_.label},
      {"target", o_.target},
      {"codec", o_.codec},
      {"rooms", o_.rooms},
      {"per_room", o_.per_room},
      {"speakers_per_room", o_.speakers},
      {"participants", parts_.size()},
      {"listener_tx", o_.listener_tx},
      {"setup_s", static_cast<double>(setup_ns_) / 1e9},
      {"window_s", wall},
      {"expected_packets", expected},
      {"received_packets", received},
      {"delivered_pct", expected > 0 ? 100.0 * static_cast<double>(received) / expected : 0.0},
      {"loss_pct", seq_expected > 0 ? 100.0 * (1.0 - static_cast<double>(received) /
                                                         static_cast<double>(seq_expected))
                                    : 100.0},
      {"participants_without_audio", silent},
      {"listener_audible_pct",
       listen_rx ? 100.0 * static_cast<double>(listen_audible) / static_cast<double>(listen_rx)
                 : 0.0},
      {"server_cpu_pct", cpu},
      {"server_cpu_per_participant_pct", cpu / n},
      {"loadgen_cpu_pct", (w1.self_s - w0_.self_s) / wall * 100.0},
      {"machine_busy_pct", (w1.busy_s - w0_.busy_s) / wall * 100.0},
      {"machine_cores", sysconf(_SC_NPROCESSORS_ONLN)},
      {"loadgen_late_ticks", own_late_ - own_late0_},
      {"loadgen_send_errors", send_errors_},
      {"rx_unknown", rx_unknown_},
  };
  if (!m0_.empty() && !m1.empty()) {
    auto d = [&](const char* k) {
      return m1.at(k).to_number<std::int64_t>() - m0_.at(k).to_number<std::int64_t>();
    };
    out["server_ticks"] = d("ticks");
    out["server_late_ticks"] = d("late_ticks");
    out["server_rx_pps"] = static_cast<double>(d("rx_packets")) / wall;
    out["server_tx_pps"] = static_cast<double>(d("tx_packets")) / wall;
    out["server_encodes_per_tick"] =
        d("ticks") ? static_cast<double>(d("encodes")) / static_cast<double>(d("ticks")) : 0.0;
    out["server_decodes_per_tick"] =
        d("ticks") ? static_cast<double>(d("decodes")) / static_cast<double>(d("ticks")) : 0.0;
    out["server_legs"] = m1.at("legs");
    out["server_rx_unknown"] = d("rx_unknown");
  }
  return out;
}

int LoadGen::run() {
  open_socket();
  make_media();
  plan_parts();
  if (o_.target == "confab")
    queue_confab_setup();
  else
    queue_janus_setup();

  std::int64_t start = mono_ns();
  std::int64_t next = start + kTickNs;
  std::int64_t warm_end = 0, win_end = 0;
  pollfd pfd{fd_, POLLIN, 0};
  for (;;) {
    std::int64_t now = mono_ns();
    if (now >= next) {
      if (now - next > 5'000'000) ++own_late_;
      send_tick();
      next += kTickNs;
      if (now - next > 100'000'000) next = now + kTickNs;  // a long stall: do not burst
      if (steps_.empty() && warm_end == 0) {
        setup_ns_ = now - start;
        warm_end = now + static_cast<std::int64_t>(o_.warmup_s * 1e9);
        int joined = 0;
        for (auto& p : parts_) joined += p.joined;
        std::fprintf(stderr, "loadgen: %s %s: %d participants joined in %.1f s\n",
                     o_.target.c_str(), o_.label.c_str(), joined,
                     static_cast<double>(setup_ns_) / 1e9);
      }
      if (warm_end && !win_end && now >= warm_end) {
        start_window();
        win_end = mono_ns() + static_cast<std::int64_t>(o_.window_s * 1e9);
      }
      if (win_end && now >= win_end) break;
      if (!warm_end && now - start > static_cast<std::int64_t>(o_.setup_limit_s * 1e9))
        die("setup did not finish within --setup-limit");
      continue;
    }
    receive();
    // Control work fits between ticks. confab joins are paced by the shard's own progress: a
    // join into a room of k legs pushes k set_flags commands and an add_leg onto the shard's
    // bounded queue (4,096), which is drained whole at the start of each tick; commands pushed
    // before tick T was observed are gone once tick T+2 is. Past the bound, confab refuses
    // joins (503) and holds other commands back on its control side until there is room.
    if (!steps_.empty() && next - now > 3'000'000 && now >= retry_at_) {
      std::int64_t cost = 1;
      if (o_.target == "confab" && !conf_ids_.empty())
        for (std::size_t r = 0; r < room_legs_.size(); ++r)
          if (room_legs_[r] < o_.per_room) {
            cost = room_legs_[r] + 2;
            if (room_legs_[r] < o_.speakers) cost *= 2;  // and an unmute
            break;
          }
      bool go = true;
      if (cost > 1) {
        auto m = metrics();
        std::int64_t ticks = m.empty() ? 0 : m.at("ticks").to_number<std::int64_t>();
        while (!inflight_.empty() && ticks >= inflight_.front().first + 2) {
          outstanding_ -= inflight_.front().second;
          inflight_.pop_front();
        }
        if (outstanding_ > 0 && outstanding_ + cost > o_.join_budget) {
          go = false;
          retry_at_ = now + 2'000'000;
        } else {
          inflight_.emplace_back(ticks, cost);
          outstanding_ += cost;
        }
      }
      if (go) {
        auto step = std::move(steps_.front());
        steps_.pop_front();
        step();
        continue;
      }
    }
    std::int64_t wait = next - mono_ns();
    if (wait <= 0) continue;
    timespec ts{wait / 1'000'000'000, wait % 1'000'000'000};
    if (!steps_.empty() && wait > 3'000'000) ts = {0, 1'000'000};  // come back for the steps
    ::ppoll(&pfd, 1, &ts, nullptr);
  }

  auto out = finish_window();
  std::string s = json::serialize(out);
  std::puts(s.c_str());
  if (!o_.json_out.empty()) {
    std::ofstream f(o_.json_out, std::ios::app);
    f << s << "\n";
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o = parse(argc, argv);
  LoadGen g(std::move(o));
  return g.run();
}
