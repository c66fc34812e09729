#pragma once
// Every maximum confab applies to what clients send, in one place: the validators of core and the
// faces read them from here, and docs/api/limits.md lists them per face and field. Lengths are in
// bytes of UTF-8 (a name of 128 bytes holds 128 Latin letters, 42 CJK characters or 32 emoji).
// A conference needs tens of PINs and numbers, never thousands; every check is linear in what it
// checks, and nothing over a limit is stored.
#include <cstddef>
#include <cstdint>

namespace confab::core::limits {

// --- documents (Kazoo REST; also what the other faces create: hub rooms, subjects) ------------

// One document as stored (JSON).
inline constexpr std::size_t kDocumentBytes = 64 * 1024;
// Names: conference, account, hub, media; a user's first and last name (Kazoo: 1..128).
inline constexpr std::size_t kNameBytes = 128;
// Display strings: caller ID names, guest names, usernames, a conference's settings strings.
inline constexpr std::size_t kDisplayBytes = 256;
// Ids a client names: user, socket, room, hub, participant (as text).
inline constexpr std::size_t kIdBytes = 64;
// A chat room id, which may be a direct channel: "dm:<user>:<user>".
inline constexpr std::size_t kRoomIdBytes = 2 * kIdBytes + 4;
// A call id (SIP Call-IDs run long).
inline constexpr std::size_t kCallIdBytes = 128;
// Dial-in numbers, caller numbers, dialled digits.
inline constexpr std::size_t kNumberBytes = 32;
inline constexpr std::size_t kExtensionBytes = 16;
// Kazoo: PINs of 1 to 16 digits.
inline constexpr std::size_t kPinDigits = 16;
// Numbers per list, PINs per list, and any other array.
inline constexpr std::size_t kListItems = 100;
// Subjects, descriptions, tone strings.
inline constexpr std::size_t kTextBytes = 1024;
// Any other string (a document's unknown keys, metadata).
inline constexpr std::size_t kStringBytes = 4096;
// Keys of one object (affiliations, privileges), and the length of one key.
inline constexpr std::size_t kObjectKeys = 1000;
inline constexpr std::size_t kKeyBytes = 128;
// Objects and arrays nested in one document field.
inline constexpr std::size_t kDepth = 8;
// Passwords, API keys, credentials.
inline constexpr std::size_t kSecretBytes = 1024;
// A conference's max_participants.
inline constexpr std::int64_t kMaxParticipants = 10'000;

// --- requests ---------------------------------------------------------------------------------

// One chat message.
inline constexpr std::size_t kMessageBytes = 4096;
// A client's metadata or payload object, as JSON.
inline constexpr std::size_t kMetadataBytes = 8192;
inline constexpr std::size_t kTokenBytes = 4096;
// Kazoo request_id and X-Request-ID; Drumee echoId.
inline constexpr std::size_t kRequestIdBytes = 128;
// Event-socket bindings: the length of one, and how many one socket holds.
inline constexpr std::size_t kBindingBytes = 256;
inline constexpr std::size_t kBindingsPerSocket = 100;
// A page of chat history: limit 1..200, 50 when not given.
inline constexpr std::int64_t kHistoryMin = 1, kHistoryMax = 200, kHistoryDefault = 50;
// A message seq (`before`): exact in JavaScript.
inline constexpr std::int64_t kMaxSeq = (std::int64_t{1} << 53) - 1;
// A participant id (an index in XiVO).
inline constexpr std::int64_t kMaxParticipantId = 2'147'483'647;
// A call log's duration in seconds: a week.
inline constexpr std::int64_t kMaxCallSeconds = 7 * 24 * 3600;

}  // namespace confab::core::limits
