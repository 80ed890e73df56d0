// The emulated machine's CPU engine: Unicorn 2.0.1 over GuestMemory, with no N-API in it.
// The contract is in cpu_engine.cc; cpu.cc binds it to JS. Failures raise CodedError (errors.h).
#pragma once

#include <unicorn/unicorn.h>

#include <chrono>
#include <deque>
#include <functional>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "guest_memory.h"

namespace kboot {

enum class CpuArch { kAmd64, kArm64 };

// How a register name is reached through the Unicorn API.
struct RegRef {
  enum class Kind { kPlain, kMsr, kCp, kCurrentEl, kMmrBase, kMmrLimit } kind;
  int id;                            // UC_*_REG_* (kPlain, kMmr*)
  uint32_t msr;                      // kMsr
  uint32_t crn, crm, op0, op1, op2;  // kCp
  bool writable;
};
constexpr RegRef PlainReg(int id) { return RegRef{RegRef::Kind::kPlain, id, 0, 0, 0, 0, 0, 0, true}; }
// An AArch64 system register by its (op0, op1, CRn, CRm, op2) encoding (ARM ARM).
constexpr RegRef CpReg(uint32_t op0, uint32_t op1, uint32_t crn, uint32_t crm, uint32_t op2) {
  return RegRef{RegRef::Kind::kCp, 0, 0, crn, crm, op0, op1, op2, true};
}

// One Unicorn memory region kboot created: `size` bytes at VA `va` backed by the host memory
// of guest-physical `pa` (RAM), or by a device's callbacks (`device`).
struct Window {
  uint64_t va, pa, size;
  bool device;
};
// One run of the live VA -> PA translation (what the guest's tables say); `exec` when the CPU
// at its current level may fetch from it (only such runs are used to drop stale code).
struct Xlat {
  uint64_t va, pa, size;
  bool exec;
};
struct PRange {
  uint64_t pa, size;
};
// A VA range [va, va + size) whose translation the engine holds in full (xlat_ lists every run
// of it; a gap is a VA the tables do not map).
struct VRange {
  uint64_t va, size;
};

// A copy loop the run loop may perform natively (see cpu_accel.cc).
struct Accel {
  uint64_t at, exit;
  RegRef src, dst, count;
  uint64_t countUnit, chunk, insnsPerIteration, exitInsns;
  struct Load {
    RegRef reg;
    uint64_t offset;
  };
  std::vector<Load> loads;
  bool hasFlags;
  RegRef flagsReg;
  uint64_t flagsSet, flagsClear;
  struct Require {
    RegRef reg;
    uint64_t mask, value;
  };
  std::vector<Require> requires_;
};

// The CPU's devices (machine/cpu.ts checked that they fit the arch and the RAM).
struct CpuConfig {
  CpuArch arch = CpuArch::kAmd64;
  uint32_t ns16550Port = 0x3f8;       // amd64: the 16550's I/O base (COM1)
  std::optional<uint64_t> pl011Base;  // arm64: the PL011's MMIO page
  // arm64: MMIO ranges whose registers are modelled by the caller (the GICv3: machine/devices/
  // gicv3.ts): page-aligned PA ranges, mapped at VA == PA, whose accesses call `mmioRead` /
  // `mmioWrite` with the PA. A callback that fails stops the run (`mmioFailed()`).
  struct MmioRange {
    uint64_t pa, size;
  };
  std::vector<MmioRange> mmio;
  std::function<uint64_t(uint64_t pa, unsigned size)> mmioRead;
  std::function<void(uint64_t pa, unsigned size, uint64_t value)> mmioWrite;
};

// amd64 long mode (Cpu::setupLongMode), arm64 EL1 (Cpu::setupEl1): the registers to write.
struct LongModeSetup {
  uint64_t gdtBase, gdtLimit, cr3, cr0, cr4, efer, cs, ds;
};
struct El1Setup {
  std::optional<uint64_t> mair, tcr, ttbr0, ttbr1, vbar, sctlr;
};

// What one run may do (machine/cpu.ts RunLimits, validated there).
struct RunLimits {
  uint64_t maxInstructions = 0;
  uint64_t timeoutMs = 0;
  std::optional<uint64_t> start;  // else the current PC
  std::optional<uint64_t> until;
  std::vector<uint64_t> breakpoints;  // sorted
  bool skipBreakpointAtStart = false;
  bool flushCode = false;
};

// Why a run stopped, and the facts of that stop (machine/cpu.ts StopReason).
struct StopRecord {
  enum class Kind {
    kReached,
    kHalted,
    kBreakpoint,
    kException,
    kLimit,
    kTimeout,
    kUnmapped,
    kWriteProtect,
    kInvalidInstruction,
    kTranslationChanged,
    kTranslationNeeded,
  };
  Kind kind = Kind::kLimit;
  uint64_t pc = 0;
  uint64_t executed = 0;
  double elapsedMs = 0;
  uint64_t acceleratedCopies = 0;
  uint64_t acceleratedBytes = 0;
  std::optional<int64_t> vector;    // exception: the interrupt number, -1 when Unicorn gave none
  std::optional<uint64_t> cr2;      // exception 14 on amd64
  const char* access = nullptr;     // unmapped: "read" | "write" | "fetch"
  std::optional<uint64_t> address;  // unmapped, write-protect: the faulting VA; translation-needed: the range
  std::optional<uint64_t> pa;       // write-protect
  std::optional<int64_t> size;      // unmapped, write-protect; translation-needed: the range's bytes
  std::optional<uint64_t> value;    // write-protect
};
// The JS name of a stop kind ("reached", "write-protect", ...).
const char* StopKindName(StopRecord::Kind kind);

struct ConsoleOutput {
  std::string bytes;
  uint64_t dropped;
};

class CpuEngine {
 public:
  // Opens Unicorn, maps the PL011 (RAM is mapped by windows, on demand), installs the hooks;
  // raises CPU_SETUP, CPU_MAP or GUEST_CLOSED. Pins `ram` until Close().
  CpuEngine(const CpuConfig& config, std::shared_ptr<GuestMemory> ram);
  ~CpuEngine();
  CpuEngine(const CpuEngine&) = delete;
  CpuEngine& operator=(const CpuEngine&) = delete;

