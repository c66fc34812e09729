#pragma once
// Audio files kept next to the document store: uploaded media and conference recordings, one WAV
// per document, under the data dir. The document says what the file is (content_length,
// sample_rate, ...); the file is written before the document that announces it, and removed only
// after the document's removal is durable, so a document never names a file that is not there.
//
// Blocking file I/O: call from the store thread (Persister) or a media thread, not the control
// thread.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace confab::store {

// <data_dir>/media/<account_id>/<media_id>.wav. Throws std::invalid_argument for an id that is
// not a plain name (empty, or anything but letters, digits, '-' and '_').
std::filesystem::path media_path(const std::filesystem::path& data_dir, std::string_view account_id,
                                 std::string_view media_id);
// <data_dir>/recordings/<account_id>/<recording_id>.wav; same rule for ids.
std::filesystem::path recording_path(const std::filesystem::path& data_dir,
                                     std::string_view account_id, std::string_view recording_id);

// A fresh name beside `dest` for a file on its way there (same directory, so a rename puts it in
// place atomically). Creates the directory, and syncs each directory it creates.
std::filesystem::path temp_path_for(const std::filesystem::path& dest);
// Writes `bytes` to a temporary file beside `dest` and syncs it; returns its path. `dest` itself
// is untouched until install_file.
std::filesystem::path stage_file(const std::filesystem::path& dest, std::string_view bytes);
// Files made here are owner-only, whatever the umask: directories 0700, files 0600.
// Syncs a directory, so that the entries made or renamed in it survive a crash.
void sync_dir(const std::filesystem::path& dir);
// Syncs a file written by someone else (a recorder) before it is installed.
void sync_file(const std::filesystem::path& file);
// Puts a staged file in place: atomic rename over `dest` (a reader sees the old file or the new
// one, never a mix), then syncs the directory so that the rename survives a crash.
void install_file(const std::filesystem::path& staged, const std::filesystem::path& dest);
// install_file for a file that a document write describes, which commits later: the swap is
// journaled so that a crash before that commit cannot leave the old document with the new file.
// Beside `dest` it first makes `.<name>.r<revision>.prev` (a hard link to the file it replaces)
// or `.<name>.r<revision>.none` (there was none), durably, then renames the staged file in place.
// Once the write's fate is known, settle_install removes the entry (committed) or puts the old
// file back (not committed); after a crash, recover_installs does the same at start-up.
void install_file_journaled(const std::filesystem::path& staged, const std::filesystem::path& dest,
                            std::int64_t revision);
void settle_install(const std::filesystem::path& dest, std::int64_t revision, bool committed);
// At start-up, once the documents are loaded: settles every journal entry left under
// <data_dir>/media and <data_dir>/recordings. `revision_of(area, id)` is the stored revision of
// the document a file belongs to ("media" or "recordings", the file's stem), 0 when there is
// none (then its file goes too). Returns one line per entry settled, for the log.
std::vector<std::string> recover_installs(
    const std::filesystem::path& data_dir,
    const std::function<std::int64_t(std::string_view area, std::string_view id)>& revision_of);

// stage_file + install_file.
void write_file_durably(const std::filesystem::path& dest, std::string_view bytes);
// Removes a file and syncs its directory; false when there was nothing to remove.
bool remove_file(const std::filesystem::path& file);

// Removes what a crash can leave half-written: every regular file named *.tmp under
// <data_dir>/media and <data_dir>/recordings (staged uploads, recordings in progress) and
// <data_dir>/secret.key.tmp. Only for start-up, before anything writes there: a live writer's
// file would go too. Returns the files removed; throws std::system_error when one cannot be.
std::vector<std::filesystem::path> sweep_temp_files(const std::filesystem::path& data_dir);

// The whole file. Throws std::system_error: no_such_file_or_directory when it is missing,
// file_too_large when it is larger than `max_bytes`, the errno of any other failure.
std::string read_file(const std::filesystem::path& file, std::size_t max_bytes);

}  // namespace confab::store
