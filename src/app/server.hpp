#pragma once
// The composition root: builds every subsystem from the config and wires them together.
#include "app/config.hpp"

#include <memory>
#include <string>

namespace confab::app {

// Loads (or creates) the server secret kept in the data dir.
std::string load_secret(const std::filesystem::path& data_dir);

// Runs the server until SIGINT/SIGTERM. Returns the process exit code.
int serve(const Config& cfg);

// Creates an account directly in the data dir's store; prints {"account_id","api_key"}.
int create_account_offline(const std::filesystem::path& data_dir, const std::string& name,
                           bool admin);

}  // namespace confab::app
