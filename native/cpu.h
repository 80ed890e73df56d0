// The JS binding of the emulated CPU (see cpu.cc); the engine is cpu_engine.h.
#pragma once

#include <napi.h>

#include <memory>
#include <string>

#include "cpu_engine.h"

namespace kboot {

class Cpu : public Napi::ObjectWrap<Cpu> {
 public:
  // `ramClass` is the GuestRam constructor: the Cpu accepts only instances of it.
  static Napi::Function Init(Napi::Env env, Napi::Function ramClass);
  explicit Cpu(const Napi::CallbackInfo& info);

 private:
  Napi::Value GetReg(const Napi::CallbackInfo& info);
  Napi::Value SetReg(const Napi::CallbackInfo& info);
  Napi::Value SetupLongMode(const Napi::CallbackInfo& info);
  Napi::Value SetupEl1(const Napi::CallbackInfo& info);
  Napi::Value Run(const Napi::CallbackInfo& info);
  Napi::Value SetMappings(const Napi::CallbackInfo& info);
  Napi::Value MapAlias(const Napi::CallbackInfo& info);
  Napi::Value UnmapAlias(const Napi::CallbackInfo& info);
  Napi::Value Mappings(const Napi::CallbackInfo& info);
  Napi::Value RegionCount(const Napi::CallbackInfo& info);
  Napi::Value Protect(const Napi::CallbackInfo& info);
  Napi::Value SetAccelerators(const Napi::CallbackInfo& info);
  Napi::Value TakeConsole(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);

  // The engine, open: raises CPU_CLOSED / GUEST_CLOSED naming `op` otherwise.
  CpuEngine& Open(const char* op);
  Accel ParseAccel(const Napi::Value& v) const;

  // The MMIO model's callbacks (options.mmio.read/write) and the message of the last failure.
  void BindMmio(const Napi::CallbackInfo& info, CpuConfig* config);
  Napi::FunctionReference mmioRead_;
  Napi::FunctionReference mmioWrite_;
  std::string mmioError_;

  std::unique_ptr<CpuEngine> engine_;
};

}  // namespace kboot
