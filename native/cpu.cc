// The emulated machine's CPU: Unicorn 2.0.1 (Debian libunicorn-dev) over the native guest RAM.
//
// Contract (TS surface: machine/cpu.ts; measured Unicorn behaviour: shared/spec/unicorn-system.md):
//  - `new Cpu(arch, ram, opts)` opens Unicorn for amd64 (UC_MODE_64) or arm64 and maps every
//    RAM region at its guest-physical address with uc_mem_map_ptr (zero copy). The Cpu pins the
//    GuestRam (its host pages stay mapped until the Cpu is closed) and holds a reference to it.
//  - The Unicorn memory map is a list of *windows*: VA ranges backed by the host memory of a
//    PA range (uc_mem_map_ptr) or by a device (uc_mmio_map). `setMappings(windows, xlat)`
//    replaces the list (diffed: unchanged windows stay), `mapAlias`/`unmapAlias` edit it.
//    `xlat` is the live VA->PA translation of the guest's tables; it is used to report the PA
//    of a write-protect fault, to check instruction bytes and to prove a copy is identity-mapped.
//    2.0.1 checks every VA against this map and, on x86-64, accesses PA == VA after its page
//    walk, which is why machine/cpu.ts keeps the windows equal to the shadow of the tables.
//  - `protect(pa, size, 'ro'|'rw')` applies uc_mem_protect to every window page backed by that
//    PA range, now and for windows added later, so a guest write through any alias faults.
//  - `run(opts)` is the only way to execute. It always stops, bounded by `maxInstructions`
//    (a UC_HOOK_CODE counter: exact, and it also makes every fault PC exact) and `timeoutMs`
//    (measured here; Unicorn's own timeout is not used because it reports success). It returns
//    a plain object naming why it stopped: reached | halted | breakpoint | exception | limit |
//    timeout | unmapped | write-protect | invalid-instruction | translation-changed (a watched
//    translation register - CR0/CR3/CR4, TTBR0/TTBR1/TCR/SCTLR - changed; nothing of the new
//    block ran).
//  - Accelerated copy: a loop described by registers (`setAccelerators`) is performed with
//    memmove when the PC reaches its head, leaving RAM, registers, flags and the instruction
//    count exactly as the emulated loop would; any doubt falls back to exact emulation.
//  - Devices: a 16550 at an I/O port (amd64, OUT/IN hooks) or a PL011 at an MMIO base (arm64,
//    uc_mmio_map); transmitted bytes are collected and handed out by `takeConsole()`.
// Errors carry a `kbootCode` (CPU_SETUP, CPU_REGISTER, CPU_MAP, CPU_RUN, CPU_ACCEL, CPU_CLOSED,
// GUEST_CLOSED) that machine/native.ts turns into MachineError.
// Sources for the hardware facts: Intel SDM vol. 3 (CR0/CR4/EFER, #PF, port I/O), 16550D data
// sheet (LSR/LCR), ARM PL011 TRM DDI 0183 (DR/FR/ID registers), ARM ARM (CurrentEL, WFI, NZCV).
#include "cpu.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

