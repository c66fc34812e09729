#pragma once
// A small open-addressing hash map from a non-zero 64-bit key (ip:port, or an IP) to a pointer,
// for the shard's packet path: lookups, inserts and erases never allocate; only reserve() does,
// and the shard calls it when a leg is added (a control command), never in a tick.
#include <cstddef>
#include <cstdint>
#include <vector>

namespace confab::media {

template <typename T>
class AddrTable {
 public:
  // Room for `n` live keys in all (those present included) without allocating; the table stays
  // at most half full, tombstones counted.
  void reserve(std::size_t n) {
    if (n < live_) n = live_;
    std::size_t tombs = used_ - live_;
    if (!slots_.empty() && 2 * (n + tombs) + 2 <= slots_.size()) return;
    std::size_t want = 16;
    while (want < 2 * n + 2) want *= 2;
    std::vector<Slot> old(want);
    old.swap(slots_);
    live_ = used_ = 0;
    for (auto& s : old)
      if (s.key != 0 && s.key != kTomb) put(s.key, s.value);
  }
  T* find(std::uint64_t key) const {
    if (slots_.empty() || key == 0 || key == kTomb) return nullptr;
    for (std::size_t i = index(key);; i = (i + 1) & (slots_.size() - 1)) {
      auto& s = slots_[i];
      if (s.key == key) return s.value;
      if (s.key == 0) return nullptr;
    }
  }
  // Inserts or replaces. False when the table is full (reserve() was not called): not added.
  bool put(std::uint64_t key, T* value) {
    if (slots_.empty() || key == 0 || key == kTomb) return false;
    std::size_t tomb = slots_.size();
    for (std::size_t i = index(key), n = 0; n < slots_.size();
         i = (i + 1) & (slots_.size() - 1), ++n) {
      auto& s = slots_[i];
      if (s.key == key) {
        s.value = value;
        return true;
      }
      if (s.key == kTomb && tomb == slots_.size()) tomb = i;
      if (s.key == 0) {
        if (tomb == slots_.size()) {
          if (used_ + 1 > slots_.size() - 1) return false;  // keep one empty slot: lookups end
          ++used_;
          tomb = i;
        }
        slots_[tomb] = {key, value};
        ++live_;
        return true;
      }
    }
    if (tomb == slots_.size()) return false;
    slots_[tomb] = {key, value};
    ++live_;
    return true;
  }
  void erase(std::uint64_t key) {
    if (slots_.empty() || key == 0 || key == kTomb) return;
    for (std::size_t i = index(key);; i = (i + 1) & (slots_.size() - 1)) {
      auto& s = slots_[i];
      if (s.key == key) {
        s = {kTomb, nullptr};
        --live_;
        return;
      }
      if (s.key == 0) return;
    }
  }
  std::size_t size() const { return live_; }

 private:
  static constexpr std::uint64_t kTomb = ~std::uint64_t{0};
  struct Slot {
    std::uint64_t key = 0;
    T* value = nullptr;
  };
  std::size_t index(std::uint64_t key) const {
    key ^= key >> 33;
    key *= 0xff51afd7ed558ccdULL;
    key ^= key >> 33;
    return static_cast<std::size_t>(key) & (slots_.size() - 1);
  }
  std::vector<Slot> slots_;
  std::size_t live_ = 0;  // keys present
  std::size_t used_ = 0;  // slots ever filled (keys and tombstones)
};

}  // namespace confab::media
