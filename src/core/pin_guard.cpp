#include "core/pin_guard.hpp"

#include <algorithm>
#include <type_traits>

namespace confab::core {

namespace {

std::string key_of(std::string_view a, std::string_view b) {
  std::string k(a);
  k += '\x1f';
  k += b;
  return k;
}

std::int64_t backoff(int base, int max, int steps) {
  std::int64_t w = base;
  for (int i = 0; i < steps && w < max; ++i) w *= 2;
  return std::min<std::int64_t>(w, max);
}

}  // namespace

PinGuard::Bucket PinGuard::refilled(std::string_view conference, std::int64_t now) const {
  if (conference.empty()) return {1e9, cfg_.conference_refill_s, now, 0};  // no such scope
  auto it = confs_.find(std::string(conference));
  if (it == confs_.end())
    return {static_cast<double>(cfg_.conference_attempts), cfg_.conference_refill_s, now, 0};
  Bucket b = it->second;
  if (b.interval <= 0) b.interval = std::max(1, cfg_.conference_refill_s);
  auto steps = (now - b.at) / b.interval;
  if (steps > 0) {
    b.tokens += static_cast<double>(steps);
    b.at += steps * b.interval;
  }
  if (b.tokens >= cfg_.conference_attempts) {  // full again: the attack, if any, is over
    b.tokens = cfg_.conference_attempts;
    b.interval = std::max(1, cfg_.conference_refill_s);
    b.at = now;
  }
  return b;
}

bool PinGuard::known(std::string_view conference, const PinCaller& who, std::int64_t now) const {
  for (auto& s : who.sources) {
    auto it = known_.find(key_of(key_of(conference, s), who.caller));
    if (it != known_.end() && now - it->second < cfg_.known_s) return true;
  }
  return false;
}

std::optional<PinRefusal> PinGuard::check(std::string_view conference, const PinCaller& who,
                                          std::int64_t now) const {
  if (auto it = who.caller.empty() ? callers_.end() : callers_.find(key_of(conference, who.caller));
      it != callers_.end()) {
    auto& e = it->second;
    if (e.count >= cfg_.caller_attempts && now < e.until)
      return PinRefusal{"caller", e.until - now};
  }
  std::int64_t wait = 0;
  for (auto& s : who.sources)
    if (auto it = sources_.find(s); it != sources_.end() && now < it->second.until)
      wait = std::max(wait, it->second.until - now);
  if (wait > 0) return PinRefusal{"source", wait};
  if (!known(conference, who, now)) {
    auto b = refilled(conference, now);
    if (b.tokens < 1)
      return PinRefusal{std::string(cfg_.conference_scope),
                        std::max<std::int64_t>(1, b.at + b.interval - now)};
  }
  return std::nullopt;
}

void PinGuard::lockout(std::string_view scope, std::string_view key, std::string_view conference,
                       std::int64_t seconds) {
  ++stats_.lockouts;
  if (on_lockout_) on_lockout_(scope, key, conference, seconds);
}

int PinGuard::failed(std::string_view conference, const PinCaller& who, std::int64_t now) {
  ++stats_.failures;
  int left = 0;
  if (!who.caller.empty()) {
    auto& c = callers_[key_of(conference, who.caller)];
    if (now - c.last >= cfg_.forget_s || (c.count >= cfg_.caller_attempts && now >= c.until))
      c = {};
    ++c.count;
    c.last = now;
    if (c.count == cfg_.caller_attempts) {
      c.until = now + cfg_.caller_lockout_s;
      lockout("caller", who.caller, conference, cfg_.caller_lockout_s);
    }
    left = std::max(0, cfg_.caller_attempts - c.count);
  }

  for (auto& s : who.sources) {
    auto& e = sources_[s];
    if (now - e.last >= cfg_.forget_s && now >= e.until) e = {};
    ++e.count;
    e.last = now;
    if (e.count >= cfg_.source_attempts) {
      auto w =
          backoff(cfg_.source_backoff_s, cfg_.source_backoff_max_s, e.count - cfg_.source_attempts);
      e.until = now + w;
      lockout("source", s, conference, w);
    }
  }

  if (!conference.empty()) {
    auto b = refilled(conference, now);
    bool had = b.tokens >= 1;
    b.tokens = std::max(0.0, b.tokens - 1);
    b.last = now;
    if (had && b.tokens < 1) {  // ran dry: refill slower from now on
      b.interval = static_cast<int>(backoff(b.interval, cfg_.conference_refill_max_s, 1));
      b.at = now;
      lockout(cfg_.conference_scope, conference, conference, b.interval);
    }
    confs_[std::string(conference)] = b;
  }

  bound(callers_, now);
  bound(sources_, now);
  bound(confs_, now);
  return left;
}

void PinGuard::succeeded(std::string_view conference, const PinCaller& who, std::int64_t now) {
  if (!who.caller.empty()) callers_.erase(key_of(conference, who.caller));
  if (!who.sources.empty() && !conference.empty())  // known: passes the conference scope
    known_[key_of(key_of(conference, who.sources.front()), who.caller)] = now;
  bound(known_, now);
}

// A guesser that invents a new number or address for each try must not grow memory without
// bound: past max_entries, what is forgotten anyway goes, then the oldest half. That costs a
// pass over the map once per max_entries/2 insertions.
template <class M>
void PinGuard::bound(M& m, std::int64_t now) {
  if (m.size() <= cfg_.max_entries) return;
  auto last_of = [](const auto& v) -> std::int64_t {
    if constexpr (std::is_same_v<std::decay_t<decltype(v)>, std::int64_t>)
      return v;
    else
      return v.last;
  };
  std::erase_if(m, [&](const auto& kv) {
    if constexpr (std::is_same_v<std::decay_t<decltype(kv.second)>, Entry>)
      if (now < kv.second.until) return false;
    return now - last_of(kv.second) >= cfg_.forget_s;
  });
  if (m.size() <= cfg_.max_entries / 2) return;
  std::vector<std::int64_t> ages;
  ages.reserve(m.size());
  for (auto& [k, v] : m) ages.push_back(last_of(v));
  auto mid = ages.begin() + static_cast<std::ptrdiff_t>(ages.size() / 2);
  std::nth_element(ages.begin(), mid, ages.end());
  auto cut = *mid;
  std::erase_if(m, [&](const auto& kv) { return last_of(kv.second) < cut; });
}

void PinGuard::count_refusal(const PinRefusal& r) {
  ++stats_.refused;
  if (r.scope == "caller") ++stats_.refused_caller;
  if (r.scope == "source") ++stats_.refused_source;
  if (r.scope == cfg_.conference_scope) ++stats_.refused_conference;
}

PinGuard::Stats PinGuard::stats() const {
  auto s = stats_;
  s.tracked = callers_.size() + sources_.size() + confs_.size() + known_.size();
  return s;
}

}  // namespace confab::core
