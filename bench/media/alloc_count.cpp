// confab_media_alloc_count: runs the real media engine in-process (one shard, one room) with
// RTP peers on loopback, and counts heap allocations made by the engine's threads once the room
// is in steady state. DESIGN.md section 3 asks for none per packet and none per tick. The room
// mixes Opus and PCMU legs (resampled), has talk spurts, a deaf leg and a relate block, and a
// listener behind a NAT whose first packets, in the measured window, latch its leg.
//
// Every global operator new/delete is replaced, and so are malloc/calloc/realloc/free (they
// forward to glibc's __libc_* entry points), so C libraries (libopus, speexdsp, libc's
// own) are counted too. Threads of this program (main and the peer thread) are not counted;
// every other thread is an engine thread. During the measured window each counted allocation
// records its call stack (backtrace(3), no allocation), and the distinct stacks are printed with
// their counts, so a non-zero result says exactly where.
//
//   confab_media_alloc_count [--speakers 3] [--listeners 50] [--warmup 2] [--seconds 5]
//                            [--features 0]
//
// --features 1 adds the per-leg work legs may ask for: talk and listen volume steps (the
// listener then has its own encode), in-band DTMF detection on every speaker and on a muted
// listener (decoded for it alone), and a recording of one speaker's own audio.
#include "media/engine.hpp"
#include "media/g711.hpp"
#include "media/sdp.hpp"

#include <arpa/inet.h>
#include <execinfo.h>
#include <netinet/in.h>
#include <opus/opus.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <thread>
#include <vector>

extern "C" {
void* __libc_malloc(std::size_t);
void* __libc_calloc(std::size_t, std::size_t);
void* __libc_realloc(void*, std::size_t);
void __libc_free(void*);
void* __libc_memalign(std::size_t, std::size_t);
}

namespace {

std::atomic<bool> g_counting{false};
std::atomic<bool> g_keep_stacks{true};  // off for the join/leave control phase
std::atomic<std::uint64_t> g_new{0}, g_malloc{0}, g_free{0}, g_bytes{0};
thread_local bool t_ignored = false;  // this program's own threads
thread_local bool t_inside = false;   // re-entry guard while recording a stack

constexpr int kDepth = 24;
constexpr int kMaxStacks = 256;
struct Stack {
  std::atomic<std::uint64_t> hash{0};
  std::atomic<std::uint64_t> count{0};
  void* frames[kDepth];
  int depth = 0;
  char kind = 0;  // 'n' new, 'm' malloc/calloc/realloc
  std::size_t last_size = 0;
};
Stack g_stacks[kMaxStacks];
std::atomic<int> g_overflow{0};

void record(char kind, std::size_t size) {
  if (t_ignored || t_inside || !g_counting.load(std::memory_order_relaxed)) return;
  t_inside = true;
  (kind == 'n' ? g_new : g_malloc).fetch_add(1, std::memory_order_relaxed);
  g_bytes.fetch_add(size, std::memory_order_relaxed);
  if (!g_keep_stacks.load(std::memory_order_relaxed)) {
    t_inside = false;
    return;
  }
  void* frames[kDepth];
  int depth = backtrace(frames, kDepth);
  std::uint64_t h = 1469598103934665603ull ^ static_cast<std::uint64_t>(kind);
  for (int i = 0; i < depth; ++i)
    h = (h ^ reinterpret_cast<std::uintptr_t>(frames[i])) * 1099511628211ull;
  if (h == 0) h = 1;
  bool placed = false;
  for (int i = 0; i < kMaxStacks && !placed; ++i) {
    auto& s = g_stacks[(h + static_cast<std::uint64_t>(i)) % kMaxStacks];
    std::uint64_t cur = s.hash.load();
    if (cur == h) {
      s.count.fetch_add(1);
      s.last_size = size;
      placed = true;
    } else if (cur == 0) {
      std::uint64_t zero = 0;
      if (s.hash.compare_exchange_strong(zero, h)) {
        std::memcpy(s.frames, frames, sizeof(void*) * static_cast<std::size_t>(depth));
        s.depth = depth;
        s.kind = kind;
        s.last_size = size;
        s.count.fetch_add(1);
        placed = true;
      } else if (zero == h) {
        s.count.fetch_add(1);
        placed = true;
      }
    }
  }
  if (!placed) g_overflow.fetch_add(1);
  t_inside = false;
}

void* counted_new(std::size_t n) {
  record('n', n);
  void* p = __libc_malloc(n ? n : 1);
  if (!p) throw std::bad_alloc();
  return p;
}

void* counted_new_aligned(std::size_t n, std::align_val_t a) {
  record('n', n);
  void* p = __libc_memalign(static_cast<std::size_t>(a), n ? n : 1);
  if (!p) throw std::bad_alloc();
  return p;
}

void counted_delete(void* p) {
  if (p && !t_ignored && g_counting.load(std::memory_order_relaxed))
    g_free.fetch_add(1, std::memory_order_relaxed);
  __libc_free(p);
}

}  // namespace

