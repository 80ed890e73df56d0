// The JS binding of the emulated CPU: argument parsing and result marshalling only; the
// engine (Unicorn, hooks, the run loop, the memory map, accelerators) is cpu_engine.cc.
//
// Contract (TS surface: machine/native.ts NativeCpuHandle, used by machine/cpu.ts, which
// validates arguments first): `new Cpu(arch, ram, {uart})` opens an engine over a GuestRam
// instance; each method converts its arguments with convert.h (a value of the wrong type
// raises the method's code), calls the engine, and converts the result: `run(opts)` returns
// the StopRecord as {pc, vector?, cr2?, access?, address?, pa?, size?, value?, kind, executed,
// elapsedMs, acceleratedCopies, acceleratedBytes}. Errors carry a `kbootCode` (CPU_SETUP,
// CPU_REGISTER, CPU_MAP, CPU_RUN, CPU_ACCEL, CPU_CLOSED, GUEST_CLOSED) that
// machine/native.ts turns into MachineError.
#include "cpu.h"

#include <string>
#include <utility>
#include <vector>

#include "convert.h"
#include "guest_ram.h"

namespace kboot {

namespace {

struct CpuClassData {
  Napi::FunctionReference ramClass;
};

// The arch and the UART (machine/cpu.ts checked that they fit each other and the RAM).
CpuConfig ParseConfig(const Napi::CallbackInfo& info) {
  const char* c = "CPU_SETUP";
  CpuConfig config;
  std::string arch = Str(info[0], c, "cpu arch");
  if (arch != "amd64" && arch != "arm64") Raise(c, "machine: unknown CPU arch '" + arch + "'");
  config.arch = arch == "amd64" ? CpuArch::kAmd64 : CpuArch::kArm64;
  if (info.Length() < 3 || info[2].IsUndefined()) return config;
  Options opts(info[2], c, "cpu options");
  if (!opts.Has("uart")) return config;
  Options uart(opts.Get("uart"), c, "uart");
  std::string kind = uart.Str("kind");
  if (kind == "ns16550") {
    config.ns16550Port = static_cast<uint32_t>(uart.U64("port", 0xffff));
  } else if (kind == "pl011") {
    config.pl011Base = uart.U64("base");
  } else {
    Raise(c, "machine: unknown UART kind '" + kind + "'");
  }
  return config;
}

// The run limits (machine/cpu.ts validated them).
RunLimits ParseRunLimits(const Napi::Value& v) {
  const char* c = "CPU_RUN";
  Options o(v, c, "run");
  RunLimits limits;
  limits.maxInstructions = o.U64("maxInstructions");
  limits.timeoutMs = o.U64("timeoutMs");
  limits.until = o.OptU64("until");
  limits.start = o.OptU64("start");
  Napi::Value breakpoints = o.Get("breakpoints");
  if (breakpoints.IsArray()) {
    limits.breakpoints = ParseList(breakpoints, c, "run.breakpoints", [&](const Napi::Value& b) { return U64(b, c, "breakpoint"); });
  }
  limits.skipBreakpointAtStart = o.Flag("skipBreakpointAtStart");
  limits.flushCode = o.Flag("flushCode");
  return limits;
}

Napi::Object ToJs(Napi::Env env, const StopRecord& r) {
  Napi::Object out = Napi::Object::New(env);
  out.Set("pc", Big(env, r.pc));
  if (r.vector.has_value()) out.Set("vector", Napi::Number::New(env, static_cast<double>(*r.vector)));
  if (r.cr2.has_value()) out.Set("cr2", Big(env, *r.cr2));
  if (r.access != nullptr) out.Set("access", Napi::String::New(env, r.access));
  if (r.address.has_value()) out.Set("address", Big(env, *r.address));
  if (r.pa.has_value()) out.Set("pa", Big(env, *r.pa));
  if (r.size.has_value()) out.Set("size", Napi::Number::New(env, static_cast<double>(*r.size)));
  if (r.value.has_value()) out.Set("value", Big(env, *r.value));
  out.Set("kind", Napi::String::New(env, StopKindName(r.kind)));
  out.Set("executed", Napi::Number::New(env, static_cast<double>(r.executed)));
  out.Set("elapsedMs", Napi::Number::New(env, r.elapsedMs));
  out.Set("acceleratedCopies", Napi::Number::New(env, static_cast<double>(r.acceleratedCopies)));
  out.Set("acceleratedBytes", Napi::Number::New(env, static_cast<double>(r.acceleratedBytes)));
  return out;
}

struct MappingsArgs {
  std::vector<Window> windows;
  std::vector<Xlat> xlat;
  std::vector<VRange> known;
};

// Windows (device is decided by the engine), translation runs and the ranges they cover in
// full, as setMappings takes them.
MappingsArgs ParseWindows(const Napi::Value& windows, const Napi::Value& translation, const Napi::Value& known) {
  const char* c = "CPU_MAP";
  auto want = ParseList(windows, c, "windows", [&](const Napi::Value& v) {
    Options o(v, c, "window");
    return Window{o.U64("va"), o.U64("pa"), o.U64("size"), false};
  });
  auto xlat = ParseList(translation, c, "translation", [&](const Napi::Value& v) {
    Options o(v, c, "xlat");
    return Xlat{o.U64("va"), o.U64("pa"), o.U64("size"), o.Flag("exec")};
  });
  std::vector<VRange> ranges;
  if (!known.IsUndefined()) {
    ranges = ParseList(known, c, "known", [&](const Napi::Value& v) {
      Options o(v, c, "known range");
      return VRange{o.U64("va"), o.U64("size")};
    });
  }
  return {std::move(want), std::move(xlat), std::move(ranges)};
}

}  // namespace

Napi::Function Cpu::Init(Napi::Env env, Napi::Function ramClass) {
  auto* data = new CpuClassData{Napi::Persistent(ramClass)};
  env.AddCleanupHook([data]() { delete data; });
  return DefineClass(env, "NativeCpu",
                     {
                         CodedMethod<Cpu, &Cpu::GetReg>("getReg"),
                         CodedMethod<Cpu, &Cpu::SetReg>("setReg"),
                         CodedMethod<Cpu, &Cpu::SetupLongMode>("setupLongMode"),
                         CodedMethod<Cpu, &Cpu::SetupEl1>("setupEl1"),
                         CodedMethod<Cpu, &Cpu::Run>("run"),
                         CodedMethod<Cpu, &Cpu::SetMappings>("setMappings"),
                         CodedMethod<Cpu, &Cpu::MapAlias>("mapAlias"),
                         CodedMethod<Cpu, &Cpu::UnmapAlias>("unmapAlias"),
                         CodedMethod<Cpu, &Cpu::Mappings>("mappings"),
                         CodedMethod<Cpu, &Cpu::RegionCount>("regionCount"),
                         CodedMethod<Cpu, &Cpu::Protect>("protect"),
                         CodedMethod<Cpu, &Cpu::SetAccelerators>("setAccelerators"),
                         CodedMethod<Cpu, &Cpu::TakeConsole>("takeConsole"),
                         CodedMethod<Cpu, &Cpu::Close>("close"),
                     },
                     data);
}

Cpu::Cpu(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Cpu>(info) {
  Coded(info.Env(), [&] {
    CpuConfig config = ParseConfig(info);
    BindMmio(info, &config);
    auto* data = static_cast<CpuClassData*>(info.Data());
    // Unwrapping anything but a GuestRam would read a foreign object as one.
    if (info.Length() < 2 || !info[1].IsObject() || !info[1].As<Napi::Object>().InstanceOf(data->ramClass.Value())) {
      Raise("CPU_SETUP", "machine: the CPU needs a native GuestRam object");
    }
    GuestRam* ram = Napi::ObjectWrap<GuestRam>::Unwrap(info[1].As<Napi::Object>());
    if (ram == nullptr) Raise("GUEST_CLOSED", "machine: the CPU's guest RAM is closed");
    engine_ = std::make_unique<CpuEngine>(config, ram->memory());
  });
}

// options.mmio = {ranges: [{base, size}], read(pa, size) -> bigint, write(pa, size, value)}:
// the modelled MMIO ranges (machine/cpu.ts checked them) and the JS model called on access.
void Cpu::BindMmio(const Napi::CallbackInfo& info, CpuConfig* config) {
  const char* c = "CPU_SETUP";
  if (info.Length() < 3 || !info[2].IsObject()) return;
  Options opts(info[2], c, "cpu options");
  if (!opts.Has("mmio")) return;
  Options mmio(opts.Get("mmio"), c, "mmio");
  config->mmio = ParseList(mmio.Get("ranges"), c, "mmio.ranges", [&](const Napi::Value& v) {
    Options o(v, c, "mmio range");
    return CpuConfig::MmioRange{o.U64("base"), o.U64("size")};
  });
  Napi::Value read = mmio.Get("read"), write = mmio.Get("write");
  if (!read.IsFunction() || !write.IsFunction()) Raise(c, "machine: mmio needs read and write functions");
  mmioRead_ = Napi::Persistent(read.As<Napi::Function>());
  mmioWrite_ = Napi::Persistent(write.As<Napi::Function>());
  Napi::Env env = info.Env();
  config->mmioRead = [this, env](uint64_t pa, unsigned size) -> uint64_t {
    try {
      Napi::Value v = mmioRead_.Call({Big(env, pa), Napi::Number::New(env, size)});
      return U64(v, "CPU_RUN", "mmio read value");
    } catch (const std::exception& e) {
      mmioError_ = e.what();
      throw;
    }
  };
  config->mmioWrite = [this, env](uint64_t pa, unsigned size, uint64_t value) {
    try {
      mmioWrite_.Call({Big(env, pa), Napi::Number::New(env, size), Big(env, value)});
    } catch (const std::exception& e) {
      mmioError_ = e.what();
      throw;
    }
  };
}

CpuEngine& Cpu::Open(const char* op) {
  if (engine_ == nullptr) Raise("CPU_CLOSED", std::string("machine: ") + op + " on a closed CPU");
  engine_->CheckOpen(op);
  return *engine_;
}

Napi::Value Cpu::Close(const Napi::CallbackInfo& info) {
  if (engine_ != nullptr) engine_->Close();
  return info.Env().Undefined();
}

Napi::Value Cpu::GetReg(const Napi::CallbackInfo& info) {
  CpuEngine& cpu = Open("getReg");
  return Big(info.Env(), cpu.GetReg(Str(info[0], "CPU_REGISTER", "register name")));
}

Napi::Value Cpu::SetReg(const Napi::CallbackInfo& info) {
  CpuEngine& cpu = Open("setReg");
  std::string name = Str(info[0], "CPU_REGISTER", "register name");
  cpu.SetReg(name, U64(info[1], "CPU_REGISTER", "register value"));
  return info.Env().Undefined();
}

Napi::Value Cpu::SetupLongMode(const Napi::CallbackInfo& info) {
  CpuEngine& cpu = Open("setupLongMode");
  Options o(info[0], "CPU_SETUP", "setupLongMode");
  cpu.SetupLongMode(LongModeSetup{o.U64("gdtBase"), o.U64("gdtLimit", 0xffff), o.U64("cr3"), o.U64("cr0"),
                                  o.U64("cr4"), o.U64("efer"), o.U64("cs", 0xffff), o.U64("ds", 0xffff)});
  return info.Env().Undefined();
}

Napi::Value Cpu::SetupEl1(const Napi::CallbackInfo& info) {
  CpuEngine& cpu = Open("setupEl1");
  Options o(info[0], "CPU_SETUP", "setupEl1");
  cpu.SetupEl1(El1Setup{o.OptU64("mair"), o.OptU64("tcr"), o.OptU64("ttbr0"), o.OptU64("ttbr1"), o.OptU64("vbar"),
                        o.OptU64("sctlr")});
  return info.Env().Undefined();
}

Napi::Value Cpu::Run(const Napi::CallbackInfo& info) {
  CpuEngine& cpu = Open("run");
  RunLimits limits = ParseRunLimits(info[0]);
  StopRecord stop = cpu.Run(limits);
  if (cpu.mmioFailed()) Raise("CPU_RUN", "machine: the MMIO device model failed (" + mmioError_ + ")");
  return ToJs(info.Env(), stop);
}

Napi::Value Cpu::SetMappings(const Napi::CallbackInfo& info) {
  CpuEngine& cpu = Open("setMappings");
  MappingsArgs args = ParseWindows(info[0], info[1], info[2]);
  cpu.SetMappings(std::move(args.windows), std::move(args.xlat), std::move(args.known));
  return info.Env().Undefined();
}

Napi::Value Cpu::MapAlias(const Napi::CallbackInfo& info) {
  CpuEngine& cpu = Open("mapAlias");
  const char* c = "CPU_MAP";
  cpu.MapAlias(U64(info[0], c, "alias va"), U64(info[1], c, "alias pa"), U64(info[2], c, "alias size"));
  return info.Env().Undefined();
}

Napi::Value Cpu::UnmapAlias(const Napi::CallbackInfo& info) {
  CpuEngine& cpu = Open("unmapAlias");
  cpu.UnmapAlias(U64(info[0], "CPU_MAP", "alias va"), U64(info[1], "CPU_MAP", "alias size"));
  return info.Env().Undefined();
}

Napi::Value Cpu::Mappings(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CpuEngine& cpu = Open("mappings");
  Napi::Object out = Napi::Object::New(env);
  out.Set("windows", ToArray(env, cpu.windows(), [&](Napi::Object& o, const Window& w) {
            o.Set("va", Big(env, w.va));
            o.Set("pa", Big(env, w.pa));
            o.Set("size", Big(env, w.size));
            o.Set("device", Napi::Boolean::New(env, w.device));
          }));
  out.Set("translation", ToArray(env, cpu.translation(), [&](Napi::Object& o, const Xlat& x) {
            o.Set("va", Big(env, x.va));
            o.Set("pa", Big(env, x.pa));
            o.Set("size", Big(env, x.size));
            o.Set("exec", Napi::Boolean::New(env, x.exec));
          }));
  out.Set("protected", ToArray(env, cpu.protectedRanges(), [&](Napi::Object& o, const PRange& p) {
            o.Set("pa", Big(env, p.pa));
            o.Set("size", Big(env, p.size));
          }));
  return out;
}

// The number of Unicorn regions (windows and devices) the engine holds.
Napi::Value Cpu::RegionCount(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(Open("regionCount").windows().size()));
}

Napi::Value Cpu::Protect(const Napi::CallbackInfo& info) {
  CpuEngine& cpu = Open("protect");
  const char* c = "CPU_MAP";
  uint64_t pa = U64(info[0], c, "protect pa");
  uint64_t size = U64(info[1], c, "protect size");
  std::string mode = Str(info[2], c, "protect mode");
  if (mode != "ro" && mode != "rw") Raise(c, "machine: protection mode '" + mode + "' is not ro or rw");
  cpu.Protect(pa, size, mode == "ro");
  return info.Env().Undefined();
}

// One copy loop (machine/native.ts NativeCopyLoop); register names are resolved here.
Accel Cpu::ParseAccel(const Napi::Value& v) const {
  const char* c = "CPU_ACCEL";
  Options o(v, c, "accelerator");
  auto reg = [&](const Options& from, const char* key) { return engine_->LookupReg(from.Str(key)); };
  Accel a{};
  a.at = o.U64("at");
  a.exit = o.U64("exit");
  a.src = reg(o, "src");
  a.dst = reg(o, "dst");
  a.count = reg(o, "count");
  a.countUnit = o.U64("countUnit");
  a.chunk = o.U64("chunk");
  a.insnsPerIteration = o.U64("insnsPerIteration");
  a.exitInsns = o.OptU64("exitInsns").value_or(0);
  if (o.Has("loads")) {
    a.loads = ParseList(o.Get("loads"), c, "accelerator.loads", [&](const Napi::Value& x) {
      Options l(x, c, "load");
      return Accel::Load{reg(l, "reg"), l.U64("offset")};
    });
  }
  a.hasFlags = o.Get("flags").IsObject();
  if (a.hasFlags) {
    Options f(o.Get("flags"), c, "flags");
    a.flagsReg = reg(f, "reg");
    a.flagsSet = f.U64("set");
    a.flagsClear = f.U64("clear");
  }
  if (o.Has("requires")) {
    a.requires_ = ParseList(o.Get("requires"), c, "accelerator.requires", [&](const Napi::Value& x) {
      Options r(x, c, "requires");
      return Accel::Require{reg(r, "reg"), r.U64("mask"), r.U64("value")};
    });
  }
  return a;
}

Napi::Value Cpu::SetAccelerators(const Napi::CallbackInfo& info) {
  CpuEngine& cpu = Open("setAccelerators");
  cpu.SetAccelerators(ParseList(info[0], "CPU_ACCEL", "accelerators", [&](const Napi::Value& v) { return ParseAccel(v); }));
  return info.Env().Undefined();
}

Napi::Value Cpu::TakeConsole(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ConsoleOutput console = Open("takeConsole").TakeConsole();
  Napi::Object out = Napi::Object::New(env);
  out.Set("bytes", Napi::Buffer<uint8_t>::Copy(env, reinterpret_cast<const uint8_t*>(console.bytes.data()),
                                               console.bytes.size()));
  out.Set("dropped", Napi::Number::New(env, static_cast<double>(console.dropped)));
  return out;
}

}  // namespace kboot
