// The JS binding of guest RAM (see guest_ram.cc); the memory itself is guest_memory.h.
#pragma once

#include <napi.h>

#include <memory>

#include "guest_memory.h"

namespace kboot {

class GuestRam : public Napi::ObjectWrap<GuestRam> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit GuestRam(const Napi::CallbackInfo& info);

  const std::shared_ptr<GuestMemory>& memory() const { return memory_; }

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

  std::shared_ptr<GuestMemory> memory_;  // shared with views and the CPU that map it
};

}  // namespace kboot
