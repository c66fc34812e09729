#pragma once
// Every maximum confab applies to what clients send, in one place: the validators of core and the
// faces read them from here, and docs/api/limits.md lists them per face and field. Lengths are in
// bytes of UTF-8 (a name of 128 bytes holds 128 Latin letters, 42 CJK characters or 32 emoji).
// A conference needs tens of PINs and numbers, never thousands; every check below is linear in
// what it checks, and nothing over a limit is stored.
#include <cstddef>
#include <cstdint>

namespace confab::core::limits {

// --- documents (Kazoo REST; also what the other faces create: hub rooms, subjects) --------------
inline constexpr std::size_t kDocumentBytes = 64 * 1024;  // one document as stored (JSON)
inline constexpr std::size_t kNameBytes = 128;  // conference, account, hub, media, first/last name
inline constexpr std::size_t kDisplayBytes =
    256;                                     // caller ID names, guest names, usernames, settings
inline constexpr std::size_t kIdBytes = 64;  // ids a client names: user, socket, room, hub...
inline constexpr std::size_t kCallIdBytes = 128;  // a call id (SIP Call-IDs run long)
inline constexpr std::size_t kNumberBytes = 32;   // dial-in numbers, caller numbers, dialled digits
inline constexpr std::size_t kExtensionBytes = 16;
inline constexpr std::size_t kPinDigits = 16;      // Kazoo: PINs of 1 to 16 digits
inline constexpr std::size_t kListItems = 100;     // numbers per list, PINs per list, any array
inline constexpr std::size_t kTextBytes = 1024;    // subjects, descriptions, tone strings
inline constexpr std::size_t kStringBytes = 4096;  // any other string (unknown keys, messages)
inline constexpr std::size_t kObjectKeys = 1000;   // keys of one object (affiliations, privileges)
inline constexpr std::size_t kKeyBytes = 128;      // one object key
inline constexpr std::size_t kDepth = 8;           // objects and arrays nested in a document field
inline constexpr std::size_t kSecretBytes = 1024;  // passwords, API keys, credentials
inline constexpr std::int64_t kMaxParticipants = 10'000;  // a conference's max_participants

// --- requests -----------------------------------------------------------------------------------
inline constexpr std::size_t kMessageBytes = 4096;   // one chat message
inline constexpr std::size_t kMetadataBytes = 8192;  // a client's metadata or payload object (JSON)
inline constexpr std::size_t kTokenBytes = 4096;     // an auth token
inline constexpr std::size_t kRequestIdBytes = 128;  // Kazoo request_id, X-Request-ID
inline constexpr std::size_t kBindingBytes = 256;    // one event-socket binding
inline constexpr std::size_t kBindingsPerSocket = 100;
inline constexpr std::int64_t kHistoryMin = 1, kHistoryMax = 200, kHistoryDefault = 50;  // page
inline constexpr std::int64_t kMaxSeq = (std::int64_t{1} << 53) - 1;  // a message seq (exact in JS)
inline constexpr std::int64_t kMaxParticipantId = 2'147'483'647;
inline constexpr std::int64_t kMaxCallSeconds = 7 * 24 * 3600;  // a call log's duration

}  // namespace confab::core::limits
