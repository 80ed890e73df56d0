// The CPU engine's memory map: windows (Unicorn regions), the live translation, protection,
// and dropping translated code (the contract is in cpu_engine.cc).
#include <algorithm>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "cpu_engine.h"
#include "errors.h"

namespace kboot {

namespace {
constexpr uint32_t kArm64Wfi = 0xd503207f;
constexpr uint8_t kX86Hlt = 0xf4;

bool SameWindow(const Window& a, const Window& b) {
  return a.va == b.va && a.pa == b.pa && a.size == b.size && a.device == b.device;
}
}  // namespace

uint8_t* CpuEngine::HostFor(uint64_t pa, uint64_t size) const {
  return ram_ == nullptr ? nullptr : ram_->HostFor(pa, size);
}

bool CpuEngine::InMmio(uint64_t pa, uint64_t size) const {
  for (const CpuConfig::MmioRange& m : mmio_) {
    if (pa >= m.pa && pa + size <= m.pa + m.size && pa + size > pa) return true;
  }
  return false;
}

bool CpuEngine::InDevice(uint64_t pa, uint64_t size) const {
  return (havePl011_ && pa >= pl011Base_ && pa + size <= pl011Base_ + kPl011Size && pa + size > pa) ||
         InMmio(pa, size);
}

void CpuEngine::AddWindow(const Window& w) {
  // Inclusive ends: a window may end exactly at 2^64.
  uint64_t last = w.va + w.size - 1;
  if (w.size == 0 || w.va % kPage != 0 || w.pa % kPage != 0 || w.size % kPage != 0 || last < w.va) {
    Raise("CPU_MAP", "machine: window " + Hex(w.va) + " -> " + Hex(w.pa) + " + " + Hex(w.size) +
                         " is empty, not 4 KiB aligned or past 2^64");
  }
  for (const Window& o : windows_) {
    uint64_t olast = o.va + o.size - 1;
    if (w.va <= olast && o.va <= last) {
      Raise("CPU_MAP", "machine: window at " + Hex(w.va) + " + " + Hex(w.size) + " overlaps the window at " +
                           Hex(o.va) + " + " + Hex(o.size));
    }
  }
  uc_err err;
  if (w.device) {
    if (!InDevice(w.pa, w.size)) Raise("CPU_MAP", "machine: device window PA " + Hex(w.pa) + " is not a device");
    if (InMmio(w.pa, w.size)) {
      // A caller-modelled range: its callbacks get the PA (window start + offset).
      mmioWindows_.push_back(MmioWindow{this, w.pa});
      MmioWindow* ctx = &mmioWindows_.back();
      err = uc_mmio_map(uc_, w.va, w.size, &MmioReadHook, ctx, &MmioWriteHook, ctx);
    } else {
      // Every PL011 window shares the PL011 callbacks; offsets are rebased on the device page.
      if (w.pa != pl011Base_ || w.size != kPl011Size) {
        Raise("CPU_MAP", "machine: a device window must cover the whole PL011 page at " + Hex(pl011Base_));
      }
      err = uc_mmio_map(uc_, w.va, w.size, &Pl011ReadHook, this, &Pl011WriteHook, this);
    }
  } else {
    uint8_t* host = HostFor(w.pa, w.size);
    if (host == nullptr) {
      Raise("CPU_MAP", "machine: window PA " + Hex(w.pa) + " + " + Hex(w.size) + " is not inside one RAM region");
    }
    // A window wholly inside protected RAM is mapped read-only at once (machine/cpu/ splits
    // windows at protection boundaries), which spares uc_mem_protect's region split.
    bool whole = !protected_.empty() && IsProtectedWhole(w.pa, w.size);
    err = uc_mem_map_ptr(uc_, w.va, w.size, whole ? (UC_PROT_READ | UC_PROT_EXEC) : UC_PROT_ALL, host);
  }
  if (err != UC_ERR_OK) {
    Raise("CPU_MAP", "machine: Unicorn refused the window at " + Hex(w.va) + " + " + Hex(w.size) + " (" +
                         uc_strerror(err) + ")");
  }
  auto it = std::lower_bound(windows_.begin(), windows_.end(), w.va,
                             [](const Window& a, uint64_t va) { return a.va < va; });
  windows_.insert(it, w);
  if (!w.device && !IsProtectedWhole(w.pa, w.size)) {
    for (const PRange& p : protected_) {
      uint64_t lo = std::max(p.pa, w.pa), hi = std::min(p.pa + p.size, w.pa + w.size);
      if (lo < hi) ProtectWindowPart(w, lo, hi - lo, true);
    }
  }
}

// Unmaps [va, va+size) from every window it touches; partial windows keep their remainders.
void CpuEngine::RemoveWindowRange(uint64_t va, uint64_t size) {
  if (size == 0 || va % kPage != 0 || size % kPage != 0 || va + size - 1 < va) {
    Raise("CPU_MAP", "machine: unmap " + Hex(va) + " + " + Hex(size) + " is empty, not 4 KiB aligned or past 2^64");
  }
  uint64_t end = va + size;
  std::vector<Window> next;
  for (const Window& w : windows_) {
    uint64_t wend = w.va + w.size;
    uint64_t lo = std::max(w.va, va);
    uint64_t hi = std::min(wend - 1, end - 1);  // inclusive ends avoid 2^64 overflow
    if (lo > hi) {
      next.push_back(w);
      continue;
    }
    if (w.device && (lo != w.va || hi != wend - 1)) {
      Raise("CPU_MAP", "machine: a device window at " + Hex(w.va) + " can only be unmapped whole");
    }
    uc_err err = uc_mem_unmap(uc_, lo, hi - lo + 1);
    if (err != UC_ERR_OK) {
      Raise("CPU_MAP", "machine: Unicorn refused to unmap " + Hex(lo) + " + " + Hex(hi - lo + 1) + " (" +
                           uc_strerror(err) + ")");
    }
    if (lo > w.va) next.push_back(Window{w.va, w.pa, lo - w.va, w.device});
    if (hi < wend - 1) next.push_back(Window{hi + 1, w.pa + (hi + 1 - w.va), wend - 1 - hi, w.device});
  }
  std::sort(next.begin(), next.end(), [](const Window& a, const Window& b) { return a.va < b.va; });
  windows_ = std::move(next);
}

void CpuEngine::ProtectWindowPart(const Window& w, uint64_t pa, uint64_t size, bool ro) {
  uint64_t va = w.va + (pa - w.pa);
  uc_err err = uc_mem_protect(uc_, va, size, ro ? (UC_PROT_READ | UC_PROT_EXEC) : UC_PROT_ALL);
  if (err != UC_ERR_OK) {
    Raise("CPU_MAP", "machine: Unicorn refused to protect " + Hex(va) + " + " + Hex(size) + " (" +
                         uc_strerror(err) + ")");
  }
}

bool CpuEngine::IsProtected(uint64_t pa, uint64_t size) const {
  for (const PRange& p : protected_) {
    if (pa < p.pa + p.size && p.pa < pa + size) return true;
  }
  return false;
}

// True when every byte of [pa, pa + size) is protected (the set is merged: one range holds it).
bool CpuEngine::IsProtectedWhole(uint64_t pa, uint64_t size) const {
  for (const PRange& p : protected_) {
    if (pa >= p.pa && pa + size <= p.pa + p.size) return true;
  }
  return false;
}

bool CpuEngine::Translate(uint64_t va, uint64_t* pa) const {
  auto it = std::upper_bound(xlat_.begin(), xlat_.end(), va, [](uint64_t v, const Xlat& x) { return v < x.va; });
  if (it == xlat_.begin()) return false;
  --it;
  if (va - it->va < it->size) {
    *pa = it->pa + (va - it->va);
    return true;
  }
  return false;
}

// True when [va, va+size) is translated VA == PA all the way and lies in one RAM region.
bool CpuEngine::IdentityRam(uint64_t va, uint64_t size) const {
  if (size == 0 || va + size < va || HostFor(va, size) == nullptr) return false;
  uint64_t cur = va, end = va + size;
  while (cur < end) {
    auto it = std::upper_bound(xlat_.begin(), xlat_.end(), cur, [](uint64_t v, const Xlat& x) { return v < x.va; });
    if (it == xlat_.begin()) return false;
    --it;
    if (cur - it->va >= it->size || it->va != it->pa) return false;
    cur = it->va + it->size;
    if (cur == 0) break;  // run ends at 2^64
  }
  return true;
}

bool CpuEngine::HaltInsnAt(uint64_t pc, uint32_t size) const {
  uint64_t pa = 0;
  if (!Translate(pc, &pa)) return false;
  if (arch_ == CpuArch::kAmd64) {
    const uint8_t* p = HostFor(pa, 1);
    return size == 1 && p != nullptr && *p == kX86Hlt;
  }
  const uint8_t* p = HostFor(pa, 4);
  if (size != 4 || p == nullptr) return false;
  uint32_t w = 0;
  memcpy(&w, p, 4);
  return w == kArm64Wfi;
}

// Drops translated code for the VA range [va, va+size) (size 0: everything translated).
// Host writes (guest RAM from JS, accelerated copies) bypass QEMU's self-modifying-code
// detection, so the run loop calls this at every run start and after each accelerated copy.
// UC_CTL_TB_FLUSH is not used: its first call touches the whole 1 GiB code buffer (measured:
// 2.3 s and +1 GiB RSS). UC_CTL_TB_REMOVE_CACHE translates only the start of its range and
// invalidates that many bytes of the RAM block found there, so it is called once per piece
// of executable translation run inside one window (about 3 ms per GiB, measured).
void CpuEngine::InvalidateCode(uint64_t va, uint64_t size) {
  if (!everStarted_) return;  // nothing translated yet (and a range walk over all RAM costs seconds)
  uint64_t last = size == 0 ? UINT64_MAX : va + size - 1;
  if (size == 0) va = 0;
  // Only where the CPU may fetch: 2.0.1 resolves the start with a fetch page walk, and a
  // walk that faults there leaves the engine reporting later errors as UC_ERR_OK.
  auto fetchable = [this](uint64_t lo, uint64_t hi, auto&& each) {
    for (const Window& w : windows_) {
      if (w.device) continue;
      uint64_t wlast = w.va + w.size - 1;
      for (const Xlat& x : xlat_) {
        if (!x.exec) continue;
        uint64_t xlast = x.va + x.size - 1;
        uint64_t a = std::max({w.va, x.va, lo});
        uint64_t b = std::min({wlast, xlast, hi});
        if (a <= b) each(a, b);
      }
    }
  };
  auto remove = [this](uint64_t a, uint64_t b) { uc_ctl_remove_cache(uc_, a, b == UINT64_MAX ? b : b + 1); };
  if (codePagesOverflow_) {
    fetchable(va, last, remove);
    return;
  }
  // Pages where code has run are the only places a translation can be cached.
  for (uint64_t page : codePages_) {
    uint64_t a = page * kPage;
    uint64_t b = a + kPage - 1;
    if (b < va || a > last) continue;
    fetchable(std::max(a, va), std::min(b, last), remove);
  }
}

// Replaces the translation, its known ranges and the windows (a diff: windows that stay are
// not touched).
void CpuEngine::SetMappings(std::vector<Window> want, std::vector<Xlat> translation, std::vector<VRange> known) {
  for (Window& w : want) w.device = InDevice(w.pa, w.size);
  for (const VRange& k : known) {
    if (k.size == 0 || (k.va + k.size < k.va && k.va + k.size != 0)) {
      Raise("CPU_MAP", "machine: known range " + Hex(k.va) + " + " + Hex(k.size) + " is empty or wraps");
    }
  }
  std::sort(known.begin(), known.end(), [](const VRange& a, const VRange& b) { return a.va < b.va; });
  SetTranslation(std::move(translation));
  ApplyWindowDiff(want);
  known_ = std::move(known);
}

void CpuEngine::SetTranslation(std::vector<Xlat> xl) {
  for (const Xlat& x : xl) {
    if (x.size == 0) Raise("CPU_MAP", "machine: empty translation run at " + Hex(x.va));
  }
  std::sort(xl.begin(), xl.end(), [](const Xlat& a, const Xlat& b) { return a.va < b.va; });
  for (size_t i = 1; i < xl.size(); i++) {
    if (xl[i - 1].va + xl[i - 1].size > xl[i].va && xl[i - 1].va + xl[i - 1].size != 0) {
      Raise("CPU_MAP", "machine: translation runs overlap at " + Hex(xl[i].va));
    }
  }
  xlat_ = std::move(xl);
}

// Removes windows that are not wanted (the PL011 and the modelled MMIO at their PAs stay), then adds the new ones.
void CpuEngine::ApplyWindowDiff(const std::vector<Window>& want) {
  auto permanent = [this](const Window& w) {
    return w.device && ((havePl011_ && w.va == pl011Base_) || (w.va == w.pa && InMmio(w.pa, w.size)));
  };
  std::vector<Window> current = windows_;
  for (const Window& w : current) {
    if (permanent(w)) continue;
    bool keep = std::any_of(want.begin(), want.end(), [&](const Window& n) { return SameWindow(n, w); });
    if (!keep) RemoveWindowRange(w.va, w.size);
  }
  std::vector<Window> added;
  for (const Window& n : want) {
    bool have = std::any_of(windows_.begin(), windows_.end(), [&](const Window& w) { return SameWindow(n, w); });
    if (!have) {
      AddWindow(n);
      added.push_back(n);
    }
  }
  // A new RAM block may reuse the ram_addr range of one just removed, and QEMU keys translated
  // code by (VA, ram_addr): without this, a VA remapped by a CR3 switch can run the old code
  // (seen in test/conformance/cpu.amd64.test.ts "CR3 switch").
  for (const Window& n : added) {
    if (!n.device) InvalidateCode(n.va, n.size);
  }
}

void CpuEngine::MapAlias(uint64_t va, uint64_t pa, uint64_t size) {
  AddWindow(Window{va, pa, size, InDevice(pa, size)});
}

void CpuEngine::Protect(uint64_t pa, uint64_t size, bool readOnly) {
  if (size == 0 || pa % kPage != 0 || size % kPage != 0 || pa + size < pa) {
    Raise("CPU_MAP", "machine: protect " + Hex(pa) + " + " + Hex(size) + " is empty or not 4 KiB aligned");
  }
  // Every page must be RAM (regions may be adjacent).
  for (uint64_t cur = pa; cur < pa + size;) {
    bool found = false;
    for (const GuestMemory::Region& r : ram_->regions()) {
      if (cur >= r.base && cur < r.base + r.size) {
        cur = r.base + r.size;
        found = true;
        break;
      }
    }
    if (!found) Raise("CPU_MAP", "machine: protect " + Hex(pa) + " + " + Hex(size) + " is not RAM at " + Hex(cur));
  }
  UpdateProtectedSet(pa, size, readOnly);
  for (const Window& w : windows_) {
    if (w.device) continue;
    uint64_t lo = std::max(pa, w.pa), hi = std::min(pa + size, w.pa + w.size);
    if (lo < hi) ProtectWindowPart(w, lo, hi - lo, readOnly);
  }
}

// The protected set minus [pa, pa+size), plus it again when read-only; kept sorted and merged.
void CpuEngine::UpdateProtectedSet(uint64_t pa, uint64_t size, bool readOnly) {
  std::vector<PRange> next;
  uint64_t end = pa + size;
  for (const PRange& p : protected_) {
    uint64_t pend = p.pa + p.size;
    if (pend <= pa || p.pa >= end) {
      next.push_back(p);
      continue;
    }
    if (p.pa < pa) next.push_back(PRange{p.pa, pa - p.pa});
    if (pend > end) next.push_back(PRange{end, pend - end});
  }
  if (readOnly) next.push_back(PRange{pa, size});
  std::sort(next.begin(), next.end(), [](const PRange& a, const PRange& b) { return a.pa < b.pa; });
  protected_.clear();
  for (const PRange& p : next) {
    if (!protected_.empty() && protected_.back().pa + protected_.back().size == p.pa) {
      protected_.back().size += p.size;
    } else {
      protected_.push_back(p);
    }
  }
}

}  // namespace kboot
