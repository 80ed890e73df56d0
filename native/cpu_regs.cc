// The CPU engine's registers by name, and the long-mode / EL1 set-up sequences.
//
// Contract: `LookupReg(name)` knows the names machine/cpu.ts REGS lists for the engine's arch
// (x86-64: Unicorn x86.h ids, EFER through the MSR interface, Intel SDM 2.2.1; AArch64:
// x0-x30 and the system registers, those without a named Unicorn id through
// UC_ARM64_REG_CP_REG with their (op0, op1, CRn, CRm, op2) encodings from the ARM ARM, spec Q7);
// any other name raises CPU_REGISTER. Set-up failures raise CPU_SETUP.
#include <cstdlib>
#include <string>

#include "cpu_engine.h"
#include "errors.h"

namespace kboot {

namespace {

using K = RegRef::Kind;
constexpr uint32_t kMsrEfer = 0xC0000080;
// AArch64: SCR_EL3 = NS | RW and HCR_EL2 = RW, so EL1 is AArch64 Non-secure (spec Q7).
constexpr uint64_t kScrEl3 = 0x401, kHcrEl2 = 1ull << 31;

struct RegName {
  const char* name;
  RegRef ref;
};
constexpr RegRef P(int id) { return PlainReg(id); }

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

const RegName kArm64Sys[] = {
    {"sp", P(UC_ARM64_REG_SP)},
    {"pc", P(UC_ARM64_REG_PC)},
    {"pstate", P(UC_ARM64_REG_PSTATE)},
    {"nzcv", P(UC_ARM64_REG_NZCV)},
    {"sctlr_el1", CpReg(3, 0, 1, 0, 0)},
    {"tcr_el1", CpReg(3, 0, 2, 0, 2)},
    {"mair_el1", CpReg(3, 0, 10, 2, 0)},
    {"ttbr0_el1", P(UC_ARM64_REG_TTBR0_EL1)},
    {"ttbr1_el1", P(UC_ARM64_REG_TTBR1_EL1)},
    {"vbar_el1", P(UC_ARM64_REG_VBAR_EL1)},
    {"elr_el1", P(UC_ARM64_REG_ELR_EL1)},
    {"esr_el1", P(UC_ARM64_REG_ESR_EL1)},
    {"far_el1", P(UC_ARM64_REG_FAR_EL1)},
    {"sp_el0", P(UC_ARM64_REG_SP_EL0)},
    {"sp_el1", P(UC_ARM64_REG_SP_EL1)},
    {"tpidr_el1", P(UC_ARM64_REG_TPIDR_EL1)},
    {"cpacr_el1", CpReg(3, 0, 1, 0, 2)},
    {"scr_el3", CpReg(3, 6, 1, 1, 0)},
    {"hcr_el2", CpReg(3, 4, 1, 1, 0)},
    {"currentel", RegRef{K::kCurrentEl, 0, 0, 0, 0, 0, 0, 0, false}},
};

// x0..x30 by number (x29/x30 have ids of their own).
bool Arm64GeneralReg(const std::string& name, RegRef* out) {
  if (name.size() < 2 || name[0] != 'x') return false;
  char* end = nullptr;
  long n = strtol(name.c_str() + 1, &end, 10);
  if (end == nullptr || *end != '\0' || n < 0 || n > 30 || std::to_string(n) != name.substr(1)) return false;
  if (n <= 28) {
    *out = P(UC_ARM64_REG_X0 + static_cast<int>(n));
  } else {
    *out = P(n == 29 ? UC_ARM64_REG_X29 : UC_ARM64_REG_X30);
  }
  return true;
}

}  // namespace

RegRef CpuEngine::LookupReg(const std::string& name) const {
  if (arch_ == CpuArch::kAmd64) {
    for (const RegName& r : kX86Regs)
      if (name == r.name) return r.ref;
  } else {
    RegRef x{};
    if (Arm64GeneralReg(name, &x)) return x;
    for (const RegName& r : kArm64Sys)
      if (name == r.name) return r.ref;
  }
  Raise("CPU_REGISTER", "machine: unknown register '" + name + "'");
}

void CpuEngine::SetReg(const std::string& name, uint64_t value) {
  RegRef r = LookupReg(name);
  if (!r.writable || !WriteReg(r, value)) {
    Raise("CPU_REGISTER", "machine: register '" + name + "' refused value " + Hex(value));
  }
}

// Long mode with 4-level paging, set from the host in the order the spec measured (Q1):
// selectors first (paging still off, so the GDT at `gdtBase` is read at its PA), then CR3,
// CR4, EFER (through the MSR interface), CR0. The caller has written the GDT.
void CpuEngine::SetupLongMode(const LongModeSetup& s) {
  if (arch_ != CpuArch::kAmd64) Raise("CPU_SETUP", "machine: setupLongMode is for amd64");
  if (s.gdtLimit > 0xffff || s.cs > 0xffff || s.ds > 0xffff) Raise("CPU_SETUP", "machine: GDT limit or selector too large");
  uc_x86_mmr gdtr{0, s.gdtBase, static_cast<uint32_t>(s.gdtLimit), 0};
  bool ok = uc_reg_write(uc_, UC_X86_REG_GDTR, &gdtr) == UC_ERR_OK;
  ok = ok && WriteReg(P(UC_X86_REG_CS), s.cs) && WriteReg(P(UC_X86_REG_SS), s.ds) &&
       WriteReg(P(UC_X86_REG_DS), s.ds) && WriteReg(P(UC_X86_REG_ES), s.ds);
  ok = ok && WriteReg(P(UC_X86_REG_CR3), s.cr3) && WriteReg(P(UC_X86_REG_CR4), s.cr4);
  ok = ok && WriteReg(RegRef{K::kMsr, 0, kMsrEfer, 0, 0, 0, 0, 0, true}, s.efer) && WriteReg(P(UC_X86_REG_CR0), s.cr0);
  if (!ok) Raise("CPU_SETUP", "machine: Unicorn refused the long-mode register set-up (cr3=" + Hex(s.cr3) + ")");
}

// EL1 with the MMU: SCR_EL3/HCR_EL2 fix first (spec Q7), then MAIR, TCR, TTBR0/1, VBAR, SCTLR
// (SCTLR last: the MMU comes on with everything else in place).
void CpuEngine::SetupEl1(const El1Setup& s) {
  if (arch_ != CpuArch::kArm64) Raise("CPU_SETUP", "machine: setupEl1 is for arm64");
  ApplyArm64SecurityFix();
  const std::pair<const char*, const std::optional<uint64_t>*> order[] = {
      {"mair_el1", &s.mair}, {"tcr_el1", &s.tcr},   {"ttbr0_el1", &s.ttbr0},
      {"ttbr1_el1", &s.ttbr1}, {"vbar_el1", &s.vbar}, {"sctlr_el1", &s.sctlr},
  };
  for (const auto& [name, value] : order) {
    if (!value->has_value()) continue;
    if (!WriteReg(LookupReg(name), **value)) {
      Raise("CPU_SETUP", std::string("machine: Unicorn refused ") + name + " = " + Hex(**value));
    }
  }
}

void CpuEngine::ApplyArm64SecurityFix() {
  uc_arm64_cp_reg scr{1, 1, 3, 6, 0, kScrEl3};
  uc_arm64_cp_reg hcr{1, 1, 3, 4, 0, kHcrEl2};
  if (uc_reg_write(uc_, UC_ARM64_REG_CP_REG, &scr) != UC_ERR_OK ||
      uc_reg_write(uc_, UC_ARM64_REG_CP_REG, &hcr) != UC_ERR_OK) {
    Raise("CPU_SETUP", "machine: cannot write SCR_EL3/HCR_EL2");
  }
}

}  // namespace kboot
