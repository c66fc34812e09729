#include "store/media_files.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <stdexcept>
#include <system_error>

namespace confab::store {
namespace fs = std::filesystem;

namespace {

[[noreturn]] void fail(const std::string& what, const fs::path& p, int err = errno) {
  throw std::system_error(err, std::generic_category(), what + " " + p.string());
}

// Closes on every path out, so a failed write leaks no descriptor.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  void close(const fs::path& p) {
    int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) fail("cannot close", p);
  }

 private:
  int fd_;
};

// mkdir -p, syncing the parent of each directory it makes: a file's rename is durable only once
// the directories above it are.
void make_dirs(const fs::path& dir) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) fail("not a directory:", dir, ENOTDIR);
    return;
  }
  if (dir.has_parent_path() && dir.parent_path() != dir) make_dirs(dir.parent_path());
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) fail("cannot create directory", dir);
  sync_dir(dir.has_parent_path() ? dir.parent_path() : fs::path("."));
}

std::string plain_name(std::string_view kind, std::string_view id) {
  bool ok = !id.empty() && id.size() <= 128 && std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' ||
           c == '_';
  });
  if (!ok) throw std::invalid_argument("not a usable " + std::string(kind) + " in a file name");
  return std::string(id);
}

fs::path file_of(const fs::path& data_dir, const char* area, std::string_view account_id,
                 std::string_view id) {
  return data_dir / area / plain_name("account id", account_id) /
         (plain_name("document id", id) + ".wav");
}

void write_all(int fd, std::string_view bytes, const fs::path& p) {
  while (!bytes.empty()) {
    ssize_t w = ::write(fd, bytes.data(), bytes.size());
    if (w < 0) {
      if (errno == EINTR) continue;
      fail("cannot write", p);
    }
    bytes.remove_prefix(static_cast<std::size_t>(w));
  }
}

}  // namespace

void sync_dir(const fs::path& dir) {
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) fail("cannot open directory", dir);
  if (::fsync(fd.get()) != 0) fail("cannot sync directory", dir);
}

fs::path media_path(const fs::path& data_dir, std::string_view account_id,
                    std::string_view media_id) {
  return file_of(data_dir, "media", account_id, media_id);
}

fs::path recording_path(const fs::path& data_dir, std::string_view account_id,
                        std::string_view recording_id) {
  return file_of(data_dir, "recordings", account_id, recording_id);
}

fs::path temp_path_for(const fs::path& dest) {
  static std::atomic<std::uint64_t> counter{0};
  make_dirs(dest.parent_path());
  // Dot-prefixed and suffixed .tmp: never mistaken for a document's file.
  // Appended piece by piece: GCC 12 at -O3 warns falsely on `"." + std::string`
  // (stringop-overflow).
  std::string name(1, '.');
  name.append(dest.filename().string())
      .append(".")
      .append(std::to_string(::getpid()))
      .append(".")
      .append(std::to_string(++counter))
      .append(".tmp");
  return dest.parent_path() / name;
}

namespace {
int create_private(const fs::path& file) {
  int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) fail("cannot create", file);
  // Exactly 0600 whatever the umask (one that takes the owner's bits away too).
  if (::fchmod(fd, 0600) != 0) {
    int err = errno;
    ::close(fd);
    ::unlink(file.c_str());
    fail("cannot set the mode of", file, err);
  }
  return fd;
}
}  // namespace

fs::path stage_file(const fs::path& dest, std::string_view bytes) {
  auto tmp = temp_path_for(dest);
  Fd fd(create_private(tmp));
  try {
    write_all(fd.get(), bytes, tmp);
    if (::fsync(fd.get()) != 0) fail("cannot sync", tmp);
    fd.close(tmp);
  } catch (...) {
    ::unlink(tmp.c_str());
    throw;
  }
  return tmp;
}

void sync_file(const fs::path& file) {
  Fd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) fail("cannot open", file);
  if (::fsync(fd.get()) != 0) fail("cannot sync", file);
}

void install_file(const fs::path& staged, const fs::path& dest) {
  if (::rename(staged.c_str(), dest.c_str()) != 0) fail("cannot rename to", dest);
  sync_dir(dest.parent_path());
}

namespace {

fs::path journal_entry(const fs::path& dest, std::int64_t revision, const char* what) {
  std::string name(1, '.');
  name.append(dest.filename().string())
      .append(".r")
      .append(std::to_string(revision))
      .append(".")
      .append(what);
  return dest.parent_path() / name;
}

void unlink_if_there(const fs::path& p) {
  if (::unlink(p.c_str()) != 0 && errno != ENOENT) fail("cannot remove", p);
}

}  // namespace

void install_file_journaled(const fs::path& staged, const fs::path& dest, std::int64_t revision) {
  auto prev = journal_entry(dest, revision, "prev");
  auto none = journal_entry(dest, revision, "none");
  unlink_if_there(prev);  // from an earlier attempt at this revision that failed
  unlink_if_there(none);
  if (::link(dest.c_str(), prev.c_str()) != 0) {
    if (errno != ENOENT) fail("cannot keep the previous file as", prev);
    Fd fd(create_private(none));
    fd.close(none);
  }
  sync_dir(dest.parent_path());  // the entry is on disk before the swap it undoes
  try {
    install_file(staged, dest);
  } catch (...) {
    std::error_code ec;
    fs::remove(prev, ec);
    fs::remove(none, ec);
    throw;
  }
}