namespace kboot {

namespace {

constexpr uint64_t kPage = 4096;
// Largest Unicorn region kboot maps (machine/cpu.ts WINDOW_CHUNK).
constexpr uint64_t kWindowChunk = 0x10000000;
// Most distinct code pages tracked for targeted invalidation.
constexpr size_t kMaxCodePages = 65536;
// Console bytes kept between takeConsole() calls; the rest is counted as dropped.
constexpr size_t kConsoleCap = 16u << 20;
// How often (in instructions) the run loop reads the clock.
constexpr uint64_t kClockEvery = 1024;

// 16550 register offsets and values (16550D data sheet).
constexpr uint32_t kUartThr = 0, kUartLcr = 3, kUartLsr = 5;
constexpr uint32_t kUartLsrIdle = 0x60;  // THRE | TEMT: transmitter empty
constexpr uint8_t kUartLcrDlab = 0x80;
// PL011 register offsets and values (ARM PL011 TRM DDI 0183).
constexpr uint64_t kPl011Size = 0x1000, kPl011Dr = 0x000, kPl011Fr = 0x018;
constexpr uint64_t kPl011FrIdle = 0x90;  // TXFE | RXFE
constexpr uint8_t kPl011Id[8] = {0x11, 0x10, 0x14, 0x00, 0x0d, 0xf0, 0x05, 0xb1};  // 0xFE0..0xFFC
// AArch64: SCR_EL3 = NS | RW and HCR_EL2 = RW, so EL1 is AArch64 Non-secure (spec Q7).
constexpr uint64_t kScrEl3 = 0x401, kHcrEl2 = 1ull << 31;
constexpr uint32_t kArm64Wfi = 0xd503207f;
constexpr uint8_t kX86Hlt = 0xf4;
constexpr uint32_t kMsrEfer = 0xC0000080;
constexpr int kX86PageFault = 14;

std::string Hex(uint64_t v) {
  char buf[24];
  snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

[[noreturn]] void Fail(Napi::Env env, const char* code, const std::string& msg) { GuestRam::Fail(env, code, msg); }

uint64_t U64(Napi::Env env, const Napi::Value& v, const std::string& what, const char* code) {
  if (v.IsBigInt()) {
    bool lossless = false;
    uint64_t r = v.As<Napi::BigInt>().Uint64Value(&lossless);
    if (!lossless) Fail(env, code, "machine: " + what + " is not a u64");
    return r;
  }
  if (v.IsNumber()) {
    double d = v.As<Napi::Number>().DoubleValue();
    if (d >= 0 && d <= 9007199254740991.0 && d == static_cast<double>(static_cast<uint64_t>(d))) {
      return static_cast<uint64_t>(d);
    }
  }
  Fail(env, code, "machine: " + what + " must be a non-negative integer");
}

Napi::Object Obj(Napi::Env env, const Napi::Value& v, const std::string& what, const char* code) {
  if (!v.IsObject()) Fail(env, code, "machine: " + what + " must be an object");
  return v.As<Napi::Object>();
}

std::string Str(Napi::Env env, const Napi::Value& v, const std::string& what, const char* code) {
  if (!v.IsString()) Fail(env, code, "machine: " + what + " must be a string");
  return v.As<Napi::String>().Utf8Value();
}

Napi::BigInt Big(Napi::Env env, uint64_t v) { return Napi::BigInt::New(env, v); }

// Static hook trampolines (user_data is the Cpu).
void HookCode(uc_engine*, uint64_t a, uint32_t s, void* u) { static_cast<Cpu*>(u)->OnCode(a, s); }
void HookBlock(uc_engine*, uint64_t a, uint32_t n, void* u) { static_cast<Cpu*>(u)->OnBlock(a, n); }
void HookIntr(uc_engine*, uint32_t n, void* u) { static_cast<Cpu*>(u)->OnIntr(n); }
bool HookUnmapped(uc_engine*, uc_mem_type t, uint64_t a, int s, int64_t v, void* u) {
  return static_cast<Cpu*>(u)->OnUnmapped(t, a, s, v);
}
bool HookProt(uc_engine*, uc_mem_type t, uint64_t a, int s, int64_t v, void* u) {
  return static_cast<Cpu*>(u)->OnProt(t, a, s, v);
}
void HookOut(uc_engine*, uint32_t port, int size, uint32_t value, void* u) {
  static_cast<Cpu*>(u)->OnOut(port, size, value);
}
uint32_t HookIn(uc_engine*, uint32_t port, int size, void* u) { return static_cast<Cpu*>(u)->OnIn(port, size); }
uint64_t Pl011Read(uc_engine*, uint64_t off, unsigned size, void* u) {
  return static_cast<Cpu*>(u)->OnPl011Read(off, size);
}
void Pl011Write(uc_engine*, uint64_t off, unsigned size, uint64_t value, void* u) {
  static_cast<Cpu*>(u)->OnPl011Write(off, size, value);
}

using RegRef = Cpu::RegRef;
using K = RegRef::Kind;
struct RegName {
  const char* name;
  RegRef ref;
};
constexpr RegRef P(int id) { return RegRef{K::kPlain, id, 0, 0, 0, 0, 0, 0, true}; }
constexpr RegRef Cp(uint32_t op0, uint32_t op1, uint32_t crn, uint32_t crm, uint32_t op2) {
  return RegRef{K::kCp, 0, 0, crn, crm, op0, op1, op2, true};
}

// x86-64 register names (Unicorn x86.h ids; EFER through the MSR interface, Intel SDM 2.2.1).
const RegName kX86Regs[] = {
    {"rax", P(UC_X86_REG_RAX)},       {"rbx", P(UC_X86_REG_RBX)},       {"rcx", P(UC_X86_REG_RCX)},
    {"rdx", P(UC_X86_REG_RDX)},       {"rsi", P(UC_X86_REG_RSI)},       {"rdi", P(UC_X86_REG_RDI)},
    {"rbp", P(UC_X86_REG_RBP)},       {"rsp", P(UC_X86_REG_RSP)},       {"r8", P(UC_X86_REG_R8)},
    {"r9", P(UC_X86_REG_R9)},         {"r10", P(UC_X86_REG_R10)},       {"r11", P(UC_X86_REG_R11)},
    {"r12", P(UC_X86_REG_R12)},       {"r13", P(UC_X86_REG_R13)},       {"r14", P(UC_X86_REG_R14)},
    {"r15", P(UC_X86_REG_R15)},       {"rip", P(UC_X86_REG_RIP)},       {"rflags", P(UC_X86_REG_RFLAGS)},
    {"cr0", P(UC_X86_REG_CR0)},       {"cr2", P(UC_X86_REG_CR2)},       {"cr3", P(UC_X86_REG_CR3)},
    {"cr4", P(UC_X86_REG_CR4)},       {"cs", P(UC_X86_REG_CS)},         {"ds", P(UC_X86_REG_DS)},
    {"es", P(UC_X86_REG_ES)},         {"fs", P(UC_X86_REG_FS)},         {"gs", P(UC_X86_REG_GS)},
    {"ss", P(UC_X86_REG_SS)},         {"fs_base", P(UC_X86_REG_FS_BASE)}, {"gs_base", P(UC_X86_REG_GS_BASE)},
    {"efer", RegRef{K::kMsr, 0, kMsrEfer, 0, 0, 0, 0, 0, true}},
    {"gdtr_base", RegRef{K::kMmrBase, UC_X86_REG_GDTR, 0, 0, 0, 0, 0, 0, true}},
    {"gdtr_limit", RegRef{K::kMmrLimit, UC_X86_REG_GDTR, 0, 0, 0, 0, 0, 0, true}},
    {"idtr_base", RegRef{K::kMmrBase, UC_X86_REG_IDTR, 0, 0, 0, 0, 0, 0, true}},
    {"idtr_limit", RegRef{K::kMmrLimit, UC_X86_REG_IDTR, 0, 0, 0, 0, 0, 0, true}},
};

// AArch64 system registers without a named Unicorn id use UC_ARM64_REG_CP_REG with their
// (op0, op1, CRn, CRm, op2) encodings from the ARM ARM (spec Q7).
const RegName kArm64Sys[] = {
    {"sp", P(UC_ARM64_REG_SP)},
    {"pc", P(UC_ARM64_REG_PC)},
    {"pstate", P(UC_ARM64_REG_PSTATE)},
    {"nzcv", P(UC_ARM64_REG_NZCV)},
    {"sctlr_el1", Cp(3, 0, 1, 0, 0)},
    {"tcr_el1", Cp(3, 0, 2, 0, 2)},
    {"mair_el1", Cp(3, 0, 10, 2, 0)},
    {"ttbr0_el1", P(UC_ARM64_REG_TTBR0_EL1)},
    {"ttbr1_el1", P(UC_ARM64_REG_TTBR1_EL1)},
    {"vbar_el1", P(UC_ARM64_REG_VBAR_EL1)},
    {"elr_el1", P(UC_ARM64_REG_ELR_EL1)},
    {"esr_el1", P(UC_ARM64_REG_ESR_EL1)},
    {"far_el1", P(UC_ARM64_REG_FAR_EL1)},
    {"sp_el0", P(UC_ARM64_REG_SP_EL0)},
    {"sp_el1", P(UC_ARM64_REG_SP_EL1)},
    {"tpidr_el1", P(UC_ARM64_REG_TPIDR_EL1)},
    {"cpacr_el1", Cp(3, 0, 1, 0, 2)},
    {"scr_el3", Cp(3, 6, 1, 1, 0)},
    {"hcr_el2", Cp(3, 4, 1, 1, 0)},
    {"currentel", RegRef{K::kCurrentEl, 0, 0, 0, 0, 0, 0, 0, false}},
};

const char* AccessName(uc_mem_type t) {
  switch (t) {
    case UC_MEM_WRITE:
    case UC_MEM_WRITE_UNMAPPED:
    case UC_MEM_WRITE_PROT:
      return "write";
    case UC_MEM_FETCH:
    case UC_MEM_FETCH_UNMAPPED:
    case UC_MEM_FETCH_PROT:
      return "fetch";
    default:
      return "read";
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Construction and teardown

struct CpuClassData {
  Napi::FunctionReference ramClass;
};

Napi::Function Cpu::Init(Napi::Env env, Napi::Function ramClass) {
  auto* data = new CpuClassData{Napi::Persistent(ramClass)};
  env.AddCleanupHook([data]() { delete data; });
  Napi::Function ctor = DefineClass(env, "NativeCpu",
                                    {
                                        InstanceMethod<&Cpu::GetReg>("getReg"),
                                        InstanceMethod<&Cpu::SetReg>("setReg"),
                                        InstanceMethod<&Cpu::SetupLongMode>("setupLongMode"),
                                        InstanceMethod<&Cpu::SetupEl1>("setupEl1"),
                                        InstanceMethod<&Cpu::Run>("run"),
                                        InstanceMethod<&Cpu::SetMappings>("setMappings"),
                                        InstanceMethod<&Cpu::MapAlias>("mapAlias"),
                                        InstanceMethod<&Cpu::UnmapAlias>("unmapAlias"),
                                        InstanceMethod<&Cpu::Mappings>("mappings"),
                                        InstanceMethod<&Cpu::Protect>("protect"),
                                        InstanceMethod<&Cpu::SetAccelerators>("setAccelerators"),
                                        InstanceMethod<&Cpu::TakeConsole>("takeConsole"),
                                        InstanceMethod<&Cpu::Close>("close"),
                                    },
                                    data);
  return ctor;
}

Cpu::Cpu(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Cpu>(info) {
  Napi::Env env = info.Env();
  const char* code = "CPU_SETUP";
  std::string arch = Str(env, info[0], "cpu arch", code);
  if (arch == "amd64") {
    arch_ = Arch::kAmd64;
  } else if (arch == "arm64") {
    arch_ = Arch::kArm64;
  } else {
    Fail(env, code, "machine: unknown CPU arch '" + arch + "' (expected amd64 or arm64)");
  }
  auto* data = static_cast<CpuClassData*>(info.Data());
  if (info.Length() < 2 || !info[1].IsObject() || !info[1].As<Napi::Object>().InstanceOf(data->ramClass.Value())) {
    Fail(env, code, "machine: the CPU needs a native GuestRam object");
  }
  Napi::Object ramObj = info[1].As<Napi::Object>();
  GuestRam* ram = Napi::ObjectWrap<GuestRam>::Unwrap(ramObj);
  if (ram == nullptr || ram->closed()) Fail(env, "GUEST_CLOSED", "machine: the CPU's guest RAM is closed");

  Napi::Object opts = info.Length() > 2 && info[2].IsObject() ? info[2].As<Napi::Object>() : Napi::Object::New(env);
  Napi::Value uart = opts.Get("uart");
  if (!uart.IsUndefined()) {
    Napi::Object u = Obj(env, uart, "uart", code);
    std::string kind = Str(env, u.Get("kind"), "uart.kind", code);
    if (kind == "ns16550" && arch_ == Arch::kAmd64) {
      uint64_t port = U64(env, u.Get("port"), "uart.port", code);
      if (port > 0xfff8) Fail(env, code, "machine: 16550 port " + Hex(port) + " is outside the I/O space");
      uartPort_ = static_cast<uint32_t>(port);
      haveUartPort_ = true;
    } else if (kind == "pl011" && arch_ == Arch::kArm64) {
      pl011Base_ = U64(env, u.Get("base"), "uart.base", code);
      if (pl011Base_ % kPage != 0) Fail(env, code, "machine: PL011 base " + Hex(pl011Base_) + " is not 4 KiB aligned");
      havePl011_ = true;
    } else {
      Fail(env, code, "machine: UART kind '" + kind + "' does not fit arch " + arch);
    }
  }

  uc_err err = uc_open(arch_ == Arch::kAmd64 ? UC_ARCH_X86 : UC_ARCH_ARM64,
                       arch_ == Arch::kAmd64 ? UC_MODE_64 : UC_MODE_ARM, &uc_);
  if (err != UC_ERR_OK) {
    uc_ = nullptr;
    Fail(env, code, std::string("machine: uc_open failed (") + uc_strerror(err) + ")");
  }
  ram_ = ram;
  ram_->Pin();
  ramRef_ = Napi::Persistent(ramObj);
  try {
    for (const GuestRam::Region& r : ram_->regions()) {
      // In pieces of at most kWindowChunk at chunk-aligned VAs, exactly as machine/cpu.ts
      // chunkWindows() plans them, so the first shadow sync changes nothing: unmapping or
      // protecting inside one huge Unicorn region costs seconds (per-page TLB work).
      for (uint64_t va = r.base; va < r.base + r.size;) {
        uint64_t next = (va / kWindowChunk + 1) * kWindowChunk;
        uint64_t stop = std::min(next, r.base + r.size);
        AddWindow(env, Window{va, va, stop - va, false});
        va = stop;
      }
      xlat_.push_back(Xlat{r.base, r.base, r.size, true});
    }
    if (havePl011_) {
      if (HostFor(pl011Base_, 1) != nullptr) Fail(env, code, "machine: PL011 base " + Hex(pl011Base_) + " lies in RAM");
      AddWindow(env, Window{pl011Base_, pl011Base_, kPl011Size, true});
    }
    // `until` is checked by the code hook, not by Unicorn: with an `until` the page tables do
    // not map, 2.0.1's uc_emu_start invalidates code at that address through a page walk that
    // faults, and the engine then reports later errors as UC_ERR_OK (measured: a second ud2
    // returned OK). An empty exit list makes uc_emu_start ignore `until`.
    if (uc_ctl_exits_enable(uc_) != UC_ERR_OK) Fail(env, code, "machine: cannot enable Unicorn exits");
    uc_hook h;
    auto add = [&](int type, void* cb, uint64_t begin, uint64_t end) {
      uc_err e = uc_hook_add(uc_, &h, type, cb, this, begin, end);
      if (e != UC_ERR_OK) Fail(env, code, std::string("machine: uc_hook_add failed (") + uc_strerror(e) + ")");
    };
    add(UC_HOOK_CODE, reinterpret_cast<void*>(&HookCode), 1, 0);
    add(UC_HOOK_BLOCK, reinterpret_cast<void*>(&HookBlock), 1, 0);
    add(UC_HOOK_INTR, reinterpret_cast<void*>(&HookIntr), 1, 0);
    add(UC_HOOK_MEM_UNMAPPED, reinterpret_cast<void*>(&HookUnmapped), 1, 0);
    add(UC_HOOK_MEM_PROT, reinterpret_cast<void*>(&HookProt), 1, 0);
    if (arch_ == Arch::kAmd64) {
      uc_err e1 = uc_hook_add(uc_, &h, UC_HOOK_INSN, reinterpret_cast<void*>(&HookOut), this, 1, 0, UC_X86_INS_OUT);
      uc_err e2 = uc_hook_add(uc_, &h, UC_HOOK_INSN, reinterpret_cast<void*>(&HookIn), this, 1, 0, UC_X86_INS_IN);
      if (e1 != UC_ERR_OK || e2 != UC_ERR_OK) Fail(env, code, "machine: cannot hook x86 IN/OUT");
      watch_ = {P(UC_X86_REG_CR0), P(UC_X86_REG_CR3), P(UC_X86_REG_CR4)};
    } else {
      ApplyArm64SecurityFix(env);
      // TTBR0, TTBR1, TCR_EL1, SCTLR_EL1 (the MMU switched on or off changes the translation).
      watch_ = {P(UC_ARM64_REG_TTBR0_EL1), P(UC_ARM64_REG_TTBR1_EL1), Cp(3, 0, 2, 0, 2), Cp(3, 0, 1, 0, 0)};
    }
  } catch (...) {
    Release();
    throw;
  }
}

Cpu::~Cpu() { Release(); }

void Cpu::Release() {
  if (uc_ != nullptr) {
    uc_close(uc_);
    uc_ = nullptr;
  }
  if (ram_ != nullptr) {
    ram_->Unpin();
    ram_ = nullptr;
  }
  if (!ramRef_.IsEmpty()) ramRef_.Reset();
  closed_ = true;
}

void Cpu::CheckOpen(Napi::Env env, const char* op) const {
  if (closed_ || uc_ == nullptr) Fail(env, "CPU_CLOSED", std::string("machine: ") + op + " on a closed CPU");
  if (ram_->closed()) Fail(env, "GUEST_CLOSED", std::string("machine: ") + op + ": the CPU's guest RAM is closed");
}

Napi::Value Cpu::Close(const Napi::CallbackInfo& info) {
  Release();
  return info.Env().Undefined();
}

void Cpu::ApplyArm64SecurityFix(Napi::Env env) {
  uc_arm64_cp_reg scr{1, 1, 3, 6, 0, kScrEl3};
  uc_arm64_cp_reg hcr{1, 1, 3, 4, 0, kHcrEl2};
  if (uc_reg_write(uc_, UC_ARM64_REG_CP_REG, &scr) != UC_ERR_OK ||
      uc_reg_write(uc_, UC_ARM64_REG_CP_REG, &hcr) != UC_ERR_OK) {
    Fail(env, "CPU_SETUP", "machine: cannot write SCR_EL3/HCR_EL2");
  }
}

// ---------------------------------------------------------------------------------------------
// Registers

Cpu::RegRef Cpu::LookupReg(Napi::Env env, const std::string& name) const {
  if (arch_ == Arch::kAmd64) {
    for (const RegName& r : kX86Regs)
      if (name == r.name) return r.ref;
  } else {
    if (name.size() >= 2 && name[0] == 'x') {
      char* end = nullptr;
      long n = strtol(name.c_str() + 1, &end, 10);
      if (end != nullptr && *end == '\0' && n >= 0 && n <= 30 && std::to_string(n) == name.substr(1)) {
        if (n <= 28) return P(UC_ARM64_REG_X0 + static_cast<int>(n));
        return P(n == 29 ? UC_ARM64_REG_X29 : UC_ARM64_REG_X30);
      }
    }
    for (const RegName& r : kArm64Sys)
      if (name == r.name) return r.ref;
  }
  Fail(env, "CPU_REGISTER", "machine: unknown register '" + name + "'");
}

uint64_t Cpu::ReadReg(const RegRef& r) const {
  uint64_t v = 0;
  switch (r.kind) {
    case K::kPlain:
      uc_reg_read(uc_, r.id, &v);
      return v;
    case K::kMsr: {
      uc_x86_msr m{r.msr, 0};
      uc_reg_read(uc_, UC_X86_REG_MSR, &m);
      return m.value;
    }
    case K::kCp: {
      uc_arm64_cp_reg c{r.crn, r.crm, r.op0, r.op1, r.op2, 0};
      uc_reg_read(uc_, UC_ARM64_REG_CP_REG, &c);
      return c.val;
    }
    case K::kCurrentEl: {
      uint64_t ps = 0;
      uc_reg_read(uc_, UC_ARM64_REG_PSTATE, &ps);
      return ps & 0xc;  // PSTATE.EL in bits 3:2, as CurrentEL reports it
    }
    case K::kMmrBase:
    case K::kMmrLimit: {
      uc_x86_mmr m{0, 0, 0, 0};
      uc_reg_read(uc_, r.id, &m);
      return r.kind == K::kMmrBase ? m.base : m.limit;
    }
  }
  return v;
}

bool Cpu::WriteReg(const RegRef& r, uint64_t v) {
  switch (r.kind) {
    case K::kPlain:
      return uc_reg_write(uc_, r.id, &v) == UC_ERR_OK;
    case K::kMsr: {
      uc_x86_msr m{r.msr, v};
      return uc_reg_write(uc_, UC_X86_REG_MSR, &m) == UC_ERR_OK;
    }
    case K::kCp: {
      uc_arm64_cp_reg c{r.crn, r.crm, r.op0, r.op1, r.op2, v};
      return uc_reg_write(uc_, UC_ARM64_REG_CP_REG, &c) == UC_ERR_OK;
    }
    case K::kCurrentEl:
      return false;
    case K::kMmrBase:
    case K::kMmrLimit: {
      uc_x86_mmr m{0, 0, 0, 0};
      uc_reg_read(uc_, r.id, &m);
      if (r.kind == K::kMmrBase) {
        m.base = v;
      } else {
        if (v > 0xffffffffull) return false;
        m.limit = static_cast<uint32_t>(v);
      }
      return uc_reg_write(uc_, r.id, &m) == UC_ERR_OK;
    }
  }
  return false;
}

uint64_t Cpu::Pc() const {
  return ReadReg(P(arch_ == Arch::kAmd64 ? static_cast<int>(UC_X86_REG_RIP) : static_cast<int>(UC_ARM64_REG_PC)));
}
void Cpu::SetPc(uint64_t pc) {
  WriteReg(P(arch_ == Arch::kAmd64 ? static_cast<int>(UC_X86_REG_RIP) : static_cast<int>(UC_ARM64_REG_PC)), pc);
}

Napi::Value Cpu::GetReg(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env, "getReg");
  RegRef r = LookupReg(env, Str(env, info[0], "register name", "CPU_REGISTER"));
  return Big(env, ReadReg(r));
}

Napi::Value Cpu::SetReg(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env, "setReg");
  std::string name = Str(env, info[0], "register name", "CPU_REGISTER");
  RegRef r = LookupReg(env, name);
  uint64_t v = U64(env, info[1], "value of " + name, "CPU_REGISTER");
  if (!r.writable || !WriteReg(r, v)) {
    Fail(env, "CPU_REGISTER", "machine: register '" + name + "' refused value " + Hex(v));
  }
  return env.Undefined();
}

// Long mode with 4-level paging, set from the host in the order the spec measured (Q1):
// selectors first (paging still off, so the GDT at `gdtBase` is read at its PA), then CR3,
// CR4, EFER (through the MSR interface), CR0. The caller has written the GDT.
Napi::Value Cpu::SetupLongMode(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env, "setupLongMode");
  if (arch_ != Arch::kAmd64) Fail(env, "CPU_SETUP", "machine: setupLongMode is for amd64");
  Napi::Object o = Obj(env, info[0], "long-mode setup", "CPU_SETUP");
  uint64_t gdtBase = U64(env, o.Get("gdtBase"), "gdtBase", "CPU_SETUP");
  uint64_t gdtLimit = U64(env, o.Get("gdtLimit"), "gdtLimit", "CPU_SETUP");
  uint64_t cr3 = U64(env, o.Get("cr3"), "cr3", "CPU_SETUP");
  uint64_t cr0 = U64(env, o.Get("cr0"), "cr0", "CPU_SETUP");
  uint64_t cr4 = U64(env, o.Get("cr4"), "cr4", "CPU_SETUP");
  uint64_t efer = U64(env, o.Get("efer"), "efer", "CPU_SETUP");
  uint64_t cs = U64(env, o.Get("cs"), "cs", "CPU_SETUP");
  uint64_t ds = U64(env, o.Get("ds"), "ds", "CPU_SETUP");
  if (gdtLimit > 0xffff || cs > 0xffff || ds > 0xffff) Fail(env, "CPU_SETUP", "machine: GDT limit or selector too large");
  uc_x86_mmr gdtr{0, gdtBase, static_cast<uint32_t>(gdtLimit), 0};
  bool ok = uc_reg_write(uc_, UC_X86_REG_GDTR, &gdtr) == UC_ERR_OK;
  ok = ok && WriteReg(P(UC_X86_REG_CS), cs) && WriteReg(P(UC_X86_REG_SS), ds) && WriteReg(P(UC_X86_REG_DS), ds) &&
       WriteReg(P(UC_X86_REG_ES), ds);
  ok = ok && WriteReg(P(UC_X86_REG_CR3), cr3) && WriteReg(P(UC_X86_REG_CR4), cr4);
  ok = ok && WriteReg(RegRef{K::kMsr, 0, kMsrEfer, 0, 0, 0, 0, 0, true}, efer) && WriteReg(P(UC_X86_REG_CR0), cr0);
  if (!ok) Fail(env, "CPU_SETUP", "machine: Unicorn refused the long-mode register set-up (cr3=" + Hex(cr3) + ")");
  return env.Undefined();
}

// EL1 with the MMU: SCR_EL3/HCR_EL2 fix first (spec Q7), then MAIR, TCR, TTBR0/1, SCTLR.
Napi::Value Cpu::SetupEl1(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env, "setupEl1");
  if (arch_ != Arch::kArm64) Fail(env, "CPU_SETUP", "machine: setupEl1 is for arm64");
  Napi::Object o = Obj(env, info[0], "EL1 setup", "CPU_SETUP");
  ApplyArm64SecurityFix(env);
  const char* order[] = {"mair_el1", "tcr_el1", "ttbr0_el1", "ttbr1_el1", "vbar_el1", "sctlr_el1"};
  const char* keys[] = {"mair", "tcr", "ttbr0", "ttbr1", "vbar", "sctlr"};
  for (size_t i = 0; i < 6; i++) {
    Napi::Value v = o.Get(keys[i]);
    if (v.IsUndefined()) continue;
    uint64_t val = U64(env, v, keys[i], "CPU_SETUP");
    if (!WriteReg(LookupReg(env, order[i]), val)) {
      Fail(env, "CPU_SETUP", std::string("machine: Unicorn refused ") + order[i] + " = " + Hex(val));
    }
  }
  return env.Undefined();
}

// ---------------------------------------------------------------------------------------------
// Memory map: windows, translation, protection

uint8_t* Cpu::HostFor(uint64_t pa, uint64_t size) const {
  if (ram_ == nullptr || size == 0 || pa + size < pa) return nullptr;
  for (const GuestRam::Region& r : ram_->regions()) {
    if (pa >= r.base && pa + size <= r.base + r.size) return r.host + (pa - r.base);
  }
  return nullptr;
}

bool Cpu::InDevice(uint64_t pa, uint64_t size) const {
  return havePl011_ && pa >= pl011Base_ && pa + size <= pl011Base_ + kPl011Size && pa + size > pa;
}

void Cpu::AddWindow(Napi::Env env, const Window& w) {
  // Inclusive ends: a window may end exactly at 2^64.
  uint64_t last = w.va + w.size - 1;
  if (w.size == 0 || w.va % kPage != 0 || w.pa % kPage != 0 || w.size % kPage != 0 || last < w.va) {
    Fail(env, "CPU_MAP", "machine: window " + Hex(w.va) + " -> " + Hex(w.pa) + " + " + Hex(w.size) +
                             " is empty, not 4 KiB aligned or past 2^64");
  }
  for (const Window& o : windows_) {
    uint64_t olast = o.va + o.size - 1;
    if (w.va <= olast && o.va <= last) {
      Fail(env, "CPU_MAP", "machine: window at " + Hex(w.va) + " + " + Hex(w.size) + " overlaps the window at " +
                               Hex(o.va) + " + " + Hex(o.size));
    }
  }
  uc_err err;
  if (w.device) {
    if (!InDevice(w.pa, w.size)) Fail(env, "CPU_MAP", "machine: device window PA " + Hex(w.pa) + " is not a device");
    // Every device window shares the PL011 callbacks; offsets are rebased on the device page.
    if (w.pa != pl011Base_ || w.size != kPl011Size) {
      Fail(env, "CPU_MAP", "machine: a device window must cover the whole PL011 page at " + Hex(pl011Base_));
    }
    err = uc_mmio_map(uc_, w.va, w.size, &Pl011Read, this, &Pl011Write, this);
  } else {
    uint8_t* host = HostFor(w.pa, w.size);
    if (host == nullptr) {
      Fail(env, "CPU_MAP", "machine: window PA " + Hex(w.pa) + " + " + Hex(w.size) + " is not inside one RAM region");
    }
    err = uc_mem_map_ptr(uc_, w.va, w.size, UC_PROT_ALL, host);
  }
  if (err != UC_ERR_OK) {
    Fail(env, "CPU_MAP", "machine: Unicorn refused the window at " + Hex(w.va) + " + " + Hex(w.size) + " (" +
                             uc_strerror(err) + ")");
  }
  auto it = std::lower_bound(windows_.begin(), windows_.end(), w.va,
                             [](const Window& a, uint64_t va) { return a.va < va; });
  windows_.insert(it, w);
  if (!w.device) {
    for (const PRange& p : protected_) {
      uint64_t lo = std::max(p.pa, w.pa), hi = std::min(p.pa + p.size, w.pa + w.size);
      if (lo < hi) ProtectWindowPart(env, w, lo, hi - lo, true);
    }
  }
}

// Unmaps [va, va+size) from every window it touches; partial windows keep their remainders.
void Cpu::RemoveWindowRange(Napi::Env env, uint64_t va, uint64_t size) {
  if (size == 0 || va % kPage != 0 || size % kPage != 0 || va + size - 1 < va) {
    Fail(env, "CPU_MAP", "machine: unmap " + Hex(va) + " + " + Hex(size) + " is empty, not 4 KiB aligned or past 2^64");
  }
  uint64_t end = va + size;
  std::vector<Window> keep;
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
      Fail(env, "CPU_MAP", "machine: a device window at " + Hex(w.va) + " can only be unmapped whole");
    }
    uc_err err = uc_mem_unmap(uc_, lo, hi - lo + 1);
    if (err != UC_ERR_OK) {
      Fail(env, "CPU_MAP", "machine: Unicorn refused to unmap " + Hex(lo) + " + " + Hex(hi - lo + 1) + " (" +
                               uc_strerror(err) + ")");
    }
    if (lo > w.va) next.push_back(Window{w.va, w.pa, lo - w.va, w.device});
    if (hi < wend - 1) next.push_back(Window{hi + 1, w.pa + (hi + 1 - w.va), wend - 1 - hi, w.device});
  }
  std::sort(next.begin(), next.end(), [](const Window& a, const Window& b) { return a.va < b.va; });
  windows_ = std::move(next);
}

