// Kazoo crossbar's media and recordings: /v2/accounts/{A}/media[/{M}[/raw]] (cb_media) and
// /v2/accounts/{A}/recordings[/{R}[/raw]] (cb_recordings). Documents go through the core like every
// other; their WAV files live beside the store (store/media_files) and are written, read and
// removed on the store thread through the Persister.
#include "api/kazoo/render.hpp"
#include "api/kazoo/rest.hpp"
#include "api/kazoo/rest_util.hpp"
#include "core/identity.hpp"
#include "core/json_util.hpp"
#include "media/wav.hpp"
#include "store/media_files.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <charconv>
#include <memory>
#include <optional>

namespace confab::api::kazoo {
namespace json = boost::json;
using core::Access;
using core::lower;
using core::WriteMode;

namespace {

// The largest file a download reads into memory: a long recording, not an archive.
constexpr std::size_t kMaxDownload = 512u << 20;

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool is_wav_type(std::string_view t) {
  return t == "audio/wav" || t == "audio/x-wav" || t == "audio/wave" || t == "audio/vnd.wave";
}

// Kazoo picks JSON or the file from the client's preferences, best quality first: ?accept= (for
// links that cannot set headers) wins over the Accept header; JSON unless a WAV type (or audio/*)
// comes before any JSON or */*.
bool wants_audio(const net::Request& r) {
  std::string accept = r.query_param("accept");
  if (accept.empty()) accept = std::string(r.header("accept"));
  struct Choice {
    std::string type;
    double q;
  };
  std::vector<Choice> choices;
  std::string_view rest = accept;
  while (!rest.empty()) {
    auto comma = rest.find(',');
    auto item = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
    auto semi = item.find(';');
    Choice c{lower(trim(item.substr(0, semi))), 1.0};
    for (auto params = semi == std::string_view::npos ? std::string_view{} : item.substr(semi + 1);
         !params.empty();) {
      auto next = params.find(';');
      auto p = trim(params.substr(0, next));
      if (p.starts_with("q=")) {
        double q = 1.0;
        auto [end, ec] = std::from_chars(p.data() + 2, p.data() + p.size(), q);
        if (ec == std::errc{} && end == p.data() + p.size()) c.q = q;
      }
      params = next == std::string_view::npos ? std::string_view{} : params.substr(next + 1);
    }
    if (!c.type.empty() && c.q > 0) choices.push_back(std::move(c));
  }
  std::stable_sort(choices.begin(), choices.end(),
                   [](const Choice& a, const Choice& b) { return a.q > b.q; });
  for (auto& c : choices) {
    if (c.type == "application/json" || c.type == "application/x-json" || c.type == "*/*")
      return false;
    if (c.type == "audio/*" || is_wav_type(c.type)) return true;
  }
  return false;
}

// What a media listing shows of each document: Kazoo's summary (id, name, media_type, language,
// is_prompt) and what a client wants to know of the file before fetching it.
json::object media_summary(const core::Doc& d) {
  json::object out{{"id", d.id}};
  for (auto key : {"name", "description", "media_source", "media_type", "content_type",
                   "content_length", "sample_rate", "channels", "duration_ms"})
    if (auto* v = d.body.if_contains(key)) out[key] = *v;
  out["language"] = lower(core::str_field(d.body, "language"));
  out["is_prompt"] = d.body.contains("prompt_id");
  return out;
}

std::int64_t start_of(const core::Doc& d) {
  auto* v = d.body.if_contains("start");
  return v && v->is_int64() ? v->as_int64() : 0;
}

}  // namespace

bool Rest::is_upload(std::string_view method, std::string_view path) {
  return method == "POST" && path.starts_with("/v2/accounts/") && path.ends_with("/raw") &&
         path.find("/media/") != std::string_view::npos;
}

std::filesystem::path Rest::file_of(const core::Doc& d) const {
  if (opts_.data_dir.empty()) throw Error(Errc::unavailable, "this server keeps no media files");
  return d.kind == "recording" ? store::recording_path(opts_.data_dir, d.account_id, d.id)
                               : store::media_path(opts_.data_dir, d.account_id, d.id);
}

void Rest::media(Ctx& c, const net::Request& req, const std::string& account,
                 const std::vector<std::string>& seg, net::Reply& reply) {
  svc_.get("account", account, account);
  if (seg.size() == 4) {
    allow(req, {"GET", "PUT"});
    if (req.method == "GET") {
      svc_.authorize(c.claims, account, Access::read);
      json::array out;
      for (auto* d : svc_.directory().list("media", account)) out.push_back(media_summary(*d));
      return reply(success(c, 200, std::move(out)));
    }
    auto env = parse_envelope(req);
    const auto& data = data_of(env);
    auto owner = data.is_object() ? core::str_field(data.as_object(), "owner_id") : std::string();
    svc_.authorize(c.claims, account, Access::write, owner);
    return save(c, svc_.prepare("media", account, {}, WriteMode::create, data, &c.claims), 201,
                reply);
  }
  const auto& id = seg[4];
  bool raw = seg.size() == 6 && seg[5] == "raw";
  if (seg.size() > 6 || (seg.size() == 6 && !raw)) throw Error(Errc::not_found, "not found");
  if (raw)
    allow(req, {"GET", "POST"});
  else
    allow(req, {"GET", "POST", "PATCH", "DELETE"});
  auto& doc = svc_.get("media", account, id);
  if (req.method == "GET") {
    svc_.authorize(c.claims, account, Access::read);
    if (raw || wants_audio(req)) {
      if (!doc.body.contains("content_length"))
        throw Error(Errc::not_found, "no file has been uploaded for this media yet",
                    json::object{{"cause", id}});
      return download(c, doc, file_of(doc), reply);
    }
    return reply(success(c, 200, public_doc(doc), revision_tag(doc)));
  }
  svc_.authorize(c.claims, account, Access::write, core::str_field(doc.body, "owner_id"));
  if (raw) return upload(c, req, doc, reply);
  if (req.method == "DELETE") {
    auto file = file_of(doc);  // whatever may throw comes before prepare reserves the document
    auto w = svc_.prepare("media", account, id, WriteMode::remove, {}, &c.claims);
    auto done = saved(c, w, 200, std::move(reply));
    return persist_.remove_with_file(std::move(w), std::move(file), std::move(done));
  }
  auto env = parse_envelope(req);
  auto mode = req.method == "POST" ? WriteMode::replace : WriteMode::patch;
  return save(c, svc_.prepare("media", account, id, mode, data_of(env), &c.claims), 200, reply);
}

void Rest::upload(Ctx& c, const net::Request& req, const core::Doc& doc, net::Reply& reply) {
  // Kazoo takes a missing type as application/octet-stream; so do we, and look at the bytes.
  auto content_type = req.header("content-type");
  auto type = lower(trim(content_type.substr(0, content_type.find(';'))));
  if (!type.empty() && !is_wav_type(type) && type != "application/octet-stream")
    throw Error(Errc::unsupported_media_type,
                "Content-Type " + type +
                    " is not accepted for media: send a WAV file as audio/wav (or audio/x-wav, "
                    "audio/wave, application/octet-stream)",
                json::object{{"content_type", type}});
  if (req.body.empty())
    throw field_error("file", "required", "Please provide a media file in the request body");
  auto file = file_of(doc);  // whatever may throw comes before the work is handed off
  // Parsing a WAV of up to media.upload_limit is long work: it runs off the control thread, and
  // the facts it finds are written once it is done.
  struct Parsed {
    std::optional<Error> error;
    json::object facts;
  };
  auto bytes = std::make_shared<const std::string>(req.body);
  auto parsed = std::make_shared<Parsed>();
  auto work = [bytes, parsed] {
    try {
      auto pcm = media::parse_wav(*bytes);
      parsed->facts = json::object{{"content_type", "audio/wav"},
                                   {"media_type", "wav"},
                                   {"content_length", static_cast<std::int64_t>(bytes->size())},
                                   {"sample_rate", pcm.rate},
                                   {"channels", pcm.channels},
                                   {"duration_ms", pcm.duration_ms()}};
    } catch (const media::WavError& e) {
      if (e.kind == media::WavError::Kind::unsupported)
        parsed->error =
            Error(Errc::unsupported_media_type, e.what(), json::object{{"cause", e.what()}});
      else
        parsed->error = field_error(
            "file", e.kind == media::WavError::Kind::too_long ? "maximum" : "format", e.what());
    }
  };
  auto then = [this, c, account = doc.account_id, id = doc.id, file = std::move(file), bytes,
               parsed, reply = std::move(reply)](const std::string& err) mutable {
    try {
      if (!err.empty()) throw Error(Errc::unavailable, err);
      if (parsed->error) throw *parsed->error;
      // The document may have changed meanwhile: the facts patch what it is now. The server
      // writes them (a null actor); the client's right to do so was checked before.
      auto w = svc_.prepare("media", account, id, WriteMode::patch, parsed->facts, nullptr);
      auto done = saved(c, w, 200, std::move(reply));
      persist_.write_with_file(std::move(w), std::move(file), bytes, std::move(done));
    } catch (const Error& e) {
      if (reply) reply(failure(c, e));
    }
  };
  persist_.run(std::move(work), std::move(then));
}

void Rest::download(Ctx& c, const core::Doc& doc, const std::filesystem::path& file,
                    net::Reply& reply_ref) {
  auto reply = std::move(reply_ref);
  persist_.read_file(
      file, kMaxDownload,
      [this, c, id = doc.id, reply = std::move(reply)](const std::string& err, std::string bytes) {
        if (err == "missing")
          return reply(failure(c, Error(Errc::not_found, "the file of this document is missing",
                                        json::object{{"cause", id}})));
        if (!err.empty()) return reply(failure(c, Error(Errc::unavailable, err)));
        net::Response r{200, std::move(bytes), "audio/wav", {}};
        r.headers.emplace_back("Content-Disposition", "attachment; filename=\"" + id + ".wav\"");
        reply(std::move(r));
      });
}

void Rest::recordings(Ctx& c, const net::Request& req, const std::string& account,
                      const std::vector<std::string>& seg, net::Reply& reply) {
  svc_.get("account", account, account);
  if (seg.size() == 4) {
    allow(req, {"GET"});
    svc_.authorize(c.claims, account, Access::read);
    auto conference = req.query_param("conference_id");
    auto docs = svc_.directory().list("recording", account);
    std::erase_if(docs, [&](const core::Doc* d) {
      return !conference.empty() && core::str_field(d->body, "conference_id") != conference;
    });
    // Newest first, as Kazoo's listing by timestamp.
    std::stable_sort(docs.begin(), docs.end(), [](const core::Doc* a, const core::Doc* b) {
      return start_of(*a) > start_of(*b);
    });
    json::array out;
    for (auto* d : docs) out.push_back(public_doc(*d));
    return reply(success(c, 200, std::move(out)));
  }
  bool raw = seg.size() == 6 && seg[5] == "raw";
  if (seg.size() > 6 || (seg.size() == 6 && !raw)) throw Error(Errc::not_found, "not found");
  if (raw)
    allow(req, {"GET"});
  else
    allow(req, {"GET", "DELETE"});  // recordings are made by the server, never written by clients
  const auto& id = seg[4];
  auto& doc = svc_.get("recording", account, id);
  if (req.method == "GET") {
    svc_.authorize(c.claims, account, Access::read);
    if (raw || wants_audio(req)) return download(c, doc, file_of(doc), reply);
    return reply(success(c, 200, public_doc(doc), revision_tag(doc)));
  }
  svc_.authorize(c.claims, account, Access::write, core::str_field(doc.body, "owner_id"));
  auto file = file_of(doc);
  auto w = svc_.prepare("recording", account, id, WriteMode::remove, {}, &c.claims);
  auto done = saved(c, w, 200, std::move(reply));
  persist_.remove_with_file(std::move(w), std::move(file), std::move(done));
}

}  // namespace confab::api::kazoo
