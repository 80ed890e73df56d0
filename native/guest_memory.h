// Guest-physical memory as host mappings, with no N-API in it (see guest_memory.cc).
#pragma once

#include <cstdint>
#include <vector>

namespace kboot {

class GuestMemory {
 public:
  struct Region {
    uint64_t base;
    uint64_t size;
    uint8_t* host;
  };
  struct Chunk {
    uint8_t* host;
    uint64_t len;
  };

  // Maps one anonymous region per {base, size} (host ignored); raises GUEST_REGIONS or
  // NATIVE_SYSCALL, leaving nothing mapped.
  explicit GuestMemory(const std::vector<Region>& regions);
  ~GuestMemory();
  GuestMemory(const GuestMemory&) = delete;
  GuestMemory& operator=(const GuestMemory&) = delete;

  // Host chunks backing [addr, addr+len); raises GUEST_CLOSED, or GUEST_RANGE unless every
  // byte is RAM. `op` names the operation in the message.
  std::vector<Chunk> Resolve(uint64_t addr, uint64_t len, const char* op) const;
  // The host address of [pa, pa+size) when it lies inside one region, else null.
  uint8_t* HostFor(uint64_t pa, uint64_t size) const;
  const std::vector<Region>& regions() const { return regions_; }

  // Pin/Unpin: a view or another native object (the CPU) uses these host pages; Close()
  // defers the munmap until the last pin is released.
  void Pin() { pins_++; }
  void Unpin();
  void Close();
  bool closed() const { return closed_; }
  // Bytes currently backed by host memory (mincore); raises GUEST_CLOSED or NATIVE_SYSCALL.
  uint64_t ResidentBytes() const;

 private:
  void ReleaseAll();

  std::vector<Region> regions_;  // sorted by base
  bool closed_ = false;
  uint64_t pins_ = 0;
};

}  // namespace kboot