void settle_install(const fs::path& dest, std::int64_t revision, bool committed) {
  auto prev = journal_entry(dest, revision, "prev");
  auto none = journal_entry(dest, revision, "none");
  std::error_code ec;
  if (!fs::exists(prev, ec) && !fs::exists(none, ec)) return;  // nothing was installed
  if (!committed) {
    if (fs::exists(prev)) {
      if (::rename(prev.c_str(), dest.c_str()) != 0) fail("cannot restore", dest);
    } else if (fs::exists(none)) {
      unlink_if_there(dest);
    }
  }
  unlink_if_there(prev);
  unlink_if_there(none);
  sync_dir(dest.parent_path());
}

std::vector<std::string> recover_installs(
    const fs::path& data_dir,
    const std::function<std::int64_t(std::string_view, std::string_view)>& revision_of) {
  struct Entry {
    fs::path dest;
    std::int64_t revision;
    std::string area;
  };
  std::vector<Entry> entries;
  for (const char* area : {"media", "recordings"}) {
    std::error_code ec;
    fs::recursive_directory_iterator it(data_dir / area, ec), end;
    if (ec) continue;
    for (; it != end; it.increment(ec)) {
      if (ec) fail("cannot list", data_dir / area, ec.value());
      auto name = it->path().filename().string();  // .<id>.wav.r<revision>.prev|none
      auto ext = it->path().extension();
      if (name.size() < 2 || name[0] != '.' || (ext != ".prev" && ext != ".none")) continue;
      auto stem = it->path().stem().string();  // .<id>.wav.r<revision>
      auto r = stem.rfind(".r");
      if (r == std::string::npos || r < 2) continue;
      std::int64_t revision = 0;
      try {
        revision = std::stoll(stem.substr(r + 2));
      } catch (const std::exception&) {
        continue;
      }
      entries.push_back({it->path().parent_path() / stem.substr(1, r - 1), revision, area});
    }
  }
  // Oldest first: of two entries for one file, only the newer can be uncommitted.
  std::sort(entries.begin(), entries.end(),
            [](const Entry& a, const Entry& b) { return a.revision < b.revision; });
  std::vector<std::string> out;
  for (auto& e : entries) {
    auto stored = revision_of(e.area, e.dest.stem().string());
    if (stored == 0) {  // no document (never committed, or removed since): no file either
      settle_install(e.dest, e.revision, true);
      unlink_if_there(e.dest);
      out.push_back(e.dest.string() + ": no document, file removed");
    } else {
      bool committed = stored >= e.revision;
      settle_install(e.dest, e.revision, committed);
      out.push_back(e.dest.string() + (committed ? ": revision " : ": revision not committed ") +
                    std::to_string(e.revision) +
                    (committed ? " committed, file kept" : ", previous file restored"));
    }
  }
  return out;
}

void write_file_durably(const fs::path& dest, std::string_view bytes) {
  auto tmp = stage_file(dest, bytes);
  try {
    install_file(tmp, dest);
  } catch (...) {
    ::unlink(tmp.c_str());
    throw;
  }
}

bool remove_file(const fs::path& file) {
  if (::unlink(file.c_str()) != 0) {
    if (errno == ENOENT) return false;
    fail("cannot remove", file);
  }
  sync_dir(file.parent_path());
  return true;
}

std::vector<fs::path> sweep_temp_files(const fs::path& data_dir) {
  std::vector<fs::path> stray;
  auto is_stray = [](const fs::directory_entry& e) {
    std::error_code ec;
    return e.is_regular_file(ec) && !e.is_symlink(ec) && e.path().extension() == ".tmp";
  };
  for (const char* area : {"media", "recordings"}) {
    std::error_code ec;
    fs::recursive_directory_iterator it(data_dir / area, ec), end;
    if (ec) continue;  // no such area yet
    for (; it != end; it.increment(ec)) {
      if (ec) fail("cannot list", data_dir / area, ec.value());
      if (is_stray(*it)) stray.push_back(it->path());
    }
  }
  if (std::error_code ec; fs::is_regular_file(data_dir / "secret.key.tmp", ec))
    stray.push_back(data_dir / "secret.key.tmp");
  for (auto& p : stray)
    if (::unlink(p.c_str()) != 0 && errno != ENOENT) fail("cannot remove", p);
  return stray;
}

std::string read_file(const fs::path& file, std::size_t max_bytes) {
  Fd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) fail("cannot open", file);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) fail("cannot stat", file);
  if (!S_ISREG(st.st_mode)) fail("not a regular file:", file, EISDIR);
  if (static_cast<std::uint64_t>(st.st_size) > max_bytes) fail("too large:", file, EFBIG);
  std::string out(static_cast<std::size_t>(st.st_size), '\0');
  std::size_t got = 0;
  while (got < out.size()) {
    ssize_t r = ::read(fd.get(), out.data() + got, out.size() - got);
    if (r < 0) {
      if (errno == EINTR) continue;
      fail("cannot read", file);
    }
    if (r == 0) break;  // shrank under us: return what is there
    got += static_cast<std::size_t>(r);
  }
  out.resize(got);
  return out;
}

}  // namespace confab::store