void* operator new(std::size_t n) {
  return counted_new(n);
}
void* operator new[](std::size_t n) {
  return counted_new(n);
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  record('n', n);
  return __libc_malloc(n ? n : 1);
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
  record('n', n);
  return __libc_malloc(n ? n : 1);
}
void* operator new(std::size_t n, std::align_val_t a) {
  return counted_new_aligned(n, a);
}
void* operator new[](std::size_t n, std::align_val_t a) {
  return counted_new_aligned(n, a);
}
void operator delete(void* p) noexcept {
  counted_delete(p);
}
void operator delete[](void* p) noexcept {
  counted_delete(p);
}
void operator delete(void* p, std::size_t) noexcept {
  counted_delete(p);
}
void operator delete[](void* p, std::size_t) noexcept {
  counted_delete(p);
}
void operator delete(void* p, std::align_val_t) noexcept {
  counted_delete(p);
}
void operator delete[](void* p, std::align_val_t) noexcept {
  counted_delete(p);
}
void operator delete(void* p, std::size_t, std::align_val_t) noexcept {
  counted_delete(p);
}
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept {
  counted_delete(p);
}

extern "C" {
void* malloc(std::size_t n) {
  record('m', n);
  return __libc_malloc(n);
}
void* calloc(std::size_t a, std::size_t b) {
  record('m', a * b);
  return __libc_calloc(a, b);
}
void* realloc(void* p, std::size_t n) {
  record('m', n);
  return __libc_realloc(p, n);
}
void free(void* p) {
  if (p && !t_ignored && g_counting.load(std::memory_order_relaxed))
    g_free.fetch_add(1, std::memory_order_relaxed);
  __libc_free(p);
}
}

