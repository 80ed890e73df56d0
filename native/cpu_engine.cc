// The emulated machine's CPU engine: Unicorn 2.0.1 (Debian libunicorn-dev) over GuestMemory.
//
// Contract (JS surface: cpu.cc and machine/cpu.ts; measured Unicorn behaviour:
// shared/spec/unicorn-system.md):
//  - The engine opens Unicorn for amd64 (UC_MODE_64) or arm64 and maps only the PL011: guest
//    RAM is mapped by windows, on demand. It shares and pins the guest memory (its host pages
//    stay mapped until the engine is closed).
//  - The Unicorn memory map is a list of *windows*: VA ranges backed by the host memory of a
//    PA range (uc_mem_map_ptr, zero copy) or by a device (uc_mmio_map).
//    `SetMappings(windows, xlat, known)` replaces the list (diffed: unchanged windows stay),
//    `MapAlias`/`UnmapAlias` edit it. `xlat` is what kboot knows of the live VA->PA translation
//    of the guest's tables, complete inside the `known` VA ranges; it is used to report the PA
//    of a write-protect fault, to check instruction bytes and to prove a copy is identity-mapped.
//    2.0.1 checks every VA against this map and, on x86-64, accesses PA == VA after its page
//    walk, which is why machine/cpu/ maps windows that follow the tables, lazily: an access to
//    a VA without a window stops the run as `unmapped`, and the caller maps and restarts
//    (cpu_memory_map.cc).
//  - `Protect(pa, size, ro)` applies uc_mem_protect to every window page backed by that PA
//    range, now and for windows added later, so a guest write through any alias faults.
//  - `Run(limits)` is the only way to execute. It always stops, bounded by `maxInstructions`
//    (a UC_HOOK_CODE counter: exact, and it also makes every fault PC exact) and `timeoutMs`
//    (measured here; Unicorn's own timeout is not used because it reports success). It returns
//    a StopRecord naming why it stopped: reached | halted | breakpoint | exception | limit |
//    timeout | unmapped | write-protect | invalid-instruction | translation-changed (a watched
//    translation register - CR0/CR3/CR4, TTBR0/TTBR1/TCR/SCTLR - changed; nothing of the new
//    block ran) | translation-needed (an accelerated copy's range is not `known`: the caller
//    supplies its translation and restarts; the loop head has not run).
//  - Accelerated copy (cpu_accel.cc): a loop described by registers is performed with memmove
//    when the PC reaches its head, leaving RAM, registers, flags and the instruction count
//    exactly as the emulated loop would; any doubt falls back to exact emulation.
//  - Devices: a 16550 at an I/O port (amd64, OUT/IN hooks) or a PL011 at an MMIO base (arm64,
//    uc_mmio_map); transmitted bytes are collected and handed out by `TakeConsole()`. arm64
//    also maps caller-modelled MMIO ranges (the GICv3: machine/devices/gicv3.ts) at VA == PA,
//    permanently; each access calls `mmioRead`/`mmioWrite` with the PA. A callback that throws
//    stops the run (uc_emu_stop; nothing unwinds through Unicorn) and `mmioFailed()` says so.
//  - Arguments were validated by machine/cpu.ts; the engine asserts only what keeps it sound
//    (alignment and overlap of windows, accelerator bounds, register names).
// Failures raise CodedError (CPU_SETUP, CPU_REGISTER, CPU_MAP, CPU_RUN, CPU_ACCEL, CPU_CLOSED,
// GUEST_CLOSED) that machine/native.ts turns into MachineError.
// Sources for the hardware facts: Intel SDM vol. 3 (CR0/CR4/EFER, #PF, port I/O), 16550D data
// sheet (LSR/LCR), ARM PL011 TRM DDI 0183 (DR/FR/ID registers), ARM ARM (CurrentEL, WFI, NZCV).
#include "cpu_engine.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "errors.h"

