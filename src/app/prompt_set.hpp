#pragma once
// The voice prompts that ship with confab (prompts/, rendered at build time): an index of
// <root>/<language>/<rate>/<id>.wav, read once at startup, and the order in which a prompt id
// is looked up for an account (docs/ivr.md, "Prompts").
#include "core/directory.hpp"

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace confab::app {

class PromptSet {
 public:
  PromptSet() = default;
  // Indexes every language directory under `root`. Throws std::runtime_error naming the root
  // when it has no prompts at all.
  static PromptSet load(const std::filesystem::path& root);
  // Where the prompts are: $CONFAB_PROMPTS when set, else <dir of exe>/../share/confab/prompts
  // (an installed confab) or <dir of exe>/share/confab/prompts (a build tree), else the build
  // tree this confab was built in.
  static std::filesystem::path default_root(const std::filesystem::path& exe = {});

  const std::filesystem::path& root() const { return root_; }
  std::vector<std::string> languages() const;
  std::vector<int> rates(std::string_view language) const;
  // The set a language name picks: itself, then what precedes its '-' ("en-us" -> "en"), then
  // `fallback`; empty when none of them is here.
  std::string pick_language(std::string_view language, std::string_view fallback = "en") const;
  // The WAV of a prompt in a language (picked as above) at `rate`, or at the nearest rate above
  // it (else the highest) when that rate is not rendered: the caller resamples.
  std::optional<std::filesystem::path> path(std::string_view language, std::string_view id,
                                            int rate) const;
  bool has(std::string_view language, std::string_view id) const;

 private:
  std::filesystem::path root_;
  // language -> rate -> id -> file
  std::map<std::string, std::map<int, std::map<std::string, std::filesystem::path, std::less<>>>,
           std::less<>>
      sets_;
};

// Where a prompt's audio comes from for one account: the operator's override first, then the set.
struct PromptSource {
  enum class Kind { media, file, none };
  Kind kind = Kind::none;
  std::string media_id;        // kind media: the account's media document
  std::filesystem::path file;  // kind file: a WAV of the prompt set
};

// The lookup order: (1) a media document of the account whose `name` is the prompt id and
// whose audio has been uploaded (of those, the one whose `language` matches, else any);
// (2) the prompt set, by language and rate; (3) none.
PromptSource resolve_prompt(const core::Directory& dir, std::string_view account_id,
                            const PromptSet& set, std::string_view language, std::string_view id,
                            int rate);

}  // namespace confab::app
