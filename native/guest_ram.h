// Native guest RAM (see guest_ram.cc for the contract).
#pragma once

#include <napi.h>

#include <cstdint>
#include <string>
#include <vector>

namespace kboot {

class GuestRam : public Napi::ObjectWrap<GuestRam> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit GuestRam(const Napi::CallbackInfo& info);
  ~GuestRam() override;

  struct Region {
    uint64_t base;
    uint64_t size;
    uint8_t* host;
  };
  struct Chunk {
    uint8_t* host;
    uint64_t len;
  };
  [[noreturn]] static void Fail(Napi::Env env, const char* code, const std::string& msg);
  // Host chunks backing [addr, addr+len); throws GUEST_RANGE if any byte is not RAM.
  std::vector<Chunk> Resolve(Napi::Env env, uint64_t addr, uint64_t len, const char* op) const;
  const std::vector<Region>& regions() const { return regions_; }
  // Pin/Unpin: another native object (the CPU) maps these host pages; close() then defers
  // the munmap until the last pin is released, exactly as it does for live views.
  void Pin() { views_++; }
  void Unpin() {
    if (views_ > 0 && --views_ == 0 && closed_) ReleaseAll();
  }
  bool closed() const { return closed_; }

 private:
  Napi::Value Read(const Napi::CallbackInfo& info);
  Napi::Value Write(const Napi::CallbackInfo& info);
  Napi::Value View(const Napi::CallbackInfo& info);
  Napi::Value Copy(const Napi::CallbackInfo& info);
  Napi::Value Fill(const Napi::CallbackInfo& info);
  Napi::Value Equals(const Napi::CallbackInfo& info);
  Napi::Value NonZeroPages(const Napi::CallbackInfo& info);
  Napi::Value PageDigests(const Napi::CallbackInfo& info);
  Napi::Value GatherPages(const Napi::CallbackInfo& info);
  Napi::Value PageDigestsAt(const Napi::CallbackInfo& info);
  Napi::Value ResidentBytes(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  void ReleaseAll();

  std::vector<Region> regions_;
  bool closed_ = false;
  uint64_t views_ = 0;
};

}  // namespace kboot