namespace kboot {

namespace {

// Most distinct code pages tracked for targeted invalidation.
constexpr size_t kMaxCodePages = 65536;
// Console bytes kept between TakeConsole() calls; the rest is counted as dropped.
constexpr size_t kConsoleCap = 16u << 20;
// How often (in instructions) the run loop reads the clock.
constexpr uint64_t kClockEvery = 1024;

// 16550 register offsets and values (16550D data sheet).
constexpr uint32_t kUartThr = 0, kUartLcr = 3, kUartLsr = 5;
constexpr uint32_t kUartLsrIdle = 0x60;  // THRE | TEMT: transmitter empty
constexpr uint8_t kUartLcrDlab = 0x80;
// PL011 register offsets and values (ARM PL011 TRM DDI 0183).
constexpr uint64_t kPl011Dr = 0x000, kPl011Fr = 0x018;
constexpr uint64_t kPl011FrIdle = 0x90;  // TXFE | RXFE
constexpr uint8_t kPl011Id[8] = {0x11, 0x10, 0x14, 0x00, 0x0d, 0xf0, 0x05, 0xb1};  // 0xFE0..0xFFC
constexpr int kX86PageFault = 14;

// Static hook trampolines (user_data is the engine).
void HookCode(uc_engine*, uint64_t a, uint32_t s, void* u) { static_cast<CpuEngine*>(u)->OnCode(a, s); }
void HookBlock(uc_engine*, uint64_t a, uint32_t n, void* u) { static_cast<CpuEngine*>(u)->OnBlock(a, n); }
void HookIntr(uc_engine*, uint32_t n, void* u) { static_cast<CpuEngine*>(u)->OnIntr(n); }
bool HookFault(uc_engine*, uc_mem_type t, uint64_t a, int s, int64_t v, void* u) {
  return static_cast<CpuEngine*>(u)->OnUnmapped(t, a, s, v);
}
void HookOut(uc_engine*, uint32_t port, int size, uint32_t value, void* u) {
  static_cast<CpuEngine*>(u)->OnOut(port, size, value);
}
uint32_t HookIn(uc_engine*, uint32_t port, int size, void* u) { return static_cast<CpuEngine*>(u)->OnIn(port, size); }

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

const char* StopKindName(StopRecord::Kind kind) {
  using K = StopRecord::Kind;
  switch (kind) {
    case K::kReached:
      return "reached";
    case K::kHalted:
      return "halted";
    case K::kBreakpoint:
      return "breakpoint";
    case K::kException:
      return "exception";
    case K::kLimit:
      return "limit";
    case K::kTimeout:
      return "timeout";
    case K::kUnmapped:
      return "unmapped";
    case K::kWriteProtect:
      return "write-protect";
    case K::kInvalidInstruction:
      return "invalid-instruction";
    case K::kTranslationChanged:
      return "translation-changed";
    case K::kTranslationNeeded:
      return "translation-needed";
  }
  return "limit";
}

// ---------------------------------------------------------------------------------------------
// Construction and teardown

CpuEngine::CpuEngine(const CpuConfig& config, std::shared_ptr<GuestMemory> ram)
    : arch_(config.arch),
      uartPort_(config.ns16550Port),
      pl011Base_(config.pl011Base.value_or(0)),
      havePl011_(config.pl011Base.has_value()),
      mmio_(config.mmio),
      mmioRead_(config.mmioRead),
      mmioWrite_(config.mmioWrite) {
  if (ram == nullptr || ram->closed()) Raise("GUEST_CLOSED", "machine: the CPU's guest RAM is closed");
  uc_err err = uc_open(arch_ == CpuArch::kAmd64 ? UC_ARCH_X86 : UC_ARCH_ARM64,
                       arch_ == CpuArch::kAmd64 ? UC_MODE_64 : UC_MODE_ARM, &uc_);
  if (err != UC_ERR_OK) {
    uc_ = nullptr;
    Raise("CPU_SETUP", std::string("machine: uc_open failed (") + uc_strerror(err) + ")");
  }
  ram_ = std::move(ram);
  ram_->Pin();
  try {
    // Measure (once per process) how to forget an exception in flight, before any run
    // needs it, so no run pays for it.
    if (arch_ == CpuArch::kAmd64) CanForgetExceptions();
    if (havePl011_) AddWindow(Window{pl011Base_, pl011Base_, kPl011Size, true});
    for (const CpuConfig::MmioRange& m : mmio_) AddWindow(Window{m.pa, m.pa, m.size, true});
    InstallHooks();
  } catch (...) {
    Release();
    throw;
  }
}

CpuEngine::~CpuEngine() { Release(); }

void CpuEngine::Close() { Release(); }

void CpuEngine::Release() {
  if (uc_ != nullptr) {
    uc_close(uc_);
    uc_ = nullptr;
  }
  if (ram_ != nullptr) {
    ram_->Unpin();
    ram_ = nullptr;
  }
  closed_ = true;
}

void CpuEngine::CheckOpen(const char* op) const {
  if (closed_ || uc_ == nullptr) Raise("CPU_CLOSED", std::string("machine: ") + op + " on a closed CPU");
  if (ram_->closed()) Raise("GUEST_CLOSED", std::string("machine: ") + op + ": the CPU's guest RAM is closed");
}

void CpuEngine::InstallHooks() {
  // `until` is checked by the code hook, not by Unicorn: with an `until` the page tables do
  // not map, 2.0.1's uc_emu_start invalidates code at that address through a page walk that
  // faults, and the engine then reports later errors as UC_ERR_OK (measured: a second ud2
  // returned OK). An empty exit list makes uc_emu_start ignore `until`.
  if (uc_ctl_exits_enable(uc_) != UC_ERR_OK) Raise("CPU_SETUP", "machine: cannot enable Unicorn exits");
  uc_hook h;
  auto add = [&](int type, void* cb) {
    uc_err e = uc_hook_add(uc_, &h, type, cb, this, 1, 0);
    if (e != UC_ERR_OK) Raise("CPU_SETUP", std::string("machine: uc_hook_add failed (") + uc_strerror(e) + ")");
  };
  add(UC_HOOK_CODE, reinterpret_cast<void*>(&HookCode));
  add(UC_HOOK_BLOCK, reinterpret_cast<void*>(&HookBlock));
  add(UC_HOOK_INTR, reinterpret_cast<void*>(&HookIntr));
  add(UC_HOOK_MEM_UNMAPPED, reinterpret_cast<void*>(&HookFault));
  add(UC_HOOK_MEM_PROT, reinterpret_cast<void*>(&HookFault));
  if (arch_ == CpuArch::kAmd64) {
    uc_err e1 = uc_hook_add(uc_, &h, UC_HOOK_INSN, reinterpret_cast<void*>(&HookOut), this, 1, 0, UC_X86_INS_OUT);
    uc_err e2 = uc_hook_add(uc_, &h, UC_HOOK_INSN, reinterpret_cast<void*>(&HookIn), this, 1, 0, UC_X86_INS_IN);
    if (e1 != UC_ERR_OK || e2 != UC_ERR_OK) Raise("CPU_SETUP", "machine: cannot hook x86 IN/OUT");
    watch_ = {PlainReg(UC_X86_REG_CR0), PlainReg(UC_X86_REG_CR3), PlainReg(UC_X86_REG_CR4)};
  } else {
    ApplyArm64SecurityFix();
    // TTBR0, TTBR1, TCR_EL1, SCTLR_EL1 (the MMU switched on or off changes the translation).
    watch_ = {PlainReg(UC_ARM64_REG_TTBR0_EL1), PlainReg(UC_ARM64_REG_TTBR1_EL1), CpReg(3, 0, 2, 0, 2),
              CpReg(3, 0, 1, 0, 0)};
  }
}

// ---------------------------------------------------------------------------------------------
// Register access (here, beside the hooks that read the watched registers on every block)

uint64_t CpuEngine::ReadReg(const RegRef& r) const {
  using K = RegRef::Kind;
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

bool CpuEngine::WriteReg(const RegRef& r, uint64_t v) {
  using K = RegRef::Kind;
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

uint64_t CpuEngine::Pc() const {
  return ReadReg(PlainReg(arch_ == CpuArch::kAmd64 ? static_cast<int>(UC_X86_REG_RIP) : static_cast<int>(UC_ARM64_REG_PC)));
}

void CpuEngine::SetPc(uint64_t pc) {
  WriteReg(PlainReg(arch_ == CpuArch::kAmd64 ? static_cast<int>(UC_X86_REG_RIP) : static_cast<int>(UC_ARM64_REG_PC)), pc);
}

// ---------------------------------------------------------------------------------------------
// Devices

uint64_t CpuEngine::Pl011ReadHook(uc_engine*, uint64_t offset, unsigned size, void* user) {
  return static_cast<CpuEngine*>(user)->OnPl011Read(offset, size);
}

void CpuEngine::Pl011WriteHook(uc_engine*, uint64_t offset, unsigned size, uint64_t value, void* user) {
  static_cast<CpuEngine*>(user)->OnPl011Write(offset, size, value);
}

uint64_t CpuEngine::MmioReadHook(uc_engine*, uint64_t offset, unsigned size, void* user) {
  auto* w = static_cast<MmioWindow*>(user);
  return w->engine->OnMmioRead(w->pa + offset, size);
}

void CpuEngine::MmioWriteHook(uc_engine*, uint64_t offset, unsigned size, uint64_t value, void* user) {
  auto* w = static_cast<MmioWindow*>(user);
  w->engine->OnMmioWrite(w->pa + offset, size, value);
}

// A failing callback (a JS exception) must not unwind through Unicorn: it stops the run, and
// cpu.cc rethrows what the callback raised once uc_emu_start has returned.
uint64_t CpuEngine::OnMmioRead(uint64_t pa, unsigned size) {
  if (mmioFailed_ || !mmioRead_) return 0;
  try {
    return mmioRead_(pa, size);
  } catch (...) {
    mmioFailed_ = true;
    uc_emu_stop(uc_);
    return 0;
  }
}

void CpuEngine::OnMmioWrite(uint64_t pa, unsigned size, uint64_t value) {
  if (mmioFailed_ || !mmioWrite_) return;
  try {
    mmioWrite_(pa, size, value);
  } catch (...) {
    mmioFailed_ = true;
    uc_emu_stop(uc_);
  }
}

void CpuEngine::Emit(uint8_t byte) {
  if (console_.size() < kConsoleCap) {
    console_.push_back(static_cast<char>(byte));
  } else {
    consoleDropped_++;
  }
}

void CpuEngine::OnOut(uint32_t port, int, uint32_t value) {
  if (arch_ != CpuArch::kAmd64) return;
  if (port == uartPort_ + kUartLcr) {
    lcr_ = static_cast<uint8_t>(value);
  } else if (port == uartPort_ + kUartThr && (lcr_ & kUartLcrDlab) == 0) {
    Emit(static_cast<uint8_t>(value & 0xff));
  }
}

uint32_t CpuEngine::OnIn(uint32_t port, int size) {
  if (port == uartPort_ + kUartLsr) return kUartLsrIdle;
  if (port == uartPort_ + kUartLcr) return lcr_;
  if (port >= uartPort_ && port < uartPort_ + 8) return 0;
  // No device: the bus floats high.
  return size >= 4 ? 0xffffffffu : (1u << (8 * size)) - 1;
}

uint64_t CpuEngine::OnPl011Read(uint64_t offset, unsigned) {
  if (offset == kPl011Fr) return kPl011FrIdle;
  if (offset >= 0xfe0 && offset < 0x1000 && offset % 4 == 0) return kPl011Id[(offset - 0xfe0) / 4];
  return 0;
}

void CpuEngine::OnPl011Write(uint64_t offset, unsigned, uint64_t value) {
  if (offset == kPl011Dr) Emit(static_cast<uint8_t>(value & 0xff));
}

ConsoleOutput CpuEngine::TakeConsole() {
  ConsoleOutput out{std::move(console_), consoleDropped_};
  console_.clear();
  consoleDropped_ = 0;
  return out;
}

// ---------------------------------------------------------------------------------------------
// Hooks

void CpuEngine::OnCode(uint64_t addr, uint32_t size) {
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
    if (needTranslation_) {
      stop_ = Stop::kNeedTranslation;
      stopPc_ = addr;
      uc_emu_stop(uc_);
      return;
    }
  }
  executed_++;
  lastPc_ = addr;
  lastSize_ = size;
  haveLast_ = true;
}

void CpuEngine::OnBlock(uint64_t addr, uint32_t size) {
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

void CpuEngine::OnIntr(uint32_t intno) {
  if (stop_ == Stop::kNone || stop_ == Stop::kAccel) {
    stop_ = Stop::kException;
    intno_ = intno;
    cr2_ = (arch_ == CpuArch::kAmd64 && intno == kX86PageFault) ? ReadReg(PlainReg(UC_X86_REG_CR2)) : 0;
  }
  uc_emu_stop(uc_);  // never let a fault re-execute (spec Q3/Q13)
}

// Unmapped and protection faults alike: the first one of a run is the one reported.
bool CpuEngine::OnUnmapped(uc_mem_type type, uint64_t addr, int size, int64_t value) {
  if (!faultSeen_) {
    faultSeen_ = true;
    faultType_ = type;
    faultAddr_ = addr;
    faultSize_ = size;
    faultValue_ = value;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Run: BeginRun -> (StopBeforeStart | uc_emu_start -> accelerated copy or Classify)

StopRecord CpuEngine::Run(const RunLimits& limits) {
  uint64_t pc = BeginRun(limits);
  for (;;) {
    if (std::optional<StopRecord::Kind> early = StopBeforeStart(pc)) {
      SetPc(pc);
      return Finish(*early, pc);
    }
    stop_ = Stop::kNone;
    faultSeen_ = false;
    pendingAccel_ = nullptr;
    needTranslation_ = false;
    everStarted_ = true;
    uc_err err = uc_emu_start(uc_, pc, 0, 0, 0);  // `until` is ignored (exits enabled)
    uint64_t now = Pc();
    if (stop_ == Stop::kAccel && err == UC_ERR_OK && pendingAccel_ != nullptr) {
      if (!AccelPerform(*pendingAccel_)) Raise("CPU_RUN", "machine: accelerated copy lost its memory (pc=" + Hex(now) + ")");
      pc = Pc();
      continue;
    }
    return Classify(err, now);
  }
}

// Resets the per-run state; returns the PC to start at.
uint64_t CpuEngine::BeginRun(const RunLimits& limits) {
  budget_ = limits.maxInstructions;
  mmioFailed_ = false;
  haveUntil_ = limits.until.has_value();
  until_ = limits.until.value_or(0);
  uint64_t pc = limits.start.has_value() ? *limits.start : Pc();
  breakpoints_ = limits.breakpoints;
  std::sort(breakpoints_.begin(), breakpoints_.end());
  skipBreakpointOnce_ = limits.skipBreakpointAtStart;
  skipBreakpointPc_ = pc;
  if (limits.flushCode) InvalidateCode(0, 0);
  started_ = std::chrono::steady_clock::now();
  deadline_ = started_ + std::chrono::milliseconds(limits.timeoutMs);
  executed_ = 0;
  sinceClock_ = 0;
  haveLast_ = false;
  accelCopies_ = 0;
  accelBytes_ = 0;
  watchBase_.clear();
  for (const RegRef& r : watch_) watchBase_.push_back(ReadReg(r));
  return pc;
}

// A stop that needs no emulation: out of time, at `until`, or out of instructions.
std::optional<StopRecord::Kind> CpuEngine::StopBeforeStart(uint64_t pc) const {
  if (std::chrono::steady_clock::now() >= deadline_) return StopRecord::Kind::kTimeout;
  if (haveUntil_ && pc == until_) return StopRecord::Kind::kReached;
  if (executed_ >= budget_) return StopRecord::Kind::kLimit;
  return std::nullopt;
}

StopRecord CpuEngine::Finish(StopRecord::Kind kind, uint64_t pc) const {
  StopRecord r;
  r.kind = kind;
  r.pc = pc;
  r.executed = executed_;
  r.elapsedMs = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started_).count();
  r.acceleratedCopies = accelCopies_;
  r.acceleratedBytes = accelBytes_;
  return r;
}

// A fault that leaves the PC on the instruction that was counted: it did not complete.
void CpuEngine::Uncount() {
  if (haveLast_ && Pc() == lastPc_ && executed_ > 0) executed_--;
}

// Names the stop after uc_emu_start returned `err` with the PC at `now`.
StopRecord CpuEngine::Classify(uc_err err, uint64_t now) {
  using K = StopRecord::Kind;
  switch (stop_) {
    case Stop::kReached:
      return Finish(K::kReached, stopPc_);
    case Stop::kLimit:
      return Finish(K::kLimit, now);
    case Stop::kTimeout:
      return Finish(K::kTimeout, now);
    case Stop::kBreakpoint:
      return Finish(K::kBreakpoint, stopPc_);
    case Stop::kWatch:
      return Finish(K::kTranslationChanged, stopPc_);
    case Stop::kNeedTranslation: {
      SetPc(stopPc_);
      StopRecord r = Finish(K::kTranslationNeeded, stopPc_);
      r.address = needVa_;
      r.size = static_cast<int64_t>(needSize_);
      return r;
    }
    case Stop::kException: {
      Uncount();
      ForgetPendingException();
      StopRecord r = Finish(K::kException, now);
      r.vector = intno_;
      if (arch_ == CpuArch::kAmd64 && intno_ == kX86PageFault) r.cr2 = cr2_;
      return r;
    }
    default:
      break;
  }
  switch (err) {
    case UC_ERR_READ_UNMAPPED:
    case UC_ERR_WRITE_UNMAPPED:
    case UC_ERR_FETCH_UNMAPPED:
    case UC_ERR_READ_PROT:
    case UC_ERR_FETCH_PROT:
    case UC_ERR_WRITE_PROT:
      return MemoryFault(err, now);
    case UC_ERR_INSN_INVALID:
      Uncount();
      return Finish(K::kInvalidInstruction, haveLast_ && Pc() == lastPc_ ? lastPc_ : now);
    case UC_ERR_EXCEPTION: {
      StopRecord r = Finish(K::kException, now);
      r.vector = -1;
      return r;
    }
    case UC_ERR_OK:
      break;
    default:
      Raise("CPU_RUN", std::string("machine: Unicorn stopped with ") + uc_strerror(err) + " (pc=" + Hex(now) + ")");
  }
  if (haveLast_ && now == lastPc_ + lastSize_ && HaltInsnAt(lastPc_, lastSize_)) return Finish(K::kHalted, now);
  Raise("CPU_RUN", "machine: emulation stopped without a reason (pc=" + Hex(now) + ")");
}

// An unmapped access, or a protection fault (write-protect reports the PA it hit).
StopRecord CpuEngine::MemoryFault(uc_err err, uint64_t now) {
  if (err == UC_ERR_WRITE_PROT) {
    Uncount();
    uint64_t pa = faultAddr_;
    if (!Translate(faultAddr_, &pa)) {
      for (const Window& w : windows_) {
        if (faultAddr_ - w.va < w.size) pa = w.pa + (faultAddr_ - w.va);
      }
    }
    StopRecord r = Finish(StopRecord::Kind::kWriteProtect, haveLast_ ? lastPc_ : now);
    r.address = faultAddr_;
    r.pa = pa;
    r.size = faultSize_;
    r.value = static_cast<uint64_t>(faultValue_);
    return r;
  }
  const char* access = faultSeen_                     ? AccessName(faultType_)
                       : err == UC_ERR_WRITE_UNMAPPED ? "write"
                       : err == UC_ERR_FETCH_UNMAPPED ? "fetch"
                                                      : "read";
  uint64_t addr = faultSeen_ ? faultAddr_ : now;
  bool fetch = strcmp(access, "fetch") == 0;
  if (!fetch) Uncount();
  StopRecord r = Finish(StopRecord::Kind::kUnmapped, fetch ? addr : (haveLast_ ? lastPc_ : now));
  r.access = access;
  r.address = addr;
  r.size = faultSize_;
  return r;
}

}  // namespace kboot