void Cpu::ProtectWindowPart(Napi::Env env, const Window& w, uint64_t pa, uint64_t size, bool ro) {
  uint64_t va = w.va + (pa - w.pa);
  uc_err err = uc_mem_protect(uc_, va, size, ro ? (UC_PROT_READ | UC_PROT_EXEC) : UC_PROT_ALL);
  if (err != UC_ERR_OK) {
    Fail(env, "CPU_MAP", "machine: Unicorn refused to protect " + Hex(va) + " + " + Hex(size) + " (" +
                             uc_strerror(err) + ")");
  }
}

bool Cpu::IsProtected(uint64_t pa, uint64_t size) const {
  for (const PRange& p : protected_) {
    if (pa < p.pa + p.size && p.pa < pa + size) return true;
  }
  return false;
}

bool Cpu::Translate(uint64_t va, uint64_t* pa) const {
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
bool Cpu::IdentityRam(uint64_t va, uint64_t size) const {
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

bool Cpu::HaltInsnAt(uint64_t pc, uint32_t size) const {
  uint64_t pa = 0;
  if (!Translate(pc, &pa)) return false;
  if (arch_ == Arch::kAmd64) {
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
void Cpu::InvalidateCode(uint64_t va, uint64_t size) {
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
  if (codePagesOverflow_) {
    fetchable(va, last, [this](uint64_t a, uint64_t b) { uc_ctl_remove_cache(uc_, a, b == UINT64_MAX ? b : b + 1); });
    return;
  }
  // Pages where code has run are the only places a translation can be cached.
  for (uint64_t page : codePages_) {
    uint64_t a = page * kPage;
    uint64_t b = a + kPage - 1;
    if (b < va || a > last) continue;
    fetchable(std::max(a, va), std::min(b, last),
              [this](uint64_t x, uint64_t y) { uc_ctl_remove_cache(uc_, x, y == UINT64_MAX ? y : y + 1); });
  }
}

Napi::Value Cpu::SetMappings(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env, "setMappings");
  if (!info[0].IsArray() || !info[1].IsArray()) Fail(env, "CPU_MAP", "machine: setMappings needs two arrays");
  Napi::Array wa = info[0].As<Napi::Array>();
  Napi::Array xa = info[1].As<Napi::Array>();
  std::vector<Window> want;
  for (uint32_t i = 0; i < wa.Length(); i++) {
    Napi::Object o = Obj(env, wa.Get(i), "window", "CPU_MAP");
    Window w{U64(env, o.Get("va"), "window.va", "CPU_MAP"), U64(env, o.Get("pa"), "window.pa", "CPU_MAP"),
             U64(env, o.Get("size"), "window.size", "CPU_MAP"), false};
    w.device = InDevice(w.pa, w.size);
    want.push_back(w);
  }
  std::vector<Xlat> xl;
  for (uint32_t i = 0; i < xa.Length(); i++) {
    Napi::Object o = Obj(env, xa.Get(i), "translation run", "CPU_MAP");
    Xlat x{U64(env, o.Get("va"), "xlat.va", "CPU_MAP"), U64(env, o.Get("pa"), "xlat.pa", "CPU_MAP"),
           U64(env, o.Get("size"), "xlat.size", "CPU_MAP"), o.Get("exec").ToBoolean()};
    if (x.size == 0) Fail(env, "CPU_MAP", "machine: empty translation run at " + Hex(x.va));
    xl.push_back(x);
  }
  std::sort(xl.begin(), xl.end(), [](const Xlat& a, const Xlat& b) { return a.va < b.va; });
  for (size_t i = 1; i < xl.size(); i++) {
    if (xl[i - 1].va + xl[i - 1].size > xl[i].va && xl[i - 1].va + xl[i - 1].size != 0) {
      Fail(env, "CPU_MAP", "machine: translation runs overlap at " + Hex(xl[i].va));
    }
  }
  auto same = [](const Window& a, const Window& b) {
    return a.va == b.va && a.pa == b.pa && a.size == b.size && a.device == b.device;
  };
  auto permanent = [this](const Window& w) { return w.device && havePl011_ && w.va == pl011Base_; };
  // Remove windows that are not wanted (the PL011 at its base stays), then add the new ones.
  xlat_ = std::move(xl);
  std::vector<Window> current = windows_;
  for (const Window& w : current) {
    if (permanent(w)) continue;
    bool keep = std::any_of(want.begin(), want.end(), [&](const Window& n) { return same(n, w); });
    if (!keep) RemoveWindowRange(env, w.va, w.size);
  }
  std::vector<Window> added;
  for (const Window& n : want) {
    bool have = std::any_of(windows_.begin(), windows_.end(), [&](const Window& w) { return same(n, w); });
    if (!have) {
      AddWindow(env, n);
      added.push_back(n);
    }
  }
  // A new RAM block may reuse the ram_addr range of one just removed, and QEMU keys translated
  // code by (VA, ram_addr): without this, a VA remapped by a CR3 switch can run the old code
  // (seen in test/conformance/cpu.amd64.test.ts "CR3 switch").
  for (const Window& n : added) {
    if (!n.device) InvalidateCode(n.va, n.size);
  }
  return env.Undefined();
}

Napi::Value Cpu::MapAlias(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env, "mapAlias");
  Window w{U64(env, info[0], "alias va", "CPU_MAP"), U64(env, info[1], "alias pa", "CPU_MAP"),
           U64(env, info[2], "alias size", "CPU_MAP"), false};
  w.device = InDevice(w.pa, w.size);
  AddWindow(env, w);
  return env.Undefined();
}

Napi::Value Cpu::UnmapAlias(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env, "unmapAlias");
  uint64_t va = U64(env, info[0], "alias va", "CPU_MAP");
  uint64_t size = U64(env, info[1], "alias size", "CPU_MAP");
  RemoveWindowRange(env, va, size);
  return env.Undefined();
}

Napi::Value Cpu::Mappings(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env, "mappings");
  Napi::Object out = Napi::Object::New(env);
  Napi::Array w = Napi::Array::New(env, windows_.size());
  for (uint32_t i = 0; i < windows_.size(); i++) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("va", Big(env, windows_[i].va));
    o.Set("pa", Big(env, windows_[i].pa));
    o.Set("size", Big(env, windows_[i].size));
    o.Set("device", Napi::Boolean::New(env, windows_[i].device));
    w.Set(i, o);
  }
  Napi::Array x = Napi::Array::New(env, xlat_.size());
  for (uint32_t i = 0; i < xlat_.size(); i++) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("va", Big(env, xlat_[i].va));
    o.Set("pa", Big(env, xlat_[i].pa));
    o.Set("size", Big(env, xlat_[i].size));
    o.Set("exec", Napi::Boolean::New(env, xlat_[i].exec));
    x.Set(i, o);
  }
  Napi::Array p = Napi::Array::New(env, protected_.size());
  for (uint32_t i = 0; i < protected_.size(); i++) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("pa", Big(env, protected_[i].pa));
    o.Set("size", Big(env, protected_[i].size));
    p.Set(i, o);
  }
  out.Set("windows", w);
  out.Set("translation", x);
  out.Set("protected", p);
  return out;
}

