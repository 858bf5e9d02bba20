// The PocketSphinx engine (engine.h): Debian's libpocketsphinx3 (0.8+5prealpha) with the US
// English continuous model, its 130k-word trigram language model and the CMU dictionary.
// Two decoders share one configuration: words (the language model) and, when asked, phones
// (the phone language model in allphone mode, beams narrowed to 1e-10, which kept the phones of
// espeak speech and cut the time 4x against the defaults). Each speech segment (engine.h) is
// one utterance; the words' frames (100 per second) are turned into times on the audio.
// Dither (a fixed seed, so a recording always gets the same transcript): a participant's track
// is digital silence wherever they sent nothing, and without it the silence's zero energy skews
// the cepstral mean, which turned "good morning how are you today" into "look more into this".
#include <sodium.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <fstream>

#include <pocketsphinx.h>
#include <sphinxbase/err.h>

#include "transcribe/engine.h"

#ifndef VERBATIM_POCKETSPHINX_VERSION
#define VERBATIM_POCKETSPHINX_VERSION "unknown"
#endif

namespace verbatim::transcribe {

namespace {

constexpr double kFrame = 0.01;       // seconds: PocketSphinx's default 100 frames per second
constexpr double kMaxUtterance = 15;  // seconds

struct DecoderDeleter {
  void operator()(ps_decoder_t* d) const { ps_free(d); }
};
using Decoder = std::unique_ptr<ps_decoder_t, DecoderDeleter>;

// What identifies the model: SHA-256 over its files (the first 12 hex digits), so a
// transcript names the exact model even where two installs call it the same.
Result<std::string> model_digest(const std::vector<std::string>& files) {
  crypto_hash_sha256_state st;
  crypto_hash_sha256_init(&st);
  std::array<char, 1 << 16> buf{};
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    if (!in) return make_error(ErrorCode::kNotFound, "transcription model: cannot read " + f);
    while (in) {
      in.read(buf.data(), buf.size());
      crypto_hash_sha256_update(&st, reinterpret_cast<const unsigned char*>(buf.data()),
                                static_cast<unsigned long long>(in.gcount()));
    }
  }
  std::array<unsigned char, crypto_hash_sha256_BYTES> out{};
  crypto_hash_sha256_final(&st, out.data());
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (size_t i = 0; i < 6; ++i) {
    hex.push_back(kHex[out[i] >> 4]);
    hex.push_back(kHex[out[i] & 15]);
  }
  return hex;
}

// Dictionary spellings to words: "market(2)" -> "market"; fillers and sentence marks are not
// words ("<s>", "<sil>", "[NOISE]", "+BREATH+").
std::string word_of(const char* w) {
  std::string s(w ? w : "");
  if (s.empty() || s[0] == '<' || s[0] == '[' || s[0] == '+') return "";
  if (const auto p = s.find('('); p != std::string::npos) s.resize(p);
  return s;
}

class Pocketsphinx final : public Engine {
 public:
  Pocketsphinx(Decoder words, Decoder phones, EngineInfo info)
      : words_(std::move(words)), phones_(std::move(phones)), info_(std::move(info)) {}

  const EngineInfo& info() const override { return info_; }

  Result<std::vector<Utterance>> transcribe(std::span<const int16_t> pcm,
                                            const std::atomic<bool>* cancel) override {
    std::vector<Utterance> out;
    for (const auto& [first, last] : speech_segments(pcm, kSampleRate, kMaxUtterance)) {
      if (cancel && cancel->load())
        return make_error(ErrorCode::kFailedPrecondition, "transcription cancelled");
      const auto piece = pcm.subspan(first, last - first);
      const double offset = static_cast<double>(first) / kSampleRate;
      Utterance u;
      u.start = offset;
      u.end = static_cast<double>(last) / kSampleRate;
      VB_TRY(decode(words_.get(), piece, "words"));
      ps_get_prob(words_.get());  // computes the posteriors ps_seg_prob returns
      logmath_t* lmath = ps_get_logmath(words_.get());
      double sum = 0;
      for (ps_seg_t* s = ps_seg_iter(words_.get()); s; s = ps_seg_next(s)) {
        std::string w = word_of(ps_seg_word(s));
        if (w.empty()) continue;
        int sf = 0, ef = 0;
        ps_seg_frames(s, &sf, &ef);
        int32 ascr = 0, lscr = 0, lback = 0;
        const int32 post = ps_seg_prob(s, &ascr, &lscr, &lback);
        const double conf = std::clamp(logmath_exp(lmath, post), 0.0, 1.0);
        u.text.append(u.text.empty() ? "" : " ").append(w);
        u.words.push_back({std::move(w), offset + sf * kFrame, offset + (ef + 1) * kFrame, conf});
        sum += conf;
      }
      if (!u.words.empty()) u.confidence = sum / static_cast<double>(u.words.size());
      if (phones_) {
        VB_TRY(decode(phones_.get(), piece, "phones"));
        for (ps_seg_t* s = ps_seg_iter(phones_.get()); s; s = ps_seg_next(s)) {
          std::string p = word_of(ps_seg_word(s));
          if (p.empty() || p == "SIL") continue;
          int sf = 0, ef = 0;
          ps_seg_frames(s, &sf, &ef);
          u.phones.push_back(std::move(p));
          u.phone_starts.push_back(offset + sf * kFrame);
        }
      }
      if (u.words.empty() && u.phones.empty()) continue;  // noise, not speech
      out.push_back(std::move(u));
    }
    return out;
  }