namespace {

using confab::media::Codec;

std::int64_t mono_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

struct Peer {
  int fd = -1;
  sockaddr_in addr{};
  Codec codec = Codec::opus;
  bool speaker = false;
  std::vector<std::vector<std::uint8_t>> frames;  // one second, looped
  std::uint16_t seq = 0;
  std::uint32_t ts = 0;
  int frame = 0;
  std::uint64_t received = 0;
  bool nat = false;  // offers a port it does not send from; starts sending in the measured window
};

// Three seconds, looped: two of tone, one of silence starting at frame `quiet_at`, so talk
// starts and stops, the floor and the chosen speakers change during the measurement.
constexpr int kLoop = 150;
std::vector<std::vector<std::uint8_t>> tone(Codec c, double hz, double amp, int quiet_at = 0) {
  std::vector<std::vector<std::uint8_t>> out;
  auto level = [&](int f) { return ((f - quiet_at + kLoop) % kLoop) < 50 ? 0.0 : amp; };
  if (c == Codec::pcmu) {
    for (int f = 0; f < kLoop; ++f) {
      std::vector<std::uint8_t> fr(160);
      for (int i = 0; i < 160; ++i)
        fr[static_cast<std::size_t>(i)] = confab::media::g711::linear_to_ulaw(
            static_cast<std::int16_t>(level(f) * std::sin(2 * M_PI * hz * (f * 160 + i) / 8000.0)));
      out.push_back(fr);
    }
    return out;
  }
  int err = 0;
  auto* enc = opus_encoder_create(48000, 1, OPUS_APPLICATION_VOIP, &err);
  opus_encoder_ctl(enc, OPUS_SET_BITRATE(32000));
  opus_encoder_ctl(enc, OPUS_SET_INBAND_FEC(1));
  std::vector<opus_int16> pcm(960);
  std::uint8_t buf[1500];
  for (int f = 0; f < 2 * kLoop; ++f) {
    for (int i = 0; i < 960; ++i)
      pcm[static_cast<std::size_t>(i)] = static_cast<opus_int16>(
          level(f % kLoop) * std::sin(2 * M_PI * hz * ((f % kLoop) * 960 + i) / 48000.0));
    int n = opus_encode(enc, pcm.data(), 960, buf, sizeof buf);
    if (f >= kLoop) out.emplace_back(buf, buf + std::max(n, 0));
  }
  opus_encoder_destroy(enc);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  t_ignored = true;
  int speakers = 3, listeners = 50;
  double warmup = 2, seconds = 5;
  bool features = false;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--speakers")
      speakers = std::atoi(argv[i + 1]);
    else if (a == "--listeners")
      listeners = std::atoi(argv[i + 1]);
    else if (a == "--warmup")
      warmup = std::atof(argv[i + 1]);
    else if (a == "--seconds")
      seconds = std::atof(argv[i + 1]);
    else if (a == "--features")
      features = std::atoi(argv[i + 1]) != 0;
    else {
      std::fprintf(stderr, "unknown option %s\n", a.c_str());
      return 2;
    }
  }
  {  // backtrace() loads libgcc_s on first use, which allocates: do it before counting
    void* f[4];
    backtrace(f, 4);
  }

  confab::media::EngineConfig cfg;
  cfg.shards = 1;
  confab::media::Engine engine(cfg);
  const std::uint64_t room = 1;
  std::uint16_t server_port = engine.add_room(room);
  sockaddr_in server{};
  server.sin_family = AF_INET;
  server.sin_port = htons(server_port);
  inet_pton(AF_INET, "127.0.0.1", &server.sin_addr);

