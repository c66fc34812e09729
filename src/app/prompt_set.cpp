#include "app/prompt_set.hpp"

#include "core/identity.hpp"
#include "core/json_util.hpp"

#include <cstdlib>
#include <stdexcept>
#include <system_error>

namespace confab::app {
namespace fs = std::filesystem;

namespace {

// A directory whose name is a rate ("8000").
std::optional<int> rate_of(const fs::path& p) {
  auto s = p.filename().string();
  if (s.empty() || s.size() > 6 || s.find_first_not_of("0123456789") != std::string::npos)
    return std::nullopt;
  return std::stoi(s);
}

bool uploaded(const core::Doc& d) {
  auto* len = d.body.if_contains("content_length");
  return len && len->is_int64() && len->as_int64() > 0;
}

}  // namespace

PromptSet PromptSet::load(const fs::path& root) {
  PromptSet set;
  set.root_ = root;
  std::error_code ec;
  for (auto& lang : fs::directory_iterator(root, ec)) {
    if (!lang.is_directory()) continue;
    for (auto& rdir : fs::directory_iterator(lang.path(), ec)) {
      auto rate = rate_of(rdir.path());
      if (!rdir.is_directory() || !rate) continue;
      auto& ids = set.sets_[lang.path().filename().string()][*rate];
      for (auto it = fs::recursive_directory_iterator(rdir.path(), ec);
           it != fs::recursive_directory_iterator(); it.increment(ec)) {
        if (ec) break;
        if (!it->is_regular_file() || it->path().extension() != ".wav") continue;
        auto rel = fs::relative(it->path(), rdir.path(), ec).replace_extension().generic_string();
        if (!ec) ids[rel] = it->path();
      }
    }
  }
  std::erase_if(set.sets_, [](auto& kv) { return kv.second.empty(); });
  if (set.sets_.empty()) throw std::runtime_error("no voice prompts under " + root.string());
  return set;
}

fs::path PromptSet::default_root(const fs::path& exe) {
  if (const char* env = std::getenv("CONFAB_PROMPTS"); env && *env) return env;
  std::error_code ec;
  if (!exe.empty()) {
    auto dir = fs::weakly_canonical(exe, ec).parent_path();
    for (auto& candidate : {dir / ".." / "share" / "confab" / "prompts",  // installed
                            dir / "share" / "confab" / "prompts"})        // a build tree
      if (fs::is_directory(candidate, ec)) return candidate.lexically_normal();
  }
#ifdef CONFAB_PROMPTS_BUILD_DIR
  return CONFAB_PROMPTS_BUILD_DIR;
#else
  return "prompts";
#endif
}

std::vector<std::string> PromptSet::languages() const {
  std::vector<std::string> out;
  for (auto& [lang, rates] : sets_) out.push_back(lang);
  return out;
}

std::vector<int> PromptSet::rates(std::string_view language) const {
  std::vector<int> out;
  if (auto it = sets_.find(language); it != sets_.end())
    for (auto& [rate, ids] : it->second) out.push_back(rate);
  return out;
}

std::string PromptSet::pick_language(std::string_view language, std::string_view fallback) const {
  auto l = core::lower(language);
  if (sets_.contains(l)) return l;
  if (auto dash = l.find('-'); dash != std::string::npos && sets_.contains(l.substr(0, dash)))
    return l.substr(0, dash);
  if (sets_.contains(fallback)) return std::string(fallback);
  return {};
}

std::optional<fs::path> PromptSet::path(std::string_view language, std::string_view id,
                                        int rate) const {
  auto it = sets_.find(pick_language(language));
  if (it == sets_.end() || it->second.empty()) return std::nullopt;
  auto& by_rate = it->second;
  auto r = by_rate.lower_bound(rate);  // the rate itself, or the nearest above
  if (r == by_rate.end()) r = std::prev(by_rate.end());
  auto f = r->second.find(id);
  if (f == r->second.end()) return std::nullopt;
  return f->second;
}

bool PromptSet::has(std::string_view language, std::string_view id) const {
  auto it = sets_.find(pick_language(language));
  if (it == sets_.end()) return false;
  for (auto& [rate, ids] : it->second)
    if (!ids.contains(id)) return false;
  return !it->second.empty();
}

PromptSource resolve_prompt(const core::Directory& dir, std::string_view account_id,
                            const PromptSet& set, std::string_view language, std::string_view id,
                            int rate) {
  PromptSource src;
  const core::Doc* any = nullptr;
  for (auto* d : dir.list("media", account_id)) {
    if (core::str_field(d->body, "name") != id || !uploaded(*d)) continue;
    auto lang = core::lower(core::str_field(d->body, "language"));
    if (lang == core::lower(language) ||
        (!lang.empty() && lang.starts_with(core::lower(language)))) {
      any = d;
      break;
    }
    if (!any) any = d;
  }
  if (any) {
    src.kind = PromptSource::Kind::media;
    src.media_id = any->id;
    return src;
  }
  if (auto p = set.path(language, id, rate)) {
    src.kind = PromptSource::Kind::file;
    src.file = *p;
  }
  return src;
}

}  // namespace confab::app
