// x86: forgetting the exception "in flight" after each exception stop.
//
// Unicorn 2.0.1 never delivers an exception to the guest (cpu-exec.c cpu_handle_exception
// calls the UC_HOOK_INTR hook and drops it; shared/spec/unicorn-system.md finding 4), but
// QEMU's check_exception() (target/i386/excp_helper.c) still records it in
// CPUX86State.old_exception, which only a delivered exception resets (x86_cpu_do_interrupt:
// "successfully delivered"). So after one #PF, the next #PF or contributory fault becomes #DF
// (vector 8) and the one after that a triple fault, for the life of the engine. kboot stops at
// every exception and the host handles it, so the engine resets old_exception to -1 after
// each exception stop, through the CPU context (uc_context_save / restore copy CPUX86State
// as bytes).
// The field's offset in the context is not part of Unicorn's API: it is measured once per
// process on a scratch engine running `div %ecx` with ECX = 0 twice (#DE, then #DF):
// the only int32 that reads -1, 0, 8 across the three saved contexts is old_exception; the
// measurement is then checked (patched to -1, the next #DE must be vector 0 again). Without a
// unique, checked answer the reset is off (offset -1) and the engine behaves as before.
#include <cstring>
#include <mutex>
#include <vector>

#include "cpu_engine.h"

namespace kboot {

namespace {

struct ScratchEngine {
  uc_engine* uc = nullptr;
  int vector = -1;
  ~ScratchEngine() {
    if (uc != nullptr) uc_close(uc);
  }
};

void ScratchIntr(uc_engine* uc, uint32_t intno, void* user) {
  static_cast<ScratchEngine*>(user)->vector = static_cast<int>(intno);
  uc_emu_stop(uc);
}

// Runs the #DE snippet once; returns the vector taken and the context bytes after it.
bool DivideByZero(ScratchEngine& s, uc_context* ctx, std::vector<unsigned char>* bytes, size_t n) {
  s.vector = -1;
  if (uc_emu_start(s.uc, 0x1000, 0, 0, 0) != UC_ERR_OK) return false;
  if (uc_context_save(s.uc, ctx) != UC_ERR_OK) return false;
  bytes->assign(reinterpret_cast<unsigned char*>(ctx), reinterpret_cast<unsigned char*>(ctx) + n);
  return true;
}

// The offset of old_exception in the saved context, or -1 (see the file comment).
long MeasureOldExceptionOffset() {
  ScratchEngine s;
  if (uc_open(UC_ARCH_X86, UC_MODE_64, &s.uc) != UC_ERR_OK) return -1;
  const unsigned char code[] = {0x31, 0xc9, 0xf7, 0xf1, 0xf4};  // xor %ecx,%ecx; div %ecx; hlt
  uc_hook h;
  if (uc_mem_map(s.uc, 0x1000, 0x1000, UC_PROT_ALL) != UC_ERR_OK ||
      uc_mem_write(s.uc, 0x1000, code, sizeof code) != UC_ERR_OK ||
      uc_hook_add(s.uc, &h, UC_HOOK_INTR, reinterpret_cast<void*>(&ScratchIntr), &s, 1, 0) != UC_ERR_OK) {
    return -1;
  }
  size_t n = uc_context_size(s.uc);
  uc_context* ctx = nullptr;
  if (uc_context_alloc(s.uc, &ctx) != UC_ERR_OK) return -1;
  std::vector<unsigned char> before, first, second;
  bool ok = uc_context_save(s.uc, ctx) == UC_ERR_OK;
  before.assign(reinterpret_cast<unsigned char*>(ctx), reinterpret_cast<unsigned char*>(ctx) + n);
  ok = ok && DivideByZero(s, ctx, &first, n) && s.vector == 0 && DivideByZero(s, ctx, &second, n) && s.vector == 8;
  long found = -1;
  for (size_t i = 0; ok && i + 4 <= n; i += 4) {
    int32_t a, b, c;
    memcpy(&a, &before[i], 4);
    memcpy(&b, &first[i], 4);
    memcpy(&c, &second[i], 4);
    if (a == -1 && b == 0 && c == 8) found = found == -1 ? static_cast<long>(i) : -2;
  }
  if (found >= 0) {
    // Check: with the field reset, the next #DE is vector 0 again.
    int32_t none = -1;
    memcpy(reinterpret_cast<unsigned char*>(ctx) + found, &none, 4);
    s.vector = -1;
    if (uc_context_restore(s.uc, ctx) != UC_ERR_OK || uc_emu_start(s.uc, 0x1000, 0, 0, 0) != UC_ERR_OK ||
        s.vector != 0) {
      found = -1;
    }
  }
  uc_context_free(ctx);
  return found >= 0 ? found : -1;
}

long OldExceptionOffset() {
  static std::once_flag once;
  static long offset = -1;
  std::call_once(once, [] { offset = MeasureOldExceptionOffset(); });
  return offset;
}

}  // namespace

bool CpuEngine::CanForgetExceptions() { return OldExceptionOffset() >= 0; }

void CpuEngine::ForgetPendingException() {
  if (arch_ != CpuArch::kAmd64) return;
  long offset = OldExceptionOffset();
  if (offset < 0) return;
  uc_context* ctx = nullptr;
  if (uc_context_alloc(uc_, &ctx) != UC_ERR_OK) return;
  if (uc_context_save(uc_, ctx) == UC_ERR_OK && static_cast<size_t>(offset) + 4 <= uc_context_size(uc_)) {
    int32_t none = -1;
    memcpy(reinterpret_cast<unsigned char*>(ctx) + offset, &none, 4);
    uc_context_restore(uc_, ctx);
  }
  uc_context_free(ctx);
}

}  // namespace kboot