  void Close();
  // Raises CPU_CLOSED or GUEST_CLOSED unless the CPU and its RAM are open.
  void CheckOpen(const char* op) const;

  // Registers (cpu_regs.cc).
  RegRef LookupReg(const std::string& name) const;
  uint64_t GetReg(const std::string& name) const { return ReadReg(LookupReg(name)); }
  void SetReg(const std::string& name, uint64_t value);
  void SetupLongMode(const LongModeSetup& s);
  void SetupEl1(const El1Setup& s);

  // Memory map (cpu_memory_map.cc).
  void SetMappings(std::vector<Window> want, std::vector<Xlat> translation, std::vector<VRange> known);
  void MapAlias(uint64_t va, uint64_t pa, uint64_t size);
  void UnmapAlias(uint64_t va, uint64_t size) { RemoveWindowRange(va, size); }
  void Protect(uint64_t pa, uint64_t size, bool readOnly);
  const std::vector<Window>& windows() const { return windows_; }
  const std::vector<Xlat>& translation() const { return xlat_; }
  const std::vector<PRange>& protectedRanges() const { return protected_; }
  const std::vector<VRange>& known() const { return known_; }

  // Accelerated copy (cpu_accel.cc): raises CPU_ACCEL for a loop that cannot be used.
  void SetAccelerators(std::vector<Accel> accels);

  ConsoleOutput TakeConsole();
  // Runs until a stop (see the contract); raises CPU_RUN when Unicorn stops without a reason.
  StopRecord Run(const RunLimits& limits);

  // x86: true when the engine can reset QEMU's exception-in-flight state (cpu_exceptions.cc).
  static bool CanForgetExceptions();

  // Hook entry points (static trampolines call these).
  void OnCode(uint64_t addr, uint32_t size);
  void OnBlock(uint64_t addr, uint32_t size);
  void OnIntr(uint32_t intno);
  bool OnUnmapped(uc_mem_type type, uint64_t addr, int size, int64_t value);
  void OnOut(uint32_t port, int size, uint32_t value);
  uint32_t OnIn(uint32_t port, int size);
  uint64_t OnPl011Read(uint64_t offset, unsigned size);
  void OnPl011Write(uint64_t offset, unsigned size, uint64_t value);
  uint64_t OnMmioRead(uint64_t pa, unsigned size);
  void OnMmioWrite(uint64_t pa, unsigned size, uint64_t value);
  // True when a caller-modelled MMIO callback failed during the last run (the run was stopped).
  bool mmioFailed() const { return mmioFailed_; }

 private:
  enum class Stop { kNone, kReached, kLimit, kTimeout, kBreakpoint, kException, kWatch, kAccel, kNeedTranslation };

  static constexpr uint64_t kPage = 4096;
  static constexpr uint64_t kPl011Size = 0x1000;

  // The PL011's uc_mmio_map callbacks (user_data is the engine).
  static uint64_t Pl011ReadHook(uc_engine* uc, uint64_t offset, unsigned size, void* user);
  static void Pl011WriteHook(uc_engine* uc, uint64_t offset, unsigned size, uint64_t value, void* user);
  // A caller-modelled MMIO window's callbacks (user_data is its MmioWindow).
  struct MmioWindow {
    CpuEngine* engine;
    uint64_t pa;
  };
  static uint64_t MmioReadHook(uc_engine* uc, uint64_t offset, unsigned size, void* user);
  static void MmioWriteHook(uc_engine* uc, uint64_t offset, unsigned size, uint64_t value, void* user);
  bool InMmio(uint64_t pa, uint64_t size) const;

