#include "store/media_files.hpp"
#include "../support.hpp"

#include <gtest/gtest.h>

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

using namespace confab::store;
namespace fs = std::filesystem;

namespace {

struct Dir : ::testing::Test {
  confab::test::TempDir tmp;
  fs::path root = tmp.path / "data";
  std::size_t entries(const fs::path& d) {
    std::size_t n = 0;
    for ([[maybe_unused]] auto& e : fs::directory_iterator(d)) ++n;
    return n;
  }
};

}  // namespace

TEST_F(Dir, PathsFollowTheLayout) {
  EXPECT_EQ(media_path("/d", "acct1", "m-1"), fs::path("/d/media/acct1/m-1.wav"));
  EXPECT_EQ(recording_path("/d", "acct1", "r_2"), fs::path("/d/recordings/acct1/r_2.wav"));
}

TEST_F(Dir, IdsThatAreNotPlainNamesAreRefused) {
  using namespace std::string_view_literals;
  for (auto bad : {""sv, ".."sv, "a/b"sv, "a\\b"sv, "x.wav"sv, "a b"sv, "a\0b"sv})
    EXPECT_THROW(media_path("/d", "acct", bad), std::invalid_argument) << bad;
  EXPECT_THROW(recording_path("/d", "../etc", "r"), std::invalid_argument);
}

TEST_F(Dir, WritesDurablyAndReadsBack) {
  auto f = media_path(root, "a", "m");
  write_file_durably(f, "first");
  EXPECT_EQ(read_file(f, 100), "first");
  write_file_durably(f, "second, longer");
  EXPECT_EQ(read_file(f, 100), "second, longer");
  EXPECT_EQ(entries(f.parent_path()), 1u);  // no temporary file left behind
}

TEST_F(Dir, AStagedFileIsInvisibleUntilInstalled) {
  auto f = recording_path(root, "a", "r");
  write_file_durably(f, "old");
  auto staged = stage_file(f, "new");
  EXPECT_EQ(staged.parent_path(), f.parent_path());  // same directory: the rename is atomic
  EXPECT_EQ(read_file(f, 100), "old");
  sync_file(staged);
  install_file(staged, f);
  EXPECT_EQ(read_file(f, 100), "new");
  EXPECT_FALSE(fs::exists(staged));
}

TEST_F(Dir, ReadFailuresSayWhy) {
  auto f = media_path(root, "a", "m");
  try {
    read_file(f, 100);
    ADD_FAILURE();
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::errc::no_such_file_or_directory);
  }
  write_file_durably(f, std::string(101, 'x'));
  try {
    read_file(f, 100);
    ADD_FAILURE();
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::errc::file_too_large);
  }
  EXPECT_EQ(read_file(f, 101).size(), 101u);
}

TEST_F(Dir, RemoveSaysWhetherThereWasAFile) {
  auto f = media_path(root, "a", "m");
  write_file_durably(f, "x");
  EXPECT_TRUE(remove_file(f));
  EXPECT_FALSE(remove_file(f));
  EXPECT_FALSE(fs::exists(f));
}

TEST_F(Dir, SweepRemovesStrayTemporaryFilesOnly) {
  auto kept = media_path(root, "a", "m");
  write_file_durably(kept, "audio");
  auto rec = recording_path(root, "a", "r");
  auto staged = stage_file(kept, "half");                  // an upload cut short
  auto part = temp_path_for(rec);                          // a recording in progress
  write_file_durably(part, "mix");                         // (its own temporary name ends .tmp too)
  fs::create_directories(root / "media" / "a" / "x.tmp");  // a directory, not a file: kept
  write_file_durably(root / "secret.key.tmp", "s");
  write_file_durably(root / "media" / "a" / "notes.tmp.wav", "kept");
  auto swept = sweep_temp_files(root);
  std::sort(swept.begin(), swept.end());
  std::vector<fs::path> want{staged, part, root / "secret.key.tmp"};
  std::sort(want.begin(), want.end());
  EXPECT_EQ(swept, want);
  for (auto& p : want) EXPECT_FALSE(fs::exists(p)) << p;
  EXPECT_EQ(read_file(kept, 100), "audio");
  EXPECT_TRUE(fs::exists(root / "media" / "a" / "x.tmp"));
  EXPECT_TRUE(fs::exists(root / "media" / "a" / "notes.tmp.wav"));
  EXPECT_TRUE(sweep_temp_files(root).empty());
  EXPECT_TRUE(sweep_temp_files(tmp.path / "absent").empty());
}