  // Codec mix: one speaker in three and one listener in five use PCMU (resampled to 48 kHz and
  // back; their own listener group), the rest Opus; the last listener is deaf (silence frames).
  std::vector<Peer> peers(static_cast<std::size_t>(speakers + listeners));
  auto silence_opus = tone(Codec::opus, 0, 0);
  auto silence_pcmu = tone(Codec::pcmu, 0, 0);
  std::vector<confab::media::LegSpec> specs;
  for (std::size_t i = 0; i < peers.size(); ++i) {
    auto& p = peers[i];
    p.speaker = static_cast<int>(i) < speakers;
    p.codec = (p.speaker ? i % 3 == 2 : i % 5 == 4) ? Codec::pcmu : Codec::opus;
    p.fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    ::bind(p.fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(p.fd, reinterpret_cast<sockaddr*>(&a), &len);
    p.addr = a;
    p.frames = p.speaker ? tone(p.codec, 300 + 170 * static_cast<double>(i), 8000,
                                static_cast<int>(i * 50 % kLoop))
                         : (p.codec == Codec::pcmu ? silence_pcmu : silence_opus);
    p.seq = static_cast<std::uint16_t>(i * 1000);
    p.ts = static_cast<std::uint32_t>(i * 77777);

    confab::media::LegSpec spec;
    spec.leg = 100 + i;
    spec.room = room;
    spec.codec.codec = p.codec;
    spec.codec.pt = p.codec == Codec::pcmu ? 0 : 111;
    spec.codec.clock = p.codec == Codec::pcmu ? 8000 : 48000;
    spec.codec.channels = 1;
    spec.codec.dtmf_pt = 101;
    spec.codec.fec = p.codec == Codec::opus;
    spec.remote = a;
    // One listener is behind a NAT: its offer names a port nothing listens on, and it first
    // sends inside the measured window, so that latching (symmetric RTP) happens there. (One:
    // two legs of one IP that have both received nothing are ambiguous, and neither latches.)
    p.nat = !p.speaker && i == peers.size() - 2;
    if (p.nat) spec.remote.sin_port = htons(static_cast<std::uint16_t>(20000 + i));
    spec.speak = p.speaker;  // listeners are muted
    spec.hear = !(i + 1 == peers.size() && listeners > 0);
    spec.inband_dtmf = features && (p.speaker || i == static_cast<std::size_t>(speakers));
    engine.add_leg(spec);
    specs.push_back(spec);
  }

  // One listener must not hear the first speaker (Kazoo's relate): its own mix every tick.
  if (listeners > 1 && speakers > 0)
    engine.set_blocked(room, specs[static_cast<std::size_t>(speakers) + 1].leg,
                       {specs.front().leg});

  char rec_dir[] = "/tmp/confab-alloc-XXXXXX";
  std::string rec_path;
  if (features && speakers > 0 && listeners > 2 && ::mkdtemp(rec_dir)) {
    engine.set_volume(room, specs.front().leg, 2, 0);
    engine.set_volume(room, specs[static_cast<std::size_t>(speakers) + 2].leg, 0, -2);
    rec_path = std::string(rec_dir) + "/leg.wav";
    engine.record_leg_start(room, specs.front().leg, 0, rec_path, 600'000);
  }

  // The peers: one thread, 20 ms, each sends its frame and drains what it hears.
  std::atomic<bool> stop{false};
  std::thread peer_thread([&] {
    t_ignored = true;
    std::int64_t next = mono_ns();
    std::uint8_t pkt[1500], in[1500];
    while (!stop) {
      for (auto& p : peers) {
        if (p.nat && !g_counting.load()) {
          while (::recv(p.fd, in, sizeof in, 0) > 0) {
          }
          continue;
        }
        auto& fr = p.frames[static_cast<std::size_t>(p.frame)];
        p.frame = (p.frame + 1) % static_cast<int>(p.frames.size());
        std::uint8_t pt = p.codec == Codec::pcmu ? 0 : 111;
        pkt[0] = 0x80;
        pkt[1] = pt;
        pkt[2] = static_cast<std::uint8_t>(p.seq >> 8);
        pkt[3] = static_cast<std::uint8_t>(p.seq);
        for (int b = 0; b < 4; ++b) {
          pkt[4 + b] = static_cast<std::uint8_t>(p.ts >> (24 - 8 * b));
          pkt[8 + b] = static_cast<std::uint8_t>((0x1000 + p.seq / 1000) >> (24 - 8 * b));
        }
        std::memcpy(pkt + 12, fr.data(), fr.size());
        ::sendto(p.fd, pkt, 12 + fr.size(), 0, reinterpret_cast<const sockaddr*>(&server),
                 sizeof server);
        ++p.seq;
        p.ts += p.codec == Codec::pcmu ? 160 : 960;
        while (::recv(p.fd, in, sizeof in, 0) > 0) ++p.received;
      }
      next += 20'000'000;
      timespec ts{next / 1'000'000'000, next % 1'000'000'000};
      clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr);
    }
  });

  auto sleep_s = [](double s) {
    std::this_thread::sleep_for(std::chrono::microseconds(static_cast<std::int64_t>(s * 1e6)));
  };
  std::uint64_t events = 0;
  auto drain = [&] { events += engine.poll([](const confab::media::EngineEvent&) {}); };
  for (double t = 0; t < warmup; t += 0.1) {
    sleep_s(0.1);
    drain();
  }
  auto s0 = engine.stats();
  g_counting = true;
  for (double t = 0; t < seconds; t += 0.1) {
    sleep_s(0.1);
    drain();
  }
  g_counting = false;
  auto s1 = engine.stats();
  std::uint64_t allocs = g_new + g_malloc;
  std::uint64_t steady_new = g_new, steady_malloc = g_malloc, steady_free = g_free,
                steady_bytes = g_bytes;

  // Control: the same counters see a join and a leave (a new leg allocates its codecs and
  // buffers; so this must not be zero, or the instrumentation is blind).
  g_new = g_malloc = g_free = 0;
  g_keep_stacks = false;
  g_counting = true;
  auto extra = specs.front();
  extra.leg = 99999;
  extra.remote.sin_port = htons(9);  // discard: nothing listens
  engine.add_leg(extra);
  sleep_s(0.2);
  engine.remove_leg(room, extra.leg);
  sleep_s(0.2);
  g_counting = false;
  std::uint64_t join_allocs = g_new + g_malloc;
  stop = true;
  peer_thread.join();

  std::uint64_t ticks = s1.ticks - s0.ticks;
  std::uint64_t heard = 0, nat = 0, nat_heard = 0;
  for (auto& p : peers) {
    heard += p.received > 0;
    nat += p.nat;
    nat_heard += p.nat && p.received > 0;
  }
  std::printf(
      "{\"legs\":%zu,\"speakers\":%d,\"listeners\":%d,\"features\":%d,\"seconds\":%.1f,"
      "\"ticks\":%llu,"
      "\"late_ticks\":%llu,\"rx_packets\":%llu,\"tx_packets\":%llu,\"encodes\":%llu,"
      "\"decodes\":%llu,\"peers_hearing\":%llu,\"latched_in_window\":\"%llu/%llu\","
      "\"engine_events\":%llu,"
      "\"allocations\":%llu,\"operator_new\":%llu,\"malloc\":%llu,\"frees\":%llu,"
      "\"bytes\":%llu,\"allocations_per_tick\":%.4f,\"control_join_leave_allocations\":%llu}\n",
      peers.size(), speakers, listeners, features ? 1 : 0, seconds, (unsigned long long)ticks,
      (unsigned long long)(s1.late_ticks - s0.late_ticks),
      (unsigned long long)(s1.rx_packets - s0.rx_packets),
      (unsigned long long)(s1.tx_packets - s0.tx_packets),
      (unsigned long long)(s1.encodes - s0.encodes), (unsigned long long)(s1.decodes - s0.decodes),
      (unsigned long long)heard, (unsigned long long)nat_heard, (unsigned long long)nat,
      (unsigned long long)events, (unsigned long long)allocs, (unsigned long long)steady_new,
      (unsigned long long)steady_malloc, (unsigned long long)steady_free,
      (unsigned long long)steady_bytes, ticks ? double(allocs) / double(ticks) : 0.0,
      (unsigned long long)join_allocs);
  if (allocs) {
    std::printf("allocation sites in the engine thread (count, kind, last size, stack):\n");
    for (auto& s : g_stacks) {
      if (!s.hash) continue;
      std::printf("--- %llu x %s, %zu bytes\n", (unsigned long long)s.count.load(),
                  s.kind == 'n' ? "operator new" : "malloc", s.last_size);
      std::fflush(stdout);
      backtrace_symbols_fd(s.frames, s.depth, 1);
    }
    if (g_overflow)
      std::printf("(%d allocations from further stacks not kept)\n", g_overflow.load());
  }
  for (auto& p : peers) ::close(p.fd);
  if (!rec_path.empty()) {
    engine.stop();  // finishes the recording
    ::unlink(rec_path.c_str());
    ::rmdir(rec_dir);
  }
  return (heard == peers.size() && ticks > 0) ? 0 : 1;
}
