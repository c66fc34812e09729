#pragma once
// What the SIP endpoint tells the application and what it lets the application do. The endpoint
// speaks SIP (transactions, dialogs, retransmissions, session timers); the application decides
// what a call is for. It knows nothing of conferences: the conference bridge is one application.
//
// Every callback runs on the control thread, inside the endpoint's handling of a message or a
// timer. An application may call back into the endpoint from a callback (answer from on_invite,
// say) or later from anywhere on the control thread.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace confab::sip {

// The endpoint's handle of one call (one INVITE dialog). Never reused while the endpoint lives.
using CallId = std::uint64_t;

enum class Transport : std::uint8_t { udp, tcp };
std::string_view transport_name(Transport t);

// A new INVITE, out of any dialog. Strings are as the caller sent them, unescaped by nothing but
// the URI parser; each is bounded by the endpoint's message size cap.
struct IncomingCall {
  CallId call = 0;
  std::string request_user;  // user part of the Request-URI: the number dialled ("" if none)
  std::string request_uri;   // the whole Request-URI
  std::string from_user;     // user part of the From URI: the caller's number
  std::string from_display;  // From display name, quotes removed ("" if none)
  std::string from_uri;
  std::string call_id;    // the SIP Call-ID
  std::string source_ip;  // where the INVITE came from (the NAT's address, not the Via's)
  std::uint16_t source_port = 0;
  Transport transport = Transport::udp;
  std::optional<std::string> offer;  // the SDP offer; none: offer in our 200, answer in the ACK
};

// Why a call ended, as reported by on_end. Ends the application asks for itself (reject, bye)
// are not reported: the call is over when that endpoint call returns.
enum class EndReason : std::uint8_t {
  remote_bye,       // the caller sent BYE
  cancelled,        // the caller sent CANCEL before the answer (it got 487)
  ack_timeout,      // our 200 was never acknowledged (64*T1): BYE sent
  session_expired,  // session timer (RFC 4028): no refresh in time, BYE sent
  answer_timeout,   // the application neither answered nor rejected in time (480 sent)
  refresh_failed,   // our session refresh was refused with 481 or 408 (the peer lost the call)
  shutdown,         // the endpoint stopped (BYE sent to established calls)
};
std::string_view end_reason_name(EndReason r);

class SipApp {
 public:
  virtual ~SipApp() = default;
  // A new call. The application must answer it with exactly one of ring (any number of times),
  // then answer or reject; now or later. One it leaves unanswered for the endpoint's
  // answer_timeout gets 480 and on_end(answer_timeout).
  virtual void on_invite(const IncomingCall& call) = 0;
  // The caller acknowledged our 200. `answer` is the SDP answer when the INVITE had no offer
  // (our 200 carried the offer); for an INVITE that had an offer it is none.
  virtual void on_ack(CallId call, const std::optional<std::string>& answer) = 0;
  // A re-INVITE or UPDATE with a new offer inside an established call (hold, unhold, new codec
  // or address). The application answers with Endpoint::answer (200 with its SDP answer) or
  // Endpoint::reject (the call continues as it was, RFC 3261 section 14.2). A re-INVITE
  // without an offer asks the application for one: `offer` is none, answer() sends the offer
  // and on_ack brings the caller's answer.
  virtual void on_reoffer(CallId call, const std::optional<std::string>& offer) = 0;
  // A DTMF digit from SIP INFO (application/dtmf-relay or application/dtmf): 0-9 * # A-D, or
  // '!' for flash; duration in milliseconds (0 when the body gave none).
  virtual void on_info_digit(CallId call, char digit, int duration_ms) = 0;
  // The call is over; the CallId is dead from here on (endpoint calls on it return false).
  // Called once per call the application did not end itself.
  virtual void on_end(CallId call, EndReason reason) = 0;
};

}  // namespace confab::sip
