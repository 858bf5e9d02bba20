// The recorder's media answers: the SDP answer to a recording client's offer (a receiver per
// stream, SRTP keys, what each stream carries for playback), re-offers during the session, and
// the ports given back.
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include <spdlog/spdlog.h>
#include <boost/asio/ip/network_v4.hpp>
#include <boost/asio/ip/network_v6.hpp>

#include "common/clock.h"

#include "common/cidr.h"
#include "common/log.h"
#include "common/strings.h"
#include "media/audio.h"
#include "media/pcap.h"
#include "media/srtp.h"
#include "recorder/session.h"
#include "sip/cpim.h"
#include "siprec/call_facts.h"
#include "siprec/gateway_context.h"
#include "siprec/metadata.h"
#include "siprec/request.h"

namespace verbatim::recorder {

namespace {

const std::vector<std::string>& decodable() {
  static const std::vector<std::string> k = {"PCMU", "PCMA", "G722", "opus"};
  return k;
}

}  // namespace

void Recorder::release(StreamReceiver& stream) {
  stream.close();
  ports_.give(stream.port());
}

void Recorder::retire(Session& s, const std::shared_ptr<StreamReceiver>& stream) {
  stream->finish(std::chrono::system_clock::now(), std::chrono::steady_clock::now());
  release(*stream);
  s.closed.push_back(stream);
}

void Recorder::release(const std::vector<std::shared_ptr<StreamReceiver>>& streams) {
  for (const auto& st : streams) {
    if (st) release(*st);
  }
}

void Recorder::note_media(Session& s, uint16_t port, const StreamSpec& spec) {
  json payloads = json::object();
  for (const auto& [pt, rm] : spec.payloads) {
    payloads[std::to_string(pt)] = rm.encoding + "/" + std::to_string(rm.clock_rate) +
                                   (rm.channels > 1 ? "/" + std::to_string(rm.channels) : "");
  }
  for (auto& m : s.media) {
    if (m["port"] == port && m["label"] == spec.label) {
      for (const auto& [pt, enc] : payloads.items()) {
        if (!m["payloads"].contains(pt) || m["payloads"][pt] != enc) {
          m["payloads"][pt] = enc;
          s.media_changed = true;
        }
      }
      return;
    }
  }
  s.media.push_back({{"label", spec.label}, {"port", port}, {"payloads", std::move(payloads)}});
  s.media_changed = true;
}

Result<std::string> Recorder::answer(Session& s, const sip::SessionDescription& offer) {
  sip::AnswerOptions ao;
  ao.address = media_address_.to_string();
  ao.session_id = s.sdp_id;
  // Every codec is taken: the ones we decode first, anything else kept as evidence.
  ao.codecs = decodable();
  for (const auto& m : offer.media) {
    for (const auto& r : m.rtpmaps()) {
      if (!iequals(r.encoding, "telephone-event") && !media::can_decode(r.encoding))
        ao.codecs.push_back(r.encoding);
    }
  }
  // SRTP (RFC 4568 SDES): the first a=crypto line we can use; an RTP/SAVP stream without one
  // (DTLS-SRTP, an unknown suite, an MKI) is refused with port 0, never recorded in the clear.
  std::vector<std::optional<std::pair<sip::SdesCrypto, media::SdesKey>>> crypto(offer.media.size());
  // Ports: the stream's own for an m-line we already record, a new pair otherwise.
  std::vector<std::shared_ptr<StreamReceiver>> opened(offer.media.size());
  for (size_t i = 0; i < offer.media.size(); ++i) {
    const auto& m = offer.media[i];
    const bool secure = m.proto.find("SAVP") != std::string::npos;
    std::string crypto_problem = secure ? "no a=crypto line" : "";
    for (const auto& c : m.cryptos()) {
      auto k = media::parse_sdes_key(c.suite, c.key_params);
      if (k) {
        crypto[i] = std::pair{c, std::move(k).value()};
        break;
      }
      crypto_problem = k.error().message;
    }
    if (secure && !crypto[i]) {
      s.note({{"type", "srtp-refused"},
              {"index", i + 1},
              {"proto", m.proto},
              {"reason", crypto_problem}});
    }
    if (m.port == 0 || m.proto.find("RTP") == std::string::npos || (secure && !crypto[i])) {
      ao.ports.push_back(0);
      continue;
    }
    if (i < s.streams.size() && s.streams[i]) {
      ao.ports.push_back(s.streams[i]->port());
      continue;
    }
    std::shared_ptr<StreamReceiver> r;
    std::string last_error = "no media ports free";
    for (int attempt = 0; attempt < 16 && !r; ++attempt) {
      auto p = ports_.take();
      if (!p) break;
      auto o = StreamReceiver::open(io_, media_address_, *p, StreamSpec{}, options_.latch, &s);
      if (o) {
        r = o.value();
      } else {
        last_error = o.error().message;
        ports_.give(*p);
      }
    }
    if (!r) {
      release(opened);
      return make_error(ErrorCode::kResourceExhausted, last_error);
    }
    opened[i] = r;
    ao.ports.push_back(r->port());
  }
  auto a = sip::answer_recvonly(offer, ao);
  if (!a) {
    release(opened);
    return a.error();
  }
  sip::SessionDescription& ans = a.value();
  ans.origin.session_version = std::to_string(++s.sdp_version);
  // A pause (RFC 7866: the client makes every stream inactive) or its end: every stream that was
  // receiving stops, or from none receiving some start again. Noted once for the session (the
  // timeline shows it), not as each stream's hold.
  const bool was_receiving = std::any_of(s.streams.begin(), s.streams.end(),
                                         [](const auto& st) { return st && st->spec().receiving; });
  bool will_receive = false;
  for (const auto& m : ans.media) {
    will_receive |= m.port != 0 && m.direction() == sip::Direction::kRecvOnly;
  }
  const bool session_wide = !s.streams.empty() && was_receiving != will_receive;
  // The streams: new ones start when the answer is sent; existing ones take the change.
  std::vector<std::shared_ptr<StreamReceiver>> streams(offer.media.size());
  for (size_t i = 0; i < offer.media.size(); ++i) {
    const auto& om = offer.media[i];
    const auto& am = ans.media[i];
    std::shared_ptr<StreamReceiver> r = opened[i];
    if (!r && i < s.streams.size()) r = s.streams[i];
    if (!r) continue;
    if (am.port == 0) {
      if (r == opened[i]) {
        release(*r);
      } else {
        retire(s, r);
      }
      continue;
    }
    StreamSpec spec;
    spec.index = i;
    spec.label = om.label().value_or(std::to_string(i + 1));
    spec.media = om.media;
    spec.source_port = om.port;
    if (const auto* conn = offer.connection_for(om)) {
      boost::system::error_code ec;
      auto addr = asio::ip::make_address(conn->address.substr(0, conn->address.find('/')), ec);
      if (!ec && !addr.is_unspecified()) spec.source = addr;
    }
    bool any_decodable = false;
    for (const auto& f : am.formats) {
      const auto parsed = sip::parse_payload_type(f);
      if (!parsed) continue;
      const int pt = *parsed;
      auto rm = om.rtpmap(pt);
      if (!rm) continue;
      if (iequals(rm->encoding, "telephone-event")) {
        spec.telephone_event = pt;
      } else {
        spec.payloads[pt] = *rm;
        any_decodable |= media::can_decode(rm->encoding);
      }
    }
    spec.receiving = am.direction() == sip::Direction::kRecvOnly;
    spec.session_wide = session_wide;
    if (crypto[i]) {
      // Our own key for the answer (RFC 4568 §6.1: the same tag and suite); never used to send.
      const auto& [line, key] = *crypto[i];
      ans.media[i].attributes.push_back({"crypto", std::to_string(line.tag) + " " + line.suite +
                                                       " " + media::new_sdes_inline(line.suite)});
      spec.srtp = key;
    }
    if (!any_decodable) {
      s.note({{"type", "codec-not-decodable"},
              {"label", spec.label},
              {"note", "kept as evidence; no playback file"}});
    }
    note_media(s, r->port(), spec);
    r->update(spec);
    if (r == opened[i]) {
      r->start();
      ++metrics_.streams_started;
    }
    streams[i] = r;
  }
  // Streams on m-lines the new offer no longer has.
  for (size_t i = offer.media.size(); i < s.streams.size(); ++i) {
    if (s.streams[i]) retire(s, s.streams[i]);
  }
  s.streams = std::move(streams);
  if (session_wide) s.note({{"type", will_receive ? "pause-end" : "pause"}});
  fds_in_use_ -= s.fds;
  s.fds = 2;
  for (const auto& st : s.streams) s.fds += st ? 2 : 0;
  fds_in_use_ += s.fds;
  return sip::serialize_sdp(ans);
}

void add_siprec_business(json& business, const siprec::CallFacts& facts) {
  auto from_siprec = std::count_if(business.begin(), business.end(), [](const json& e) {
    return e.is_object() && e.value("source", "") == "siprec";
  });
  for (const auto& [key, value] : facts.data) {
    const json entry = {{"key", key}, {"value", value}, {"source", "siprec"}};
    if (from_siprec < static_cast<std::ptrdiff_t>(siprec::kMaxData) &&
        std::find(business.begin(), business.end(), entry) == business.end()) {
      business.push_back(entry);
      ++from_siprec;
    }
  }
}

// A chat message in a recording session (a meeting's chat from our gateway, as message/cpim with
// its sender and time; another client's text as it came): the signalling object keeps the
// request as sent (durable at the next flush), the recording's "chat" object (written when the
// session ends) and its timeline each entry.
bool Recorder::on_message(uint64_t id, uint64_t txn, const sip::Message& message) {
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return false;
  Session& s = *it->second;
  s.log_request(message);
  // Text that is not UTF-8 is kept in the signalling as sent; JSON gets it with U+FFFD.
  auto utf8 = [](std::string_view text) {
    return json::parse(json(std::string(text)).dump(-1, ' ', false, json::error_handler_t::replace))
        .get<std::string>();
  };
  const sip::Header* ct = message.find(sip::HeaderId::kContentType);
  const std::string type = ct ? std::string(ct->value) : "";
  const std::string now = format_iso8601_ms(std::chrono::system_clock::now());
  json entry = {{"receivedAt", now}};
  auto cpim = istarts_with(type, "message/cpim") ? sip::parse_cpim(message.body())
                                                 : Result<sip::CpimMessage>(sip::CpimMessage{});
  if (istarts_with(type, "message/cpim") && cpim) {
    entry["from"] = utf8(sip::cpim_address(cpim.value().from));
    entry["fromName"] = utf8(cpim.value().from);
    entry["to"] = utf8(sip::cpim_address(cpim.value().to));
    entry["sentAt"] = utf8(cpim.value().date_time);
    entry["contentType"] = utf8(cpim.value().content_type);
    entry["text"] = utf8(cpim.value().body);
  } else {
    auto from = message.from();
    entry["from"] = from ? utf8(from.value().uri.text) : "";
    entry["contentType"] = utf8(type);
    entry["text"] = utf8(message.body());
  }
  if (s.chat.size() < 100000) s.chat.push_back(entry);
  s.note({{"type", "chat"}, {"from", entry["from"]}, {"bytes", message.body().size()}});
  ++metrics_.chat_messages;
  warn_on_error(sip_->ua().reply(txn, message, 200, "OK"), "answering a MESSAGE");
  return true;
}

Result<std::string> Recorder::on_reoffer(uint64_t id, const sip::Message& request) {
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return sip::protocol_error(481, "no such recording session");
  Session& s = *it->second;
  s.log_request(request);
  auto body = siprec::siprec_body(request);
  if (!body) return sip::protocol_error(400, body.error().message);
  // One new version of the catalog metadata for what this request changed (SIPREC metadata,
  // streams or codecs: the playback job reads the latter after a crash too).
  std::string why;
  auto store_catalog = [&] {
    if (s.media_changed) {
      s.catalog["media"] = s.media;
      s.media_changed = false;
      why += std::string(why.empty() ? "" : "; ") + "media renegotiated in " +
             std::string(request.method());
    }
    if (why.empty()) return;
    if (auto v = archive_.update_metadata(s.recording_id, s.catalog, "recorder", why); !v) {
      spdlog::warn("recording {}: metadata update not stored: {}", s.recording_id,
                   v.error().message);
    }
  };
  if (body.value().metadata) {
    std::vector<siprec::MetadataProblem> problems;
    auto md = siprec::parse_metadata(*body.value().metadata, &problems);
    if (md) {
      const bool partial = md.value().partial;
      if (s.have_metadata) {
        siprec::merge(s.metadata, md.value());
      } else {
        s.metadata = std::move(md).value();
      }
      s.have_metadata = true;
      s.catalog["participants"] = siprec::participants_json(s.metadata);
      s.catalog["siprec"] = siprec::to_json(s.metadata);
      // Business data the update adds (a Session-ID learnt from the callee's answer, say).
      json& business = s.catalog["business"];
      if (!business.is_array()) business = json::array();
      add_siprec_business(business, siprec::call_facts(s.metadata));
      if (business.empty()) s.catalog.erase("business");
      why = std::string("SIPREC metadata ") + (partial ? "update (partial)" : "snapshot") + " in " +
            std::string(request.method());
      s.note({{"type", "metadata-update"}, {"partial", partial}});
    } else {
      s.note({{"type", "metadata-unreadable"}, {"error", md.error().message}});
    }
  }
  if (!body.value().sdp) {
    store_catalog();
    return std::string();
  }
  auto offer = sip::parse_sdp(*body.value().sdp);
  if (!offer) {
    store_catalog();
    return sip::protocol_error(488, "SDP offer: " + offer.error().message);
  }
  auto a = answer(s, offer.value());
  store_catalog();
  if (!a) {
    return sip::protocol_error(a.error().code == ErrorCode::kResourceExhausted ? 503 : 488,
                               a.error().message);
  }
  s.note({{"type", "renegotiated"}, {"streams", offer.value().media.size()}});
  return a.value();
}

}  // namespace verbatim::recorder
