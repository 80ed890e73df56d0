// Guest-physical memory: one anonymous MAP_NORESERVE mapping per RAM region.
//
// Contract (the memory under machine/ram.ts `GuestRam`, bound to JS by guest_ram.cc):
//  - regions {base, size} are 4 KiB aligned and non-overlapping (the JS side sorts and checks
//    them first; here they are asserted); each is one mmap(PROT_READ|PROT_WRITE,
//    MAP_PRIVATE|MAP_ANONYMOUS|MAP_NORESERVE), so only touched pages cost memory;
//  - `Resolve` maps a guest-physical range to host chunks before anything is touched: a range
//    that starts or ends outside RAM, or crosses a hole, raises GUEST_RANGE; a range may cross
//    from one region into an adjacent one;
//  - Close() unmaps once nothing pins the memory (a view, the CPU), else at the last Unpin().
// Source for the page-size and residency semantics: mmap(2), mincore(2) (Linux).
#include "guest_memory.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

#include "errors.h"

namespace kboot {

namespace {
constexpr uint64_t kPage = 4096;
}  // namespace

GuestMemory::GuestMemory(const std::vector<Region>& regions) {
  for (const Region& want : regions) {
    Region r{want.base, want.size, nullptr};
    if (r.size == 0 || r.base % kPage != 0 || r.size % kPage != 0 || r.base + r.size < r.base) {
      ReleaseAll();
      Raise("GUEST_REGIONS", "machine: bad RAM region (base=" + Hex(r.base) + ", size=" + Hex(r.size) + ")");
    }
    void* p = mmap(nullptr, r.size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
      int err = errno;
      ReleaseAll();
      Raise("NATIVE_SYSCALL",
            "native: mmap of " + Hex(r.size) + " bytes for RAM at " + Hex(r.base) + " failed: " + strerror(err));
    }
    r.host = static_cast<uint8_t*>(p);
    regions_.push_back(r);
  }
  std::sort(regions_.begin(), regions_.end(), [](const Region& a, const Region& b) { return a.base < b.base; });
  for (size_t i = 1; i < regions_.size(); i++) {
    if (regions_[i - 1].base + regions_[i - 1].size > regions_[i].base) {
      std::string msg = "machine: RAM regions overlap (" + Hex(regions_[i - 1].base) + " and " + Hex(regions_[i].base) + ")";
      ReleaseAll();
      Raise("GUEST_REGIONS", msg);
    }
  }
}

GuestMemory::~GuestMemory() { ReleaseAll(); }

void GuestMemory::ReleaseAll() {
  for (Region& r : regions_) {
    if (r.host != nullptr) munmap(r.host, r.size);
    r.host = nullptr;
  }
  regions_.clear();
}

void GuestMemory::Unpin() {
  if (pins_ > 0 && --pins_ == 0 && closed_) ReleaseAll();
}

void GuestMemory::Close() {
  closed_ = true;
  if (pins_ == 0) ReleaseAll();
}

std::vector<GuestMemory::Chunk> GuestMemory::Resolve(uint64_t addr, uint64_t len, const char* op) const {
  if (closed_) Raise("GUEST_CLOSED", std::string("machine: ") + op + " on closed guest RAM");
  std::vector<Chunk> out;
  if (len == 0) {
    // An empty access is valid only at an address inside RAM or at a region's end.
    for (const Region& r : regions_) {
      if (addr >= r.base && addr <= r.base + r.size) return out;
    }
    Raise("GUEST_RANGE", std::string("machine: ") + op + " of 0 bytes at " + Hex(addr) + " is outside guest RAM");
  }
  uint64_t end = addr + len;
  if (end < addr) {
    Raise("GUEST_RANGE", std::string("machine: ") + op + " at " + Hex(addr) + " + " + Hex(len) + " wraps past 2^64");
  }
  uint64_t cur = addr;
  for (const Region& r : regions_) {
    if (cur >= r.base + r.size) continue;
    if (cur < r.base) break;  // hole
    uint64_t take = std::min(end, r.base + r.size) - cur;
    out.push_back(Chunk{r.host + (cur - r.base), take});
    cur += take;
    if (cur == end) return out;
  }
  Raise("GUEST_RANGE", std::string("machine: ") + op + " " + Hex(addr) + "-" + Hex(end - 1) +
                           " is not guest RAM (first missing byte " + Hex(cur) + ")");
}

uint8_t* GuestMemory::HostFor(uint64_t pa, uint64_t size) const {
  if (size == 0 || pa + size < pa) return nullptr;
  for (const Region& r : regions_) {
    if (pa >= r.base && pa + size <= r.base + r.size) return r.host + (pa - r.base);
  }
  return nullptr;
}

uint64_t GuestMemory::ResidentBytes() const {
  if (closed_) Raise("GUEST_CLOSED", "machine: residentBytes on closed guest RAM");
  long hostPage = sysconf(_SC_PAGESIZE);
  uint64_t total = 0;
  constexpr uint64_t kStep = 1ull << 30;
  std::vector<unsigned char> vec;
  for (const Region& r : regions_) {
    for (uint64_t off = 0; off < r.size; off += kStep) {
      uint64_t n = std::min(kStep, r.size - off);
      vec.resize((n + hostPage - 1) / hostPage);
      if (mincore(r.host + off, n, vec.data()) != 0) {
        Raise("NATIVE_SYSCALL", std::string("native: mincore failed: ") + strerror(errno));
      }
      for (unsigned char v : vec) total += (v & 1) ? hostPage : 0;
    }
  }
  return total;
}

}  // namespace kboot
