// kboot's native addon: guest RAM (guest_ram.cc). Loaded by machine/native.ts only.
#include <napi.h>

#include "guest_ram.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("GuestRam", kboot::GuestRam::Init(env));
  exports.Set("abiVersion", Napi::Number::New(env, 1));
  return exports;
}

}  // namespace

NODE_API_MODULE(kboot, Init)