  void InstallHooks();
  void Release();
  uint64_t ReadReg(const RegRef& r) const;
  bool WriteReg(const RegRef& r, uint64_t v);
  uint64_t Pc() const;
  void SetPc(uint64_t pc);
  void ApplyArm64SecurityFix();
  void Emit(uint8_t byte);

  // Run loop steps.
  uint64_t BeginRun(const RunLimits& limits);
  std::optional<StopRecord::Kind> StopBeforeStart(uint64_t pc) const;
  StopRecord Finish(StopRecord::Kind kind, uint64_t pc) const;
  StopRecord Classify(uc_err err, uint64_t now);
  StopRecord MemoryFault(uc_err err, uint64_t now);
  void Uncount();
  void ForgetPendingException();

  // Memory map.
  uint8_t* HostFor(uint64_t pa, uint64_t size) const;  // null unless inside one RAM region
  bool InDevice(uint64_t pa, uint64_t size) const;
  void AddWindow(const Window& w);
  void RemoveWindowRange(uint64_t va, uint64_t size);
  void SetTranslation(std::vector<Xlat> xlat);
  void ApplyWindowDiff(const std::vector<Window>& want);
  void UpdateProtectedSet(uint64_t pa, uint64_t size, bool readOnly);
  void ProtectWindowPart(const Window& w, uint64_t pa, uint64_t size, bool ro);
  bool IsProtected(uint64_t pa, uint64_t size) const;
  bool IsProtectedWhole(uint64_t pa, uint64_t size) const;
  bool Translate(uint64_t va, uint64_t* pa) const;
  bool IdentityRam(uint64_t va, uint64_t size) const;
  bool HaltInsnAt(uint64_t pc, uint32_t size) const;
  void InvalidateCode(uint64_t va, uint64_t size);

  // Accelerated copy.
  void CheckAccel(const Accel& a) const;
  bool AccelReady(const Accel& a, uint64_t* iterations);
  bool Known(uint64_t va, uint64_t size) const;
  bool AccelPerform(const Accel& a);

  CpuArch arch_ = CpuArch::kAmd64;
  uc_engine* uc_ = nullptr;
  std::shared_ptr<GuestMemory> ram_;  // null once closed
  bool closed_ = false;

  std::vector<Window> windows_;    // sorted by va
  std::vector<Xlat> xlat_;         // sorted by va
  std::vector<PRange> protected_;  // sorted, merged
  std::vector<VRange> known_;      // sorted

  // Devices.
  uint32_t uartPort_ = 0x3f8;
  uint64_t pl011Base_ = 0;
  bool havePl011_ = false;
  uint8_t lcr_ = 0;
  std::string console_;
  uint64_t consoleDropped_ = 0;
  std::vector<CpuConfig::MmioRange> mmio_;
  std::function<uint64_t(uint64_t, unsigned)> mmioRead_;
  std::function<void(uint64_t, unsigned, uint64_t)> mmioWrite_;
  std::deque<MmioWindow> mmioWindows_;  // stable addresses for Unicorn's user_data
  bool mmioFailed_ = false;

  // Translation watch (registers whose change stops the run so the shadow is rebuilt).
  std::vector<RegRef> watch_;
  std::vector<uint64_t> watchBase_;

  std::vector<Accel> accels_;

  // Per-run state (valid while Run executes).
  Stop stop_ = Stop::kNone;
  uint64_t budget_ = 0;
  uint64_t executed_ = 0;
  uint64_t sinceClock_ = 0;
  uint64_t lastPc_ = 0;
  uint32_t lastSize_ = 0;
  bool haveLast_ = false;
  // True once uc_emu_start has run: before that no code is translated, so nothing to invalidate.
  bool everStarted_ = false;
  // VA pages where blocks have run (so translated code may be cached there): InvalidateCode
  // only visits these, instead of walking every mapped page. Capped; past the cap, all.
  std::unordered_set<uint64_t> codePages_;
  bool codePagesOverflow_ = false;
  uint64_t lastCodePage_ = UINT64_MAX;
  std::chrono::steady_clock::time_point started_;
  std::chrono::steady_clock::time_point deadline_;
  std::vector<uint64_t> breakpoints_;
  bool haveUntil_ = false;
  uint64_t until_ = 0;
  bool skipBreakpointOnce_ = false;
  uint64_t skipBreakpointPc_ = 0;
  uint64_t stopPc_ = 0;
  uint32_t intno_ = 0;
  uint64_t cr2_ = 0;
  const Accel* pendingAccel_ = nullptr;
  // An accelerator whose ranges' translation is not known yet: the run stops to ask for it.
  bool needTranslation_ = false;
  uint64_t needVa_ = 0, needSize_ = 0;
  uint64_t pendingIterations_ = 0;
  bool faultSeen_ = false;
  uc_mem_type faultType_ = UC_MEM_READ;
  uint64_t faultAddr_ = 0;
  int faultSize_ = 0;
  int64_t faultValue_ = 0;
  uint64_t accelCopies_ = 0;
  uint64_t accelBytes_ = 0;
};

}  // namespace kboot