Napi::Value Cpu::Protect(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env, "protect");
  uint64_t pa = U64(env, info[0], "protect pa", "CPU_MAP");
  uint64_t size = U64(env, info[1], "protect size", "CPU_MAP");
  std::string mode = Str(env, info[2], "protect mode", "CPU_MAP");
  if (mode != "ro" && mode != "rw") Fail(env, "CPU_MAP", "machine: protection mode '" + mode + "' is not ro or rw");
  if (size == 0 || pa % kPage != 0 || size % kPage != 0 || pa + size < pa) {
    Fail(env, "CPU_MAP", "machine: protect " + Hex(pa) + " + " + Hex(size) + " is empty or not 4 KiB aligned");
  }
  // Every page must be RAM (regions may be adjacent).
  for (uint64_t cur = pa; cur < pa + size;) {
    bool found = false;
    for (const GuestRam::Region& r : ram_->regions()) {
      if (cur >= r.base && cur < r.base + r.size) {
        cur = r.base + r.size;
        found = true;
        break;
      }
    }
    if (!found) Fail(env, "CPU_MAP", "machine: protect " + Hex(pa) + " + " + Hex(size) + " is not RAM at " + Hex(cur));
  }
  bool ro = mode == "ro";
  // Update the protected set: subtract [pa, pa+size), then add it back when ro; keep it merged.
  std::vector<PRange> next;
  for (const PRange& p : protected_) {
    uint64_t pend = p.pa + p.size, end = pa + size;
    if (pend <= pa || p.pa >= end) {
      next.push_back(p);
      continue;
    }
    if (p.pa < pa) next.push_back(PRange{p.pa, pa - p.pa});
    if (pend > end) next.push_back(PRange{end, pend - end});
  }
  if (ro) next.push_back(PRange{pa, size});
  std::sort(next.begin(), next.end(), [](const PRange& a, const PRange& b) { return a.pa < b.pa; });
  protected_.clear();
  for (const PRange& p : next) {
    if (!protected_.empty() && protected_.back().pa + protected_.back().size == p.pa) {
      protected_.back().size += p.size;
    } else {
      protected_.push_back(p);
    }
  }
  for (const Window& w : windows_) {
    if (w.device) continue;
    uint64_t lo = std::max(pa, w.pa), hi = std::min(pa + size, w.pa + w.size);
    if (lo < hi) ProtectWindowPart(env, w, lo, hi - lo, ro);
  }
  return env.Undefined();
}

