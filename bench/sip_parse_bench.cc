// SIP parser benchmark (issue 3): parse + typed access to the headers a transaction layer
// reads (Via, From, To, Call-ID, CSeq) + serialise, for a typical INVITE, a 200 OK with SDP
// and a SIPREC INVITE (multipart SDP + metadata), compared in the same run with sofia-sip's
// parser (msg_make + the same header lookups + msg_as_string). Target: >= 1 M msgs/s/core and
// ahead of the peer.
#include <benchmark/benchmark.h>
#include <sofia-sip/msg.h>
#include <sofia-sip/sip.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_parser.h>

#include <string>

#include "sip/message.h"
#include "sip/multipart.h"

namespace verbatim::sip {
namespace {

const std::string kSdp =
    "v=0\r\n"
    "o=alice 2890844526 2890844526 IN IP4 192.0.2.101\r\n"
    "s=-\r\n"
    "c=IN IP4 192.0.2.101\r\n"
    "t=0 0\r\n"
    "m=audio 49172 RTP/AVP 0 8 101\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:8 PCMA/8000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\n"
    "a=fmtp:101 0-15\r\n"
    "a=sendrecv\r\n";

std::string with_length(std::string head, const std::string& body) {
  return head + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

const std::string kInvite = with_length(
    "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n"
    "Via: SIP/2.0/UDP pc33.atlanta.example.com:5060;branch=z9hG4bK776asdhds;rport\r\n"
    "Via: SIP/2.0/TCP proxy.atlanta.example.com;branch=z9hG4bK74bf9;received=192.0.2.1\r\n"
    "Max-Forwards: 69\r\n"
    "To: \"Bob\" <sip:bob@biloxi.example.com>\r\n"
    "From: \"Alice\" <sip:alice@atlanta.example.com>;tag=1928301774\r\n"
    "Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n"
    "CSeq: 314159 INVITE\r\n"
    "Contact: <sip:alice@pc33.atlanta.example.com;transport=udp>\r\n"
    "Record-Route: <sip:proxy.atlanta.example.com;lr>\r\n"
    "Allow: INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, NOTIFY, UPDATE\r\n"
    "Supported: replaces, timer, 100rel\r\n"
    "Session-Expires: 1800;refresher=uac\r\n"
    "User-Agent: ExamplePhone/1.0\r\n"
    "Content-Type: application/sdp\r\n",
    kSdp);

const std::string kOk = with_length(
    "SIP/2.0 200 OK\r\n"
    "Via: SIP/2.0/UDP pc33.atlanta.example.com:5060;branch=z9hG4bK776asdhds;rport=5060;"
    "received=192.0.2.101\r\n"
    "To: \"Bob\" <sip:bob@biloxi.example.com>;tag=a6c85cf\r\n"
    "From: \"Alice\" <sip:alice@atlanta.example.com>;tag=1928301774\r\n"
    "Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n"
    "CSeq: 314159 INVITE\r\n"
    "Contact: <sip:bob@192.0.2.4>\r\n"
    "Record-Route: <sip:proxy.atlanta.example.com;lr>\r\n"
    "Content-Type: application/sdp\r\n",
    kSdp);

const std::string kMetadata =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n"
    "<recording xmlns=\"urn:ietf:params:xml:ns:recording:1\">\r\n"
    "  <datamode>complete</datamode>\r\n"
    "  <session session_id=\"hVpd7YQgRW2nD22h7q60JQ==\"><sipSessionID>ab30317f1a784dc4"
    "</sipSessionID></session>\r\n"
    "  <participant participant_id=\"srfBElmCRp2QB23b7Mpk0w==\"><nameID aor=\"sip:alice@"
    "atlanta.example.com\"><name xml:lang=\"en\">Alice</name></nameID></participant>\r\n"
    "  <participant participant_id=\"zSfPoSvdSDCmU3A3TRDxAw==\"><nameID aor=\"sip:bob@"
    "biloxi.example.com\"><name xml:lang=\"en\">Bob</name></nameID></participant>\r\n"
    "  <stream stream_id=\"UAAMm5GRQKSCMVvLyl4rFw==\" session_id=\"hVpd7YQgRW2nD22h7q60JQ==\">"
    "<label>96</label></stream>\r\n"
    "  <stream stream_id=\"i1Pz3to5hGk8fuXl+PbwCw==\" session_id=\"hVpd7YQgRW2nD22h7q60JQ==\">"
    "<label>97</label></stream>\r\n"
    "  <participantstreamassoc participant_id=\"srfBElmCRp2QB23b7Mpk0w==\"><send>"
    "i1Pz3to5hGk8fuXl+PbwCw==</send><recv>UAAMm5GRQKSCMVvLyl4rFw==</recv>"
    "</participantstreamassoc>\r\n"
    "</recording>\r\n";

const std::string kSiprec = with_length(
    "INVITE sip:recorder@srs.example.com SIP/2.0\r\n"
    "Via: SIP/2.0/UDP src.example.com;branch=z9hG4bK47c8eb30\r\n"
    "Max-Forwards: 70\r\n"
    "To: <sip:recorder@srs.example.com>\r\n"
    "From: <sip:2000@src.example.com>;tag=35e195d2-947d-4585-946f-09839247\r\n"
    "Call-ID: d253c800-b0d1ea39-4a7dd-3f0e20a\r\n"
    "CSeq: 101 INVITE\r\n"
    "Contact: <sip:2000@src.example.com>;+sip.src\r\n"
    "Require: siprec\r\n"
    "Accept: application/sdp, application/rs-metadata\r\n"
    "Content-Type: multipart/mixed;boundary=foobar\r\n",
    build_multipart({{"application/sdp",
                      kSdp + "a=label:96\r\nm=audio 49174 RTP/AVP 0\r\n"
                             "a=label:97\r\na=sendonly\r\n",
                      ""},
                     {"application/rs-metadata+xml", kMetadata, "recording-session"}},
                    "foobar"));

const std::string& message(int which) { return which == 0 ? kInvite : which == 1 ? kOk : kSiprec; }

void label(benchmark::State& st) {
  st.SetLabel(st.range(0) == 0 ? "INVITE" : st.range(0) == 1 ? "200 OK + SDP" : "SIPREC INVITE");
  st.SetItemsProcessed(st.iterations());
  st.SetBytesProcessed(
      static_cast<int64_t>(st.iterations() * message(static_cast<int>(st.range(0))).size()));
}

void BM_Verbatim_ParseSerialize(benchmark::State& st) {
  const std::string& text = message(static_cast<int>(st.range(0)));
  for (auto _ : st) {
    auto m = Message::parse(text);
    if (!m) st.SkipWithError("parse failed");
    const Message& msg = m.value();
    auto vias = msg.vias();
    auto from = msg.from();
    auto to = msg.to();
    auto cseq = msg.cseq();
    auto call_id = msg.call_id();
    if (!vias || !from || !to || !cseq || !call_id) st.SkipWithError("header failed");
    benchmark::DoNotOptimize(vias.value().front().branch());
    benchmark::DoNotOptimize(from.value().tag());
    std::string out = msg.serialize();
    benchmark::DoNotOptimize(out.data());
  }
  label(st);
}

// The serialiser proper: a proxy adds its Via, so the message is rewritten from its fields.
void BM_Verbatim_ParseAddViaSerialize(benchmark::State& st) {
  const std::string& text = message(static_cast<int>(st.range(0)));
  for (auto _ : st) {
    auto m = Message::parse(text);
    if (!m) st.SkipWithError("parse failed");
    m.value().prepend_header("Via", "SIP/2.0/UDP proxy.example.com;branch=z9hG4bK-1");
    std::string out = m.value().serialize();
    benchmark::DoNotOptimize(out.data());
  }
  label(st);
}

void BM_SofiaSip_ParseSerialize(benchmark::State& st) {
  const std::string& text = message(static_cast<int>(st.range(0)));
  msg_mclass_t const* mclass = sip_default_mclass();
  for (auto _ : st) {
    msg_t* msg = msg_make(mclass, 0, text.data(), static_cast<ssize_t>(text.size()));
    sip_t* sip = msg ? sip_object(msg) : nullptr;
    if (!sip || !sip->sip_via || !sip->sip_from || !sip->sip_to || !sip->sip_cseq ||
        !sip->sip_call_id) {
      st.SkipWithError("sofia-sip parse failed");
      if (msg) msg_destroy(msg);
      break;
    }
    benchmark::DoNotOptimize(sip->sip_via->v_branch);
    benchmark::DoNotOptimize(sip->sip_from->a_tag);
    size_t len = 0;
    char* out = msg_as_string(msg_home(msg), msg, nullptr, 0, &len);
    benchmark::DoNotOptimize(out);
    msg_destroy(msg);
  }
  label(st);
}

BENCHMARK(BM_Verbatim_ParseSerialize)->DenseRange(0, 2);
BENCHMARK(BM_SofiaSip_ParseSerialize)->DenseRange(0, 2);
BENCHMARK(BM_Verbatim_ParseAddViaSerialize)->DenseRange(0, 2);

}  // namespace
}  // namespace verbatim::sip

BENCHMARK_MAIN();
