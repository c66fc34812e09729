#pragma once
// What a face needs from the media side to join a participant with an SDP offer: check the offer
// (a refusal says why, as SIP's 488 would), then attach the joined participant and get the answer.
#include <memory>
#include <string>
#include <string_view>

namespace confab::api {

class MediaPort {
 public:
  virtual ~MediaPort() = default;
  struct Offer;  // opaque to faces
  // Throws Error{not_acceptable} naming why the offer cannot be taken.
  virtual std::shared_ptr<Offer> check(std::string_view sdp) = 0;
  // Starts the participant's leg; returns the SDP answer.
  virtual std::string attach(const std::string& conference_id, int participant_id,
                             const Offer& offer) = 0;
};

}  // namespace confab::api
