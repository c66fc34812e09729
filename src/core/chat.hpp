#pragma once
// Chat: every conference room has one (room id = conference id), and every pair of users has a
// direct channel, kept once per side as Drumee does ("dm:<owner>:<peer>"), so that a call log
// can say "caller" on one side and "callee" on the other. MUC rules decide who may post.
#include "core/events.hpp"
#include "core/service.hpp"

#include <boost/json/object.hpp>

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace confab::core {

struct ChatMessage {
  std::string room_id;
  std::int64_t seq = 0;
  std::string account_id;
  std::int64_t ts = 0;  // unix milliseconds
  std::string author_id;
  std::string author_name;
  std::string kind = "text";  // text | call
  std::string body;
  boost::json::object metadata;
  std::string owner_id;  // direct channels: whose side this copy is
  std::string peer_id;
};

boost::json::object to_json(const ChatMessage& m);
std::string direct_room(std::string_view owner, std::string_view peer);

class Chat {
 public:
  using MsClock = std::function<std::int64_t()>;
  Chat(ConferenceService& svc, EventSink& sink, MsClock clock);

  void load_seq(const std::string& room_id, std::int64_t last) { next_[room_id] = last + 1; }

  // A message to a conference room. The author must be in the room; a visitor of a moderated
  // room may not post (XEP-0045). Throws not_a_member / forbidden / invalid_data.
  ChatMessage prepare_room(std::string_view account_id, std::string_view conference_id,
                           std::string_view author_user_id, std::string_view body);
  // A direct message: one copy in each party's channel.
  std::vector<ChatMessage> prepare_direct(std::string_view account_id, std::string_view from_user,
                                          std::string_view to_user, std::string_view body,
                                          std::string_view kind = "text",
                                          const boost::json::object& metadata = {});
  // Drumee logCall: only cancel, leave, reject and decline are logged (others: empty result).
  std::vector<ChatMessage> prepare_call_log(std::string_view account_id, std::string_view caller,
                                            std::string_view callee, std::string_view event,
                                            std::int64_t duration);
  // Once stored: tells the room (or the two parties) about it.
  void commit(const ChatMessage& m);

  // Who may read a room's history: users of the account, except outcasts of the conference;
  // a direct channel only by its owner. Throws forbidden / not_found.
  void check_read(std::string_view account_id, std::string_view room_id,
                  std::string_view user_id) const;
  // The subject and description of a conference room are changed by its moderators.
  PendingWrite prepare_subject(std::string_view account_id, std::string_view conference_id,
                               std::string_view user_id, const boost::json::object& change);

 private:
  ChatMessage numbered(std::string room_id, std::string_view account_id, std::string_view author,
                       std::string_view body);
  std::string display_name(std::string_view user_id) const;

  ConferenceService& svc_;
  EventSink& sink_;
  MsClock clock_;
  std::unordered_map<std::string, std::int64_t> next_;
};

}  // namespace confab::core
