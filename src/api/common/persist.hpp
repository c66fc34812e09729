#pragma once
// Write-through of a prepared change: durable in the store first, then committed to the core's
// catalog (or aborted), then the caller continues. Shared by every face.
#include "core/chat.hpp"
#include "core/service.hpp"
#include "store/executor.hpp"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace confab::api {

class Persister {
 public:
  Persister(core::ConferenceService& svc, store::StoreExecutor& exec) : svc_(svc), exec_(exec) {}
  // `then(error)` runs on the control thread; empty error means committed.
  void write(core::PendingWrite w, std::function<void(const std::string& error)> then);
  // Like write(), for a document with a file (a media upload, a recording): on the store thread,
  // the file is made durable beside `dest` first, then the document is stored, then the file
  // replaces `dest` (an atomic rename), all before the commit. A failure at any of these steps
  // leaves the previous document and file as they were, and no temporary file behind. The swap is
  // journaled (store::install_file_journaled): should the commit itself fail after the rename,
  // the previous file is put back; should the process die before the commit is durable, the
  // start-up does it (store::recover_installs), so a document always describes its file.
  void write_with_file(core::PendingWrite w, std::filesystem::path dest,
                       std::shared_ptr<const std::string> bytes,
                       std::function<void(const std::string& error)> then);
  // The same with a file already written beside `dest` (store::temp_path_for) by someone else, a
  // recorder: it is synced, then installed as above. On failure it is left where it is, for its
  // writer to retry or remove.
  void write_with_staged_file(core::PendingWrite w, std::filesystem::path staged,
                              std::filesystem::path dest,
                              std::function<void(const std::string& error)> then);
  // A removal (w.remove) whose file goes once the removal is durable: a document never names a
  // missing file, and a crash in between leaves only an orphan file.
  void remove_with_file(core::PendingWrite w, std::filesystem::path file,
                        std::function<void(const std::string& error)> then);
  // Reads a file on the store thread, so that it sees every write queued before it and the
  // control thread never waits on the disk. `then(error, bytes)`: error is empty, "missing", or
  // what went wrong.
  void read_file(std::filesystem::path file, std::size_t max_bytes,
                 std::function<void(const std::string& error, std::string bytes)> then);

  // Work that can be long (a WAV to parse or convert) runs here, on the store thread, so that no
  // request holds the control thread; `then(error)` runs on the control thread once it is done
  // (error: what `work` threw). `work` must not touch the core: what it makes goes through state
  // that the two share.
  void run(std::function<void()> work, std::function<void(const std::string& error)> then);

  // Loads documents of `kind` that another process (`confab account create`) added to the store
  // while we run; documents we already hold are left alone. `then` runs on the control thread.
  // Coalesced, since clients without credentials can ask for it (a failed api_auth): while a
  // reload of the kind runs, callers wait for that one; within the refresh interval of the start
  // of the last one, `then` runs at once with what is held. The store thread does at most one
  // reload per kind per interval, however many ask.
  void refresh(std::string kind, std::function<void()> then);
  void set_refresh_interval(std::chrono::seconds s) { refresh_interval_ = s; }
  // Reloads that reached the store (for /metrics).
  std::uint64_t refreshes() const { return refreshes_run_; }

  // Stores chat messages (all or none), then commits each to `chat` (which tells the room).
  void write_messages(core::Chat& chat, std::vector<core::ChatMessage> msgs,
                      std::function<void(const std::string& error)> then);
  // A page of a room's history, newest first: messages with seq < before (0: the newest).
  void history(std::string room_id, std::int64_t before, int limit,
               std::function<void(const std::string& error, boost::json::array messages)> then);

 private:
  // settle() for a write whose file was installed journaled at `dest`: the journal entry is
  // settled on the store thread (removed, or the previous file restored) before `then` runs.
  store::StoreExecutor::Done settle_with_file(core::PendingWrite w, std::filesystem::path dest,
                                              std::function<void(const std::string& error)> then);
  // Commits (or aborts) `w` once the store has answered, then calls `then`.
  store::StoreExecutor::Done settle(core::PendingWrite w,
                                    std::function<void(const std::string& error)> then);

  core::ConferenceService& svc_;
  store::StoreExecutor& exec_;
  struct Refresh {
    bool running = false;
    bool ran = false;
    std::chrono::steady_clock::time_point started;
    std::vector<std::function<void()>> waiting;
  };
  std::map<std::string, Refresh, std::less<>> refreshes_;  // by kind
  std::uint64_t refreshes_run_ = 0;
  std::chrono::seconds refresh_interval_{5};
};

}  // namespace confab::api