// ---------------------------------------------------------------------------------------------
// Devices

void Cpu::OnOut(uint32_t port, int, uint32_t value) {
  if (arch_ != Arch::kAmd64) return;
  if (port == uartPort_ + kUartLcr) {
    lcr_ = static_cast<uint8_t>(value);
  } else if (port == uartPort_ + kUartThr && (lcr_ & kUartLcrDlab) == 0) {
    if (console_.size() < kConsoleCap) {
      console_.push_back(static_cast<char>(value & 0xff));
    } else {
      consoleDropped_++;
    }
  }
}

uint32_t Cpu::OnIn(uint32_t port, int size) {
  if (port == uartPort_ + kUartLsr) return kUartLsrIdle;
  if (port == uartPort_ + kUartLcr) return lcr_;
  if (port >= uartPort_ && port < uartPort_ + 8) return 0;
  // No device: the bus floats high.
  return size >= 4 ? 0xffffffffu : (1u << (8 * size)) - 1;
}

uint64_t Cpu::OnPl011Read(uint64_t offset, unsigned) {
  if (offset == kPl011Fr) return kPl011FrIdle;
  if (offset >= 0xfe0 && offset < 0x1000 && offset % 4 == 0) return kPl011Id[(offset - 0xfe0) / 4];
  return 0;
}

