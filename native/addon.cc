// kboot's native addon, loaded by native/binding.ts only; `abiVersion` changes whenever the
// JS-visible surface changes. Each JS binding converts arguments and results through
// convert.h and reports failures as coded errors (errors.h) over an engine with no N-API:
//  - guest RAM: guest_ram.cc over guest_memory.cc;
//  - the Unicorn CPU: cpu.cc over cpu_engine.cc (+ cpu_regs.cc, cpu_memory_map.cc, cpu_accel.cc);
//  - dump stream compression (compress.cc), a threaded dump file writer (file_writer.cc),
//    flock(2) (fs_lock.cc), the page digest (page_digest.cc), copying one guest RAM into
//    another (snapshot.cc).
#include <napi.h>

#include "compress.h"
#include "cpu.h"
#include "file_writer.h"
#include "fs_lock.h"
#include "guest_ram.h"
#include "snapshot.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  Napi::Function ram = kboot::GuestRam::Init(env);
  exports.Set("GuestRam", ram);
  exports.Set("Cpu", kboot::Cpu::Init(env, ram));
  exports.Set("Compressor", kboot::Compressor::Init(env));
  exports.Set("Decompressor", kboot::Decompressor::Init(env));
  exports.Set("FileWriter", kboot::FileWriter::Init(env));
  exports.Set("flock", kboot::FlockFunction(env));
  exports.Set("copyGuestRam", kboot::CopyGuestRamFunction(env, ram));
  exports.Set("abiVersion", Napi::Number::New(env, 8));
  return exports;
}

}  // namespace

NODE_API_MODULE(kboot, Init)
