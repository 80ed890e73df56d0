// Copying one guest RAM into another, so a booted host can be forked (machine/fork.ts): the
// copy pays for the pages the source touched, not for the machine's RAM size.
//
// Contract: `copyGuestRam(dst, src)` takes two GuestRam objects (GUEST_RANGE for anything
// else) with the same regions (GUEST_REGIONS otherwise) and copies into `dst`, at the same
// guest-physical address, every 4 KiB page of `src` that is backed by host memory (mincore(2))
// and holds a non-zero byte. Pages of `src` never touched, or all zero, are left as they are
// in `dst`: a fresh (zeroed) `dst` ends byte-identical to `src`. Returns the bytes copied as a
// bigint. GUEST_CLOSED when either is closed, NATIVE_SYSCALL when mincore fails. Source for
// the residency semantics: mincore(2) (Linux): a page of a private anonymous mapping that was
// never touched is not resident.
#include "snapshot.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "convert.h"
#include "guest_ram.h"

namespace kboot {

namespace {

constexpr uint64_t kPage = 4096;
// mincore is asked about at most this much at once (its vector is one byte per host page).
constexpr uint64_t kResidencyStep = 1ull << 30;

struct CopyData {
  Napi::FunctionReference ramClass;
};

GuestMemory& MemoryOf(const Napi::Value& v, const CopyData& data, const char* what) {
  if (!v.IsObject() || !v.As<Napi::Object>().InstanceOf(data.ramClass.Value())) {
    Raise("GUEST_RANGE", std::string("machine: copyGuestRam needs a native GuestRam as ") + what);
  }
  GuestMemory& mem = *Napi::ObjectWrap<GuestRam>::Unwrap(v.As<Napi::Object>())->memory();
  if (mem.closed()) Raise("GUEST_CLOSED", std::string("machine: copyGuestRam on closed guest RAM (") + what + ")");
  return mem;
}

void RequireSameRegions(const GuestMemory& dst, const GuestMemory& src) {
  const auto& a = dst.regions();
  const auto& b = src.regions();
  bool same = a.size() == b.size();
  for (size_t i = 0; same && i < a.size(); i++) same = a[i].base == b[i].base && a[i].size == b[i].size;
  if (!same) Raise("GUEST_REGIONS", "machine: copyGuestRam needs two guest RAMs with the same regions");
}

bool PageIsZero(const uint8_t* p) {
  const uint64_t* w = reinterpret_cast<const uint64_t*>(p);
  for (uint64_t i = 0; i < kPage / 8; i++)
    if (w[i] != 0) return false;
  return true;
}

// Copies the resident, non-zero pages of one region's [off, off+len) window; returns the bytes.
uint64_t CopyWindow(uint8_t* dst, const uint8_t* src, uint64_t len, std::vector<unsigned char>& vec) {
  const uint64_t hostPage = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  vec.resize((len + hostPage - 1) / hostPage);
  if (mincore(const_cast<uint8_t*>(src), len, vec.data()) != 0) {
    Raise("NATIVE_SYSCALL", std::string("native: mincore failed: ") + strerror(errno));
  }
  uint64_t copied = 0;
  for (uint64_t hp = 0; hp < vec.size(); hp++) {
    if ((vec[hp] & 1) == 0) continue;
    uint64_t end = std::min(len, (hp + 1) * hostPage);
    for (uint64_t off = hp * hostPage; off < end; off += kPage) {
      if (PageIsZero(src + off)) continue;
      memcpy(dst + off, src + off, kPage);
      copied += kPage;
    }
  }
  return copied;
}

uint64_t CopyAll(const Napi::CallbackInfo& info) {
  const auto* data = static_cast<const CopyData*>(info.Data());
  GuestMemory& dst = MemoryOf(info[0], *data, "destination");
  GuestMemory& src = MemoryOf(info[1], *data, "source");
  if (&dst == &src) Raise("GUEST_RANGE", "machine: copyGuestRam of a guest RAM onto itself");
  RequireSameRegions(dst, src);
  std::vector<unsigned char> vec;
  uint64_t copied = 0;
  for (size_t i = 0; i < src.regions().size(); i++) {
    const GuestMemory::Region& s = src.regions()[i];
    const GuestMemory::Region& d = dst.regions()[i];
    for (uint64_t off = 0; off < s.size; off += kResidencyStep) {
      copied += CopyWindow(d.host + off, s.host + off, std::min(kResidencyStep, s.size - off), vec);
    }
  }
  return copied;
}

Napi::Value CopyGuestRam(const Napi::CallbackInfo& info) {
  return Coded(info.Env(), [&] { return Big(info.Env(), CopyAll(info)); });
}

}  // namespace

Napi::Function CopyGuestRamFunction(Napi::Env env, Napi::Function ramClass) {
  auto* data = new CopyData{Napi::Persistent(ramClass)};
  env.AddCleanupHook([data]() { delete data; });
  return Napi::Function::New(env, CopyGuestRam, "copyGuestRam", data);
}

}  // namespace kboot