void Cpu::OnPl011Write(uint64_t offset, unsigned, uint64_t value) {
  if (offset != kPl011Dr) return;
  if (console_.size() < kConsoleCap) {
    console_.push_back(static_cast<char>(value & 0xff));
  } else {
    consoleDropped_++;
  }
}

Napi::Value Cpu::TakeConsole(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env, "takeConsole");
  Napi::Object out = Napi::Object::New(env);
  out.Set("bytes", Napi::Buffer<uint8_t>::Copy(env, reinterpret_cast<const uint8_t*>(console_.data()), console_.size()));
  out.Set("dropped", Napi::Number::New(env, static_cast<double>(consoleDropped_)));
  console_.clear();
  consoleDropped_ = 0;
  return out;
}

// ---------------------------------------------------------------------------------------------
// Hooks

void Cpu::OnCode(uint64_t addr, uint32_t size) {
  if (stop_ != Stop::kNone) return;  // a stop is pending: this instruction does not run
  if (haveUntil_ && addr == until_) {
    stop_ = Stop::kReached;
    stopPc_ = addr;
    uc_emu_stop(uc_);
    return;
  }
  if (executed_ >= budget_) {
    stop_ = Stop::kLimit;
    uc_emu_stop(uc_);
    return;
  }
  if (++sinceClock_ >= kClockEvery) {
    sinceClock_ = 0;
    if (std::chrono::steady_clock::now() >= deadline_) {
      stop_ = Stop::kTimeout;
      uc_emu_stop(uc_);
      return;
    }
  }
  if (!breakpoints_.empty()) {
    bool skip = skipBreakpointOnce_ && addr == skipBreakpointPc_;
    skipBreakpointOnce_ = false;
    if (!skip && std::binary_search(breakpoints_.begin(), breakpoints_.end(), addr)) {
      stop_ = Stop::kBreakpoint;
      stopPc_ = addr;
      uc_emu_stop(uc_);
      return;
    }
  }
  for (const Accel& a : accels_) {
    if (a.at != addr) continue;
    uint64_t iterations = 0;
    if (AccelReady(a, &iterations)) {
      stop_ = Stop::kAccel;
      pendingAccel_ = &a;
      pendingIterations_ = iterations;
      uc_emu_stop(uc_);
      return;
    }
  }
  executed_++;
  lastPc_ = addr;
  lastSize_ = size;
  haveLast_ = true;
}