 private:
  // One utterance, in one call: PocketSphinx normalises the cepstra over the whole utterance
  // only when it gets it whole (fed in pieces it normalises with a running estimate, and
  // recognised a third fewer words of the test speech). So a cancel is seen between utterances,
  // which speech_segments() keeps under kMaxUtterance.
  static Status decode(ps_decoder_t* d, std::span<const int16_t> pcm, const char* what) {
    if (ps_start_utt(d) < 0 || ps_process_raw(d, pcm.data(), pcm.size(), FALSE, TRUE) < 0 ||
        ps_end_utt(d) < 0) {
      return make_error(ErrorCode::kInternal, std::string("pocketsphinx could not decode ") + what);
    }
    return ok_status();
  }

  Decoder words_, phones_;
  EngineInfo info_;
};

Result<Decoder> make_decoder(const PocketsphinxOptions& o, bool phones) {
  const std::string hmm = o.model_dir + "/en-us";
  const std::string lm = o.model_dir + (phones ? "/en-us-phone.lm.bin" : "/en-us.lm.bin");
  const std::string dict = o.model_dir + "/cmudict-en-us.dict";
  cmd_ln_t* config =
      phones ? cmd_ln_init(nullptr, ps_args(), TRUE, "-hmm", hmm.c_str(), "-allphone", lm.c_str(),
                           "-dict", dict.c_str(), "-beam", "1e-10", "-pbeam", "1e-10", "-lw", "2.0",
                           "-remove_silence", "no", "-dither", "yes", "-seed", "1", "-logfn",
                           "/dev/null", nullptr)
             : cmd_ln_init(nullptr, ps_args(), TRUE, "-hmm", hmm.c_str(), "-lm", lm.c_str(),
                           "-dict", dict.c_str(), "-remove_silence", "no", "-dither", "yes",
                           "-seed", "1", "-logfn", "/dev/null", nullptr);
  if (!config) return make_error(ErrorCode::kInvalidArgument, "pocketsphinx: bad configuration");
  Decoder d(ps_init(config));
  cmd_ln_free_r(config);  // the decoder keeps its own reference
  if (!d) {
    return make_error(ErrorCode::kNotFound, "pocketsphinx could not load its model from " +
                                                o.model_dir + " (Debian: pocketsphinx-en-us)");
  }
  return d;
}

}  // namespace

// PocketSphinx 5prealpha's allphone search keeps the last utterance's phone segments and never
// frees them (about 1 KB per decoder, once): LeakSanitizer builds (CI's ASan run) would fail every
// process that transcribed at its exit. Any binary that links this engine carries the suppression;
// the hook is only read by LeakSanitizer.
extern "C" const char* __lsan_default_suppressions();   // NOLINT(bugprone-reserved-identifier)
extern "C" const char* __lsan_default_suppressions() {  // NOLINT(bugprone-reserved-identifier)
  return "leak:libpocketsphinx.so\nleak:libsphinxbase.so\n";
}

Result<std::unique_ptr<Engine>> make_pocketsphinx(const PocketsphinxOptions& options) {
  if (sodium_init() < 0) return make_error(ErrorCode::kInternal, "libsodium did not start");
  err_set_logfp(nullptr);  // its log is a screenful per decoder; our errors say what failed
  const std::string hmm = options.model_dir + "/en-us";
  auto digest = model_digest(
      {hmm + "/mdef", hmm + "/means", hmm + "/variances", hmm + "/sendump",
       hmm + "/transition_matrices", hmm + "/feat.params", options.model_dir + "/en-us.lm.bin",
       options.model_dir + "/en-us-phone.lm.bin", options.model_dir + "/cmudict-en-us.dict"});
  if (!digest) return digest.error();
  auto words = make_decoder(options, false);
  if (!words) return words.error();
  Decoder phones;
  if (options.phones) {
    auto p = make_decoder(options, true);
    if (!p) return p.error();
    phones = std::move(p).value();
  }
  EngineInfo info{"pocketsphinx", VERBATIM_POCKETSPHINX_VERSION,
                  "cmusphinx en-us ptm, en-us.lm, cmudict-en-us (sha256 " + digest.value() + ")"};
  return std::unique_ptr<Engine>(
      new Pocketsphinx(std::move(words).value(), std::move(phones), std::move(info)));
}

}  // namespace verbatim::transcribe
