#pragma once
// Audio files kept next to the document store: uploaded media and conference recordings, one WAV
// per document, under the data dir. The document says what the file is (content_length,
// sample_rate, ...); the file is written before the document that announces it, and removed only
// after the document's removal is durable, so a document never names a file that is not there.
//
// Blocking file I/O: call from the store thread (Persister) or a media thread, not the control
// thread.
#include <cstddef>
#include <filesystem>
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
// Syncs a file written by someone else (a recorder) before it is installed.
void sync_file(const std::filesystem::path& file);
// Puts a staged file in place: atomic rename over `dest` (a reader sees the old file or the new
// one, never a mix), then syncs the directory so that the rename survives a crash.
void install_file(const std::filesystem::path& staged, const std::filesystem::path& dest);
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