void Cpu::OnBlock(uint64_t addr, uint32_t size) {
  uint64_t first = addr / kPage;
  if (first != lastCodePage_) {
    lastCodePage_ = first;
    if (!codePagesOverflow_) {
      uint64_t last = (addr + (size == 0 ? 0 : size - 1)) / kPage;
      for (uint64_t p = first; p <= last; p++) codePages_.insert(p);
      if (codePages_.size() > kMaxCodePages) {
        codePages_.clear();
        codePagesOverflow_ = true;
      }
    }
  }
  if (stop_ != Stop::kNone) return;
  for (size_t i = 0; i < watch_.size(); i++) {
    if (ReadReg(watch_[i]) != watchBase_[i]) {
      stop_ = Stop::kWatch;
      stopPc_ = addr;
      uc_emu_stop(uc_);
      return;
    }
  }
}

void Cpu::OnIntr(uint32_t intno) {
  if (stop_ == Stop::kNone || stop_ == Stop::kAccel) {
    stop_ = Stop::kException;
    intno_ = intno;
    cr2_ = (arch_ == Arch::kAmd64 && intno == kX86PageFault) ? ReadReg(P(UC_X86_REG_CR2)) : 0;
  }
  uc_emu_stop(uc_);  // never let a fault re-execute (spec Q3/Q13)
}

bool Cpu::OnUnmapped(uc_mem_type type, uint64_t addr, int size, int64_t value) {
  if (!faultSeen_) {
    faultSeen_ = true;
    faultType_ = type;
    faultAddr_ = addr;
    faultSize_ = size;
    faultValue_ = value;
  }
  return false;
}

bool Cpu::OnProt(uc_mem_type type, uint64_t addr, int size, int64_t value) {
  return OnUnmapped(type, addr, size, value);
}

// ---------------------------------------------------------------------------------------------
// Accelerated copy
//
// A loop is described as data (machine/cpu.ts CopyLoop): at its head `at`, registers `src`,
// `dst` and `count` hold the next source, destination and the remaining count in units of
// `countUnit` bytes; each iteration moves `chunk` bytes forwards (loads the whole chunk, then
// stores it), advances src and dst by `chunk`, lowers count, runs `insnsPerIteration`
// instructions (code-hook events), and the loop leaves at `exit` once count is 0 after
// `exitInsns` more events (1 for a `rep` string instruction, which re-checks RCX = 0 once). On exit src/dst have advanced
// by the total, count is 0, each `loads` register holds the u64 loaded from the last chunk at
// its offset, and the flags register has `flagsSet` set and `flagsClear` cleared.
// Preconditions (otherwise the loop is emulated exactly): count > 0 and a whole number of
// chunks, every `requires_` register test holds, both ranges are identity-translated RAM
// inside one region, the destination holds no protected page, and the instruction budget
// covers the whole loop (so a limit stops at the same instruction in both modes).

bool Cpu::AccelReady(const Accel& a, uint64_t* iterations) {
  for (const Accel::Require& r : a.requires_) {
    if ((ReadReg(r.reg) & r.mask) != r.value) return false;
  }
  uint64_t count = ReadReg(a.count);
  if (count == 0 || count > UINT64_MAX / a.countUnit) return false;
  uint64_t total = count * a.countUnit;
  if (total % a.chunk != 0) return false;
  uint64_t src = ReadReg(a.src), dst = ReadReg(a.dst);
  if (!IdentityRam(src, total) || !IdentityRam(dst, total) || IsProtected(dst, total)) return false;
  uint64_t n = total / a.chunk;
  uint64_t left = budget_ - executed_;
  if (left < a.exitInsns || n > (left - a.exitInsns) / a.insnsPerIteration) return false;
  *iterations = n;
  return true;
}

bool Cpu::AccelPerform(const Accel& a) {
  uint64_t count = ReadReg(a.count);
  uint64_t total = count * a.countUnit;
  uint64_t src = ReadReg(a.src), dst = ReadReg(a.dst);
  uint8_t* s = HostFor(src, total);
  uint8_t* d = HostFor(dst, total);
  if (s == nullptr || d == nullptr) return false;  // cannot happen: AccelReady checked both just now
  std::vector<uint64_t> loaded;
  if (dst > src && dst < src + total) {
    // Overlap where a forward loop re-reads what it wrote: copy chunk by chunk, as the loop does.
    std::vector<uint8_t> last(a.chunk);
    for (uint64_t off = 0; off < total; off += a.chunk) {
      memcpy(last.data(), s + off, a.chunk);
      memcpy(d + off, last.data(), a.chunk);
    }
    for (const Accel::Load& l : a.loads) {
      uint64_t v = 0;
      memcpy(&v, last.data() + l.offset, 8);
      loaded.push_back(v);
    }
  } else {
    for (const Accel::Load& l : a.loads) {
      uint64_t v = 0;
      memcpy(&v, s + total - a.chunk + l.offset, 8);
      loaded.push_back(v);
    }
    memmove(d, s, total);
  }
  WriteReg(a.src, src + total);
  WriteReg(a.dst, dst + total);
  WriteReg(a.count, 0);
  for (size_t i = 0; i < a.loads.size(); i++) WriteReg(a.loads[i].reg, loaded[i]);
  if (a.hasFlags) WriteReg(a.flagsReg, (ReadReg(a.flagsReg) & ~a.flagsClear) | a.flagsSet);
  SetPc(a.exit);
  executed_ += pendingIterations_ * a.insnsPerIteration + a.exitInsns;
  accelCopies_++;
  accelBytes_ += total;
  // The copy bypassed the softmmu, so translated code of the destination may be stale.
  InvalidateCode(dst, total);
  return true;
}

Cpu::Accel Cpu::ParseAccel(Napi::Env env, Napi::Object o) const {
  const char* c = "CPU_ACCEL";
  Accel a{};
  a.at = U64(env, o.Get("at"), "accelerator.at", c);
  a.exit = U64(env, o.Get("exit"), "accelerator.exit", c);
  a.src = LookupReg(env, Str(env, o.Get("src"), "accelerator.src", c));
  a.dst = LookupReg(env, Str(env, o.Get("dst"), "accelerator.dst", c));
  a.count = LookupReg(env, Str(env, o.Get("count"), "accelerator.count", c));
  a.countUnit = U64(env, o.Get("countUnit"), "accelerator.countUnit", c);
  a.chunk = U64(env, o.Get("chunk"), "accelerator.chunk", c);
  a.insnsPerIteration = U64(env, o.Get("insnsPerIteration"), "accelerator.insnsPerIteration", c);
  a.exitInsns = o.Get("exitInsns").IsUndefined() ? 0 : U64(env, o.Get("exitInsns"), "accelerator.exitInsns", c);
  if (a.exitInsns > 16) Fail(env, c, "machine: accelerator at " + Hex(a.at) + " has more than 16 exit instructions");
  if (a.countUnit == 0 || a.chunk == 0 || a.chunk > 4096 || a.insnsPerIteration == 0) {
    Fail(env, c, "machine: accelerator at " + Hex(a.at) + " has a zero unit, chunk or instruction count");
  }
  Napi::Value loads = o.Get("loads");
  if (loads.IsArray()) {
    Napi::Array arr = loads.As<Napi::Array>();
    for (uint32_t i = 0; i < arr.Length(); i++) {
      Napi::Object l = Obj(env, arr.Get(i), "accelerator load", c);
      Accel::Load ld{LookupReg(env, Str(env, l.Get("reg"), "load.reg", c)), U64(env, l.Get("offset"), "load.offset", c)};
      if (ld.offset + 8 > a.chunk) Fail(env, c, "machine: accelerator load offset " + Hex(ld.offset) + " is past the chunk");
      a.loads.push_back(ld);
    }
  }
  Napi::Value flags = o.Get("flags");
  a.hasFlags = flags.IsObject();
  if (a.hasFlags) {
    Napi::Object f = flags.As<Napi::Object>();
    a.flagsReg = LookupReg(env, Str(env, f.Get("reg"), "flags.reg", c));
    a.flagsSet = U64(env, f.Get("set"), "flags.set", c);
    a.flagsClear = U64(env, f.Get("clear"), "flags.clear", c);
  }
  Napi::Value req = o.Get("requires");
  if (req.IsArray()) {
    Napi::Array arr = req.As<Napi::Array>();
    for (uint32_t i = 0; i < arr.Length(); i++) {
      Napi::Object r = Obj(env, arr.Get(i), "accelerator requirement", c);
      a.requires_.push_back(Accel::Require{LookupReg(env, Str(env, r.Get("reg"), "requires.reg", c)),
                                           U64(env, r.Get("mask"), "requires.mask", c),
                                           U64(env, r.Get("value"), "requires.value", c)});
    }
  }
  return a;
}

