#pragma once
// Throttling of PIN guessing (no I/O, one thread). Three scopes, each with its own rule:
// - a caller (the number it claims) in one conference: Kazoo's three tries, then a lockout;
// - a source (the address a request comes from, the token that makes it, later a SIP source)
//   across all conferences: after a few wrong PINs each further one doubles a backoff;
// - a conference: a bucket of wrong PINs it tolerates, refilled slowly; once empty, callers it
//   does not know wait for the next token, and each emptying doubles the refill interval.
// The conference scope is what stops a guesser that spreads over numbers and addresses. It must
// not lock the real members out: a caller that proved a PIN from the same source recently
// passes, the wait is capped, and wrong PINs from a locked-out source never reach it.
//
// The same guard throttles logins (ConferenceService::check_login): there the "conference" is
// the target a login names (an account, a username), named "target" in refusals, and there is
// no caller. An empty caller skips the caller scope, an empty conference the conference scope.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace confab::core {

struct PinGuardConfig {
  int caller_attempts = 3;    // wrong PINs from one caller number in one conference...
  int caller_lockout_s = 60;  // ...then it waits this long
  int source_attempts = 10;   // wrong PINs from one source (any conference) before backoff
  int source_backoff_s = 2;   // the first wait; doubles with each further wrong PIN
  int source_backoff_max_s = 600;
  int conference_attempts = 20;  // wrong PINs a conference takes in a burst (bucket size)
  int conference_refill_s = 3;   // one more every this long; doubles each time it runs dry
  int conference_refill_max_s = 30;
  int known_s = 86400;               // how long a (source, caller) that proved a PIN is trusted
  int forget_s = 900;                // quiet time after which a scope's failures are forgotten
  std::size_t max_entries = 100000;  // per scope; the oldest are forgotten first
  // The name of the conference scope in refusals and lockouts ("target" for logins).
  std::string_view conference_scope = "conference";
};

// The defaults of the login throttle ([logins]): ten failures from one address, then a wait of
// 1 s doubling up to 5 minutes; a target takes 30 failures in a burst (three addresses' worth:
// one address alone never empties it), then one per 2 s, doubling up to a minute.
inline PinGuardConfig login_guard_defaults() {
  PinGuardConfig c;
  c.source_attempts = 10;
  c.source_backoff_s = 1;
  c.source_backoff_max_s = 300;
  c.conference_attempts = 30;
  c.conference_refill_s = 2;
  c.conference_refill_max_s = 60;
  c.conference_scope = "target";
  return c;
}

// Who asks: the caller's claimed number (or another per-caller key) and the sources it comes
// through, strongest first ("addr:127.0.0.1", "token:<account>/<user>", "sip:203.0.113.5").
struct PinCaller {
  std::string caller;
  std::vector<std::string> sources;
};

struct PinRefusal {
  std::string scope;  // "caller", "source" or "conference" (config().conference_scope)
  std::int64_t retry_after = 0;
};

class PinGuard {
 public:
  struct Stats {
    std::uint64_t failures = 0;  // wrong PINs seen
    std::uint64_t refused = 0;   // attempts refused by a throttle, by scope
    std::uint64_t refused_caller = 0, refused_source = 0, refused_conference = 0;
    std::uint64_t lockouts = 0;  // times a scope became locked
    std::size_t tracked = 0;     // entries held (bounded by max_entries per scope)
  };
  // Told when a scope becomes locked: what, which key, for how long (the server logs it).
  using OnLockout = std::function<void(std::string_view scope, std::string_view key,
                                       std::string_view conference, std::int64_t seconds)>;

  explicit PinGuard(PinGuardConfig cfg = {}) : cfg_(cfg) {}
  void on_lockout(OnLockout f) { on_lockout_ = std::move(f); }
  const PinGuardConfig& config() const { return cfg_; }

  // Before a PIN is checked: the scope that refuses it now, if any.
  std::optional<PinRefusal> check(std::string_view conference, const PinCaller& who,
                                  std::int64_t now) const;
  // A wrong PIN: returns how many tries the caller has left in this conference (0 without one).
  int failed(std::string_view conference, const PinCaller& who, std::int64_t now);
  // A right PIN: the caller's count is cleared and (source, caller) becomes known.
  void succeeded(std::string_view conference, const PinCaller& who, std::int64_t now);
  Stats stats() const;
  void count_refusal(const PinRefusal& r);

 private:
  struct Entry {
    int count = 0;
    std::int64_t last = 0;   // last wrong PIN
    std::int64_t until = 0;  // locked until
  };
  struct Bucket {
    double tokens = 0;
    int interval = 0;  // current refill interval (s)
    std::int64_t at = 0;
    std::int64_t last = 0;
  };
  using Map = std::unordered_map<std::string, Entry>;
  Bucket refilled(std::string_view conference, std::int64_t now) const;
  bool known(std::string_view conference, const PinCaller& who, std::int64_t now) const;
  template <class M>
  void bound(M& m, std::int64_t now);
  void lockout(std::string_view scope, std::string_view key, std::string_view conference,
               std::int64_t seconds);

  PinGuardConfig cfg_;
  OnLockout on_lockout_;
  Map callers_;                                          // conference \x1f caller
  Map sources_;                                          // source
  std::unordered_map<std::string, Bucket> confs_;        // conference
  std::unordered_map<std::string, std::int64_t> known_;  // conference \x1f source \x1f caller
  Stats stats_;
};

}  // namespace confab::core
