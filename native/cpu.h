// The emulated machine's CPU: Unicorn 2.0.1 over the native guest RAM (see cpu.cc).
#pragma once

#include <napi.h>
#include <unicorn/unicorn.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <unordered_set>
#include <vector>

#include "guest_ram.h"

namespace kboot {

class Cpu : public Napi::ObjectWrap<Cpu> {
 public:
  // `ramClass` is the GuestRam constructor: the Cpu accepts only instances of it.
  static Napi::Function Init(Napi::Env env, Napi::Function ramClass);
  explicit Cpu(const Napi::CallbackInfo& info);
  ~Cpu() override;

  enum class Arch { kAmd64, kArm64 };

  // How a register name is reached through the Unicorn API.
  struct RegRef {
    enum class Kind { kPlain, kMsr, kCp, kCurrentEl, kMmrBase, kMmrLimit } kind;
    int id;         // UC_*_REG_* (kPlain, kMmr*)
    uint32_t msr;   // kMsr
    uint32_t crn, crm, op0, op1, op2;  // kCp
    bool writable;
  };

  // One Unicorn memory region kboot created: `size` bytes at VA `va` backed by the host
  // memory of guest-physical `pa` (RAM), or by a device's callbacks (`device`).
  struct Window {
    uint64_t va, pa, size;
    bool device;
  };
  // One run of the live VA -> PA translation (what the guest's tables say); `exec` when the
  // CPU at its current level may fetch from it (only such runs are used to drop stale code).
  struct Xlat {
    uint64_t va, pa, size;
    bool exec;
  };
  struct PRange {
    uint64_t pa, size;
  };

  // A copy loop the run loop may perform natively (see cpu.cc "Accelerated copy").
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

  enum class Stop { kNone, kReached, kLimit, kTimeout, kBreakpoint, kException, kWatch, kAccel };

  // Hook entry points (static trampolines call these).
  void OnCode(uint64_t addr, uint32_t size);
  void OnBlock(uint64_t addr, uint32_t size);
  void OnIntr(uint32_t intno);
  bool OnUnmapped(uc_mem_type type, uint64_t addr, int size, int64_t value);
  bool OnProt(uc_mem_type type, uint64_t addr, int size, int64_t value);
  void OnOut(uint32_t port, int size, uint32_t value);
  uint32_t OnIn(uint32_t port, int size);
  uint64_t OnPl011Read(uint64_t offset, unsigned size);
  void OnPl011Write(uint64_t offset, unsigned size, uint64_t value);

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
  Napi::Value Protect(const Napi::CallbackInfo& info);
  Napi::Value SetAccelerators(const Napi::CallbackInfo& info);
  Napi::Value TakeConsole(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);

  void CheckOpen(Napi::Env env, const char* op) const;
  void Release();
  RegRef LookupReg(Napi::Env env, const std::string& name) const;
  uint64_t ReadReg(const RegRef& r) const;
  bool WriteReg(const RegRef& r, uint64_t v);
  uint64_t Pc() const;
  void SetPc(uint64_t pc);
  void ApplyArm64SecurityFix(Napi::Env env);

  // Memory map management.
  uint8_t* HostFor(uint64_t pa, uint64_t size) const;  // null unless inside one RAM region
  bool InDevice(uint64_t pa, uint64_t size) const;
  void AddWindow(Napi::Env env, const Window& w);
  void RemoveWindowRange(Napi::Env env, uint64_t va, uint64_t size);
  void ProtectWindowPart(Napi::Env env, const Window& w, uint64_t pa, uint64_t size, bool ro);
  bool IsProtected(uint64_t pa, uint64_t size) const;
  bool Translate(uint64_t va, uint64_t* pa) const;
  bool IdentityRam(uint64_t va, uint64_t size) const;
  bool HaltInsnAt(uint64_t pc, uint32_t size) const;
  void InvalidateCode(uint64_t va, uint64_t size);

  // Accelerated copy.
  bool AccelReady(const Accel& a, uint64_t* iterations);
  bool AccelPerform(const Accel& a);
  Accel ParseAccel(Napi::Env env, Napi::Object o) const;

  Arch arch_ = Arch::kAmd64;
  uc_engine* uc_ = nullptr;
  GuestRam* ram_ = nullptr;
  Napi::ObjectReference ramRef_;
  bool closed_ = false;

  std::vector<Window> windows_;  // sorted by va
  std::vector<Xlat> xlat_;       // sorted by va
  std::vector<PRange> protected_;  // sorted, merged

  // Devices.
  uint32_t uartPort_ = 0x3f8;
  bool haveUartPort_ = false;
  uint64_t pl011Base_ = 0;
  bool havePl011_ = false;
  uint8_t lcr_ = 0;
  std::string console_;
  uint64_t consoleDropped_ = 0;

  // Translation watch (registers whose change stops the run so the shadow is rebuilt).
  std::vector<RegRef> watch_;
  std::vector<uint64_t> watchBase_;

  // Accelerators.
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