Napi::Value Cpu::SetAccelerators(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env, "setAccelerators");
  if (!info[0].IsArray()) Fail(env, "CPU_ACCEL", "machine: setAccelerators needs an array");
  Napi::Array arr = info[0].As<Napi::Array>();
  std::vector<Accel> next;
  for (uint32_t i = 0; i < arr.Length(); i++) {
    next.push_back(ParseAccel(env, Obj(env, arr.Get(i), "accelerator", "CPU_ACCEL")));
  }
  accels_ = std::move(next);
  return env.Undefined();
}

// ---------------------------------------------------------------------------------------------
// Run

Napi::Value Cpu::Run(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env, "run");
  const char* c = "CPU_RUN";
  Napi::Object o = Obj(env, info[0], "run options", c);
  budget_ = U64(env, o.Get("maxInstructions"), "maxInstructions", c);
  uint64_t timeoutMs = U64(env, o.Get("timeoutMs"), "timeoutMs", c);
  haveUntil_ = !o.Get("until").IsUndefined();
  until_ = haveUntil_ ? U64(env, o.Get("until"), "until", c) : 0;
  uint64_t pc = o.Get("start").IsUndefined() ? Pc() : U64(env, o.Get("start"), "start", c);
  breakpoints_.clear();
  Napi::Value bps = o.Get("breakpoints");
  if (bps.IsArray()) {
    Napi::Array arr = bps.As<Napi::Array>();
    for (uint32_t i = 0; i < arr.Length(); i++) breakpoints_.push_back(U64(env, arr.Get(i), "breakpoint", c));
    std::sort(breakpoints_.begin(), breakpoints_.end());
  }
  skipBreakpointOnce_ = o.Get("skipBreakpointAtStart").ToBoolean();
  skipBreakpointPc_ = pc;
  if (o.Get("flushCode").ToBoolean()) InvalidateCode(0, 0);

  auto t0 = std::chrono::steady_clock::now();
  deadline_ = t0 + std::chrono::milliseconds(timeoutMs);
  executed_ = 0;
  sinceClock_ = 0;
  haveLast_ = false;
  accelCopies_ = 0;
  accelBytes_ = 0;
  watchBase_.clear();
  for (const RegRef& r : watch_) watchBase_.push_back(ReadReg(r));

  Napi::Object out = Napi::Object::New(env);
  auto finish = [&](const char* kind) {
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    out.Set("kind", Napi::String::New(env, kind));
    out.Set("executed", Napi::Number::New(env, static_cast<double>(executed_)));
    out.Set("elapsedMs", Napi::Number::New(env, ms));
    out.Set("acceleratedCopies", Napi::Number::New(env, static_cast<double>(accelCopies_)));
    out.Set("acceleratedBytes", Napi::Number::New(env, static_cast<double>(accelBytes_)));
    return out;
  };
  // A fault that leaves the PC on the instruction that was counted: it did not complete.
  auto uncount = [&]() {
    if (haveLast_ && Pc() == lastPc_ && executed_ > 0) executed_--;
  };

  for (;;) {
    if (std::chrono::steady_clock::now() >= deadline_) {
      SetPc(pc);
      out.Set("pc", Big(env, pc));
      return finish("timeout");
    }
    if (haveUntil_ && pc == until_) {
      SetPc(pc);
      out.Set("pc", Big(env, pc));
      return finish("reached");
    }
    if (executed_ >= budget_) {
      SetPc(pc);
      out.Set("pc", Big(env, pc));
      return finish("limit");
    }
    stop_ = Stop::kNone;
    faultSeen_ = false;
    pendingAccel_ = nullptr;
    everStarted_ = true;
    uc_err err = uc_emu_start(uc_, pc, 0, 0, 0);  // `until` is ignored (exits enabled)
    uint64_t now = Pc();
    if (stop_ == Stop::kAccel && err == UC_ERR_OK && pendingAccel_ != nullptr) {
      if (!AccelPerform(*pendingAccel_)) Fail(env, c, "machine: accelerated copy lost its memory (pc=" + Hex(now) + ")");
      pc = Pc();
      continue;
    }
    out.Set("pc", Big(env, now));
    switch (stop_) {
      case Stop::kReached:
        out.Set("pc", Big(env, stopPc_));
        return finish("reached");
      case Stop::kLimit:
        return finish("limit");
      case Stop::kTimeout:
        return finish("timeout");
      case Stop::kBreakpoint:
        out.Set("pc", Big(env, stopPc_));
        return finish("breakpoint");
      case Stop::kWatch:
        out.Set("pc", Big(env, stopPc_));
        return finish("translation-changed");
      case Stop::kException:
        uncount();
        out.Set("vector", Napi::Number::New(env, intno_));
        if (arch_ == Arch::kAmd64 && intno_ == kX86PageFault) out.Set("cr2", Big(env, cr2_));
        return finish("exception");
      default:
        break;
    }
    if (err == UC_ERR_READ_UNMAPPED || err == UC_ERR_WRITE_UNMAPPED || err == UC_ERR_FETCH_UNMAPPED ||
        err == UC_ERR_READ_PROT || err == UC_ERR_FETCH_PROT) {
      const char* access = faultSeen_ ? AccessName(faultType_)
                                      : (err == UC_ERR_WRITE_UNMAPPED ? "write"
                                                                      : (err == UC_ERR_FETCH_UNMAPPED ? "fetch" : "read"));
      uint64_t addr = faultSeen_ ? faultAddr_ : now;
      if (std::string(access) == "fetch") {
        out.Set("pc", Big(env, addr));
      } else {
        uncount();
        out.Set("pc", Big(env, haveLast_ ? lastPc_ : now));
      }
      out.Set("access", Napi::String::New(env, access));
      out.Set("address", Big(env, addr));
      out.Set("size", Napi::Number::New(env, faultSize_));
      return finish("unmapped");
    }
    if (err == UC_ERR_WRITE_PROT) {
      uncount();
      uint64_t pa = faultAddr_;
      if (!Translate(faultAddr_, &pa)) {
        for (const Window& w : windows_) {
          if (faultAddr_ - w.va < w.size) pa = w.pa + (faultAddr_ - w.va);
        }
      }
      out.Set("pc", Big(env, haveLast_ ? lastPc_ : now));
      out.Set("address", Big(env, faultAddr_));
      out.Set("pa", Big(env, pa));
      out.Set("size", Napi::Number::New(env, faultSize_));
      out.Set("value", Big(env, static_cast<uint64_t>(faultValue_)));
      return finish("write-protect");
    }
    if (err == UC_ERR_INSN_INVALID) {
      uncount();
      out.Set("pc", Big(env, haveLast_ && Pc() == lastPc_ ? lastPc_ : now));
      return finish("invalid-instruction");
    }
    if (err == UC_ERR_EXCEPTION) {
      out.Set("vector", Napi::Number::New(env, -1));
      return finish("exception");
    }
    if (err != UC_ERR_OK) {
      Fail(env, c, std::string("machine: Unicorn stopped with ") + uc_strerror(err) + " (pc=" + Hex(now) + ")");
    }
    if (haveLast_ && now == lastPc_ + lastSize_ && HaltInsnAt(lastPc_, lastSize_)) return finish("halted");
    Fail(env, c, "machine: emulation stopped without a reason (pc=" + Hex(now) + ")");
  }
}

}  // namespace kboot
