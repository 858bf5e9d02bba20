// Transcription: real-time factor (CPU seconds per audio second) and word error rate of the
// PocketSphinx engine (transcribe/engine.h) on a fixed set of recordings made here: 24 sentences
// of trading-floor and contact-centre talk, each spoken by six synthetic voices — espeak-ng's
// formant voices en-us, en-us+m3 and en+f3, and Festival's diphone voices kal and ked and its HTS
// voice slt (Debian's festvox-kallpc16k, festvox-kdlpc16k, festvox-us-slt-hts), which sound far
// closer to a person — band-limited to 8 kHz as a telephone carries them and upsampled to
// 16 kHz, as the recorder does. Each sentence sits in 1 s of silence on either side, as on a
// participant's track.
//
// The naive baseline in the same run: the same decoder given the whole sentence as one
// utterance with PocketSphinx's defaults (no speech segmentation, no dither). WER is the word
// edit distance over the reference's words (lower case, no punctuation); RTF is wall time on
// one thread over audio time. Prints a table; figures go to bench/RESULTS.md.
//
//     build-bench/bench_transcribe [--phones]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <pocketsphinx.h>
#include <sphinxbase/err.h>

#include "transcribe/engine.h"
#include "transcribe/speech_testing.h"

namespace {

const char* const kSentences[] = {
    "good morning how are you today",
    "i would like to buy ten thousand shares at the market price",
    "please sell the bonds before the close",
    "the interest rate is going up next week",
    "can you confirm the trade for me",
    "we will send the money to your account tomorrow",
    "this call may be recorded for training purposes",
    "what is the price of gold this morning",
    "i guarantee you will not lose any money",
    "let us keep this off the record",
    "the meeting is on monday at ten o'clock",
    "thank you for calling how can i help you",
    "i need to speak to the manager please",
    "your order has been placed and confirmed",
    "the market is very busy today",
    "could you call me back this afternoon",
    "we are waiting for the bank to open",
    "the client wants to cancel the order",
    "please hold the line for a moment",
    "i will check the account and call you back",
    "the dollar is stronger against the euro",
    "do not tell anyone about this deal",
    "the report will be ready by friday",
    "have a nice day goodbye",
};
const char* const kVoices[] = {"en-us",
                               "en-us+m3",
                               "en+f3",
                               "festival:voice_kal_diphone",
                               "festival:voice_ked_diphone",
                               "festival:voice_cmu_us_slt_arctic_hts"};

std::vector<std::string> words(const std::string& s) {
  return verbatim::transcribe::spoken_words(s);
}

size_t edit_distance(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      cur[j] =
          std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

// The baseline: one utterance, PocketSphinx's defaults.
struct Naive {
  ps_decoder_t* ps = nullptr;
  Naive() {
    const std::string dir = "/usr/share/pocketsphinx/model/en-us";
    cmd_ln_t* c =
        cmd_ln_init(nullptr, ps_args(), TRUE, "-hmm", (dir + "/en-us").c_str(), "-lm",
                    (dir + "/en-us.lm.bin").c_str(), "-dict", (dir + "/cmudict-en-us.dict").c_str(),
                    "-logfn", "/dev/null", nullptr);
    ps = ps_init(c);
    cmd_ln_free_r(c);
  }
  ~Naive() { ps_free(ps); }
  std::string run(const std::vector<int16_t>& pcm) {
    ps_start_utt(ps);
    ps_process_raw(ps, pcm.data(), pcm.size(), FALSE, TRUE);
    ps_end_utt(ps);
    int32 score = 0;
    const char* hyp = ps_get_hyp(ps, &score);
    return hyp ? hyp : "";
  }
};

}  // namespace

int main(int argc, char** argv) {
  const bool phones = argc > 1 && std::strcmp(argv[1], "--phones") == 0;
  err_set_logfp(nullptr);
  auto engine =
      verbatim::transcribe::make_pocketsphinx({"/usr/share/pocketsphinx/model/en-us", phones});
  if (!engine) {
    std::fprintf(stderr, "%s\n", engine.error().message.c_str());
    return 2;
  }
  Naive naive;
  size_t ref_words = 0, errors = 0, naive_errors = 0, phone_count = 0;
  double audio = 0, took = 0, naive_took = 0;
  std::vector<std::pair<size_t, size_t>> by_voice;  // (reference words, errors)
  for (const char* voice : kVoices) {
    by_voice.emplace_back(0, 0);
    for (const char* sentence : kSentences) {
      auto speech = verbatim::transcribe::testing::telephone_speech(sentence, voice);
      if (speech.empty()) {
        std::fprintf(stderr, "no speech from %s (Debian: espeak-ng, festival, festvox-*)\n", voice);
        return 2;
      }
      std::vector<int16_t> pcm(16000, 0);
      pcm.insert(pcm.end(), speech.begin(), speech.end());
      pcm.insert(pcm.end(), 16000, 0);
      audio += static_cast<double>(pcm.size()) / 16000;
      const auto ref = words(sentence);
      ref_words += ref.size();

      auto t0 = std::chrono::steady_clock::now();
      auto r = engine.value()->transcribe(pcm, nullptr);
      took += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::string hyp;
      for (const auto& u : r.value()) {
        hyp += u.text + " ";
        phone_count += u.phones.size();
      }
      const size_t e = edit_distance(ref, words(hyp));
      errors += e;
      by_voice.back().first += ref.size();
      by_voice.back().second += e;
      if (std::getenv("VERBOSE"))
        std::printf("%-10s %s\n%-10s %s\n", voice, sentence, "", hyp.c_str());

      t0 = std::chrono::steady_clock::now();
      const std::string nhyp = naive.run(pcm);
      naive_took += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      naive_errors += edit_distance(ref, words(nhyp));
    }
  }
  const auto& info = engine.value()->info();
  std::printf("engine: %s %s (%s)%s\n", info.name.c_str(), info.version.c_str(), info.model.c_str(),
              phones ? ", with phones" : "");
  std::printf(
      "recordings: %zu (%zu sentences x %zu voices), %.1f s of audio, %zu reference words\n",
      std::size(kSentences) * std::size(kVoices), std::size(kSentences), std::size(kVoices), audio,
      ref_words);
  std::printf("%-34s %8s %8s\n", "", "WER", "RTF");
  std::printf("%-34s %7.1f%% %8.3f\n", "verbatim (segments, dither)",
              100.0 * static_cast<double>(errors) / static_cast<double>(ref_words), took / audio);
  std::printf("%-34s %7.1f%% %8.3f\n", "naive (one utterance, defaults)",
              100.0 * static_cast<double>(naive_errors) / static_cast<double>(ref_words),
              naive_took / audio);
  for (size_t v = 0; v < by_voice.size(); ++v) {
    std::printf(
        "  voice %-10s WER %5.1f%%\n", kVoices[v],
        100.0 * static_cast<double>(by_voice[v].second) / static_cast<double>(by_voice[v].first));
  }
  if (phones) std::printf("phones recognised: %.1f per second of audio\n", phone_count / audio);
  return 0;
}
