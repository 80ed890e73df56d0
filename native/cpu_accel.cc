// The CPU engine's accelerated copy.
//
// A loop is described as data (machine/cpu.ts CopyLoop): at its head `at`, registers `src`,
// `dst` and `count` hold the next source, destination and the remaining count in units of
// `countUnit` bytes; each iteration moves `chunk` bytes forwards (loads the whole chunk, then
// stores it), advances src and dst by `chunk`, lowers count, runs `insnsPerIteration`
// instructions (code-hook events), and the loop leaves at `exit` once count is 0 after
// `exitInsns` more events (1 for a `rep` string instruction, which re-checks RCX = 0 once). On
// exit src/dst have advanced by the total, count is 0, each `loads` register holds the u64
// loaded from the last chunk at its offset, and the flags register has `flagsSet` set and
// `flagsClear` cleared.
// Preconditions (otherwise the loop is emulated exactly): count > 0 and a whole number of
// chunks, every `requires_` register test holds, the instruction budget covers the whole loop
// (so a limit stops at the same instruction in both modes), both ranges are identity-translated
// RAM inside one region, and the destination holds no protected page. When the translation of
// a range is not known yet (the shadow is built lazily), the run stops as translation-needed
// naming the range, before the loop head runs; once the caller made it known, the check
// decides.
// A description that could make the copy unsound (zero sizes, a chunk over 4 KiB, a load past
// the chunk, more than 16 exit instructions) raises CPU_ACCEL.
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "cpu_engine.h"
#include "errors.h"

namespace kboot {

void CpuEngine::CheckAccel(const Accel& a) const {
  const char* c = "CPU_ACCEL";
  if (a.exitInsns > 16) Raise(c, "machine: accelerator at " + Hex(a.at) + " has more than 16 exit instructions");
  if (a.countUnit == 0 || a.chunk == 0 || a.chunk > 4096 || a.insnsPerIteration == 0) {
    Raise(c, "machine: accelerator at " + Hex(a.at) + " has a zero unit, chunk or instruction count");
  }
  for (const Accel::Load& l : a.loads) {
    if (l.offset > a.chunk || a.chunk - l.offset < 8) {
      Raise(c, "machine: accelerator load offset " + Hex(l.offset) + " is past the chunk");
    }
  }
}

void CpuEngine::SetAccelerators(std::vector<Accel> accels) {
  for (const Accel& a : accels) CheckAccel(a);
  accels_ = std::move(accels);
}

bool CpuEngine::AccelReady(const Accel& a, uint64_t* iterations) {
  for (const Accel::Require& r : a.requires_) {
    if ((ReadReg(r.reg) & r.mask) != r.value) return false;
  }
  uint64_t count = ReadReg(a.count);
  if (count == 0 || count > UINT64_MAX / a.countUnit) return false;
  uint64_t total = count * a.countUnit;
  if (total % a.chunk != 0) return false;
  uint64_t src = ReadReg(a.src), dst = ReadReg(a.dst);
  uint64_t n = total / a.chunk;
  uint64_t left = budget_ - executed_;
  if (left < a.exitInsns || n > (left - a.exitInsns) / a.insnsPerIteration) return false;
  for (uint64_t va : {src, dst}) {
    if (va + total < va) return false;
    if (!Known(va, total)) {
      needTranslation_ = true;
      needVa_ = va;
      needSize_ = total;
      return false;
    }
  }
  if (!IdentityRam(src, total) || !IdentityRam(dst, total) || IsProtected(dst, total)) return false;
  *iterations = n;
  return true;
}

// True when the translation of every byte of [va, va + size) is known (inside the known ranges).
bool CpuEngine::Known(uint64_t va, uint64_t size) const {
  uint64_t cur = va, end = va + size;
  for (const VRange& k : known_) {
    if (cur >= end) break;
    if (k.va + k.size <= cur && k.va + k.size != 0) continue;
    if (k.va > cur) return false;
    uint64_t kend = k.va + k.size;
    if (kend == 0 || kend >= end) return true;  // reaches 2^64 or past the range
    cur = kend;
  }
  return cur >= end;
}

bool CpuEngine::AccelPerform(const Accel& a) {
  uint64_t count = ReadReg(a.count);
  uint64_t total = count * a.countUnit;
  uint64_t src = ReadReg(a.src), dst = ReadReg(a.dst);
  uint8_t* s = HostFor(src, total);
  uint8_t* d = HostFor(dst, total);
  if (s == nullptr || d == nullptr) return false;  // cannot happen: AccelReady checked both just now
  std::vector<uint64_t> loaded;
  if (dst > src && dst < src + total) {
    // Overlap where a forward loop re-reads what it wrote: copy chunk by chunk, as the loop does.
    std::vector<uint8_t> last(a.chunk);
    for (uint64_t off = 0; off < total; off += a.chunk) {
      memcpy(last.data(), s + off, a.chunk);
      memcpy(d + off, last.data(), a.chunk);
    }
    for (const Accel::Load& l : a.loads) {
      uint64_t v = 0;
      memcpy(&v, last.data() + l.offset, 8);
      loaded.push_back(v);
    }
  } else {
    for (const Accel::Load& l : a.loads) {
      uint64_t v = 0;
      memcpy(&v, s + total - a.chunk + l.offset, 8);
      loaded.push_back(v);
    }
    memmove(d, s, total);
  }
  WriteReg(a.src, src + total);
  WriteReg(a.dst, dst + total);
  WriteReg(a.count, 0);
  for (size_t i = 0; i < a.loads.size(); i++) WriteReg(a.loads[i].reg, loaded[i]);
  if (a.hasFlags) WriteReg(a.flagsReg, (ReadReg(a.flagsReg) & ~a.flagsClear) | a.flagsSet);
  SetPc(a.exit);
  executed_ += pendingIterations_ * a.insnsPerIteration + a.exitInsns;
  accelCopies_++;
  accelBytes_ += total;
  // The copy bypassed the softmmu, so translated code of the destination may be stale.
  InvalidateCode(dst, total);
  return true;
}

}  // namespace kboot
