// libFuzzer target: the cmdlet interpreter end to end (parser, binder, every cmdlet, the
// formatter) on an in-memory tenant. Any input must produce output or a PowerShell-style
// error, never a crash, a hang or unbounded memory. Seeds: fuzz/corpus/cmdlet, tests/golden.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "admin/interpreter.h"
#include "admin/parser.h"
#include "common/clock.h"
#include "common/ids.h"
#include "policy/service.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 64 * 1024) return 0;
  using namespace verbatim;
  SequentialIdGenerator ids;
  ManualClock clock{TimePoint{}};
  policy::PolicyService svc(nullptr, ids, clock);
  if (!svc.open()) return 0;
  admin::Interpreter interp(svc, "fuzz");
  interp.set_base_dir("/nonexistent-fuzz-dir");
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  // The interactive shell asks the parser whether a statement is still open (quotes, braces,
  // comments, continuation lines): any text gets an answer.
  (void)admin::needs_more_input(text);
  // Interactive mode runs every statement, so later statements see earlier state.
  (void)interp.run_interactive(text);
  (void)interp.run_script(text);
  // Whatever happened, the engine must answer consistently with the state.
  for (const auto& [id, u] : svc.state().users()) (void)svc.engine().decide(u.sip_address);
  return 0;
}