TEST_F(Dir, AJournaledInstallIsKeptOrUndoneByItsCommit) {
  auto f = media_path(root, "a", "m");
  write_file_durably(f, "old");
  install_file_journaled(stage_file(f, "new"), f, 2);
  EXPECT_EQ(read_file(f, 100), "new");
  settle_install(f, 2, false);  // the document write did not commit
  EXPECT_EQ(read_file(f, 100), "old");
  install_file_journaled(stage_file(f, "newer"), f, 3);
  settle_install(f, 3, true);
  EXPECT_EQ(read_file(f, 100), "newer");
  EXPECT_EQ(entries(f.parent_path()), 1u);  // no journal entry left
  auto g = media_path(root, "a", "first");
  install_file_journaled(stage_file(g, "x"), g, 1);
  settle_install(g, 1, false);  // there was no file before
  EXPECT_FALSE(fs::exists(g));
  EXPECT_EQ(entries(f.parent_path()), 1u);
}

TEST_F(Dir, RecoveryAfterACrashFollowsTheStoredRevision) {
  // Three files swapped in, the process "dies" before any commit is known.
  auto kept = media_path(root, "a", "kept");
  auto undone = media_path(root, "a", "undone");
  auto gone = recording_path(root, "a", "gone");
  write_file_durably(kept, "k1");
  write_file_durably(undone, "u1");
  install_file_journaled(stage_file(kept, "k2"), kept, 5);
  install_file_journaled(stage_file(undone, "u2"), undone, 7);
  install_file_journaled(stage_file(gone, "g1"), gone, 1);
  std::vector<std::pair<std::string, std::string>> asked;
  auto lines = recover_installs(root, [&](std::string_view area, std::string_view id) {
    asked.emplace_back(area, id);
    if (id == "kept") return std::int64_t{5};    // committed
    if (id == "undone") return std::int64_t{6};  // the write of revision 7 never committed
    return std::int64_t{0};                      // no such recording document
  });
  EXPECT_EQ(lines.size(), 3u);
  std::sort(asked.begin(), asked.end());
  EXPECT_EQ(asked, (std::vector<std::pair<std::string, std::string>>{
                       {"media", "kept"}, {"media", "undone"}, {"recordings", "gone"}}));
  EXPECT_EQ(read_file(kept, 100), "k2");
  EXPECT_EQ(read_file(undone, 100), "u1");
  EXPECT_FALSE(fs::exists(gone));
  EXPECT_EQ(entries(kept.parent_path()), 2u);
  EXPECT_EQ(entries(gone.parent_path()), 0u);
  EXPECT_TRUE(recover_installs(root, [](std::string_view, std::string_view) {
                return std::int64_t{1};
              }).empty());
}

// Staged files and the directories made for them are the owner's only, whatever the umask.
TEST_F(Dir, FilesAndDirectoriesAreOwnerOnlyWhateverTheUmask) {
  auto old = ::umask(0);
  auto dest = media_path(root, "acct", "m1");
  write_file_durably(dest, "RIFF");
  ::umask(old);
  auto mode = [](const fs::path& p) { return fs::status(p).permissions() & fs::perms::all; };
  EXPECT_EQ(mode(dest), fs::perms::owner_read | fs::perms::owner_write);
  EXPECT_EQ(mode(dest.parent_path()), fs::perms::owner_all);
  EXPECT_EQ(mode(root / "media"), fs::perms::owner_all);
}
