/*
 * A stand-in machine for unicorn.test.ts: runs a kboot probe kernel on Unicorn 2.0.1
 * (libunicorn-dev) the way a rescue or kexec hand-off would enter it, until machine/ can.
 * Facts used: shared/spec/unicorn-system.md (x86: VA == PA, so KERNBASE is an alias region
 * of the reservation; arm64: SCR_EL3/HCR_EL2 fix, PL011 through uc_mmio_map; hlt/wfi end
 * the run with UC_ERR_OK).
 *
 *   unicorn-harness amd64|arm64 ELF rescue|kexec REPORT_OUT [PA=HEXBYTES ...]
 *
 * Memory: the raw ELF file at load PA (reservation + 2 MiB), its report page zeroed (the
 * host zeroes BSS), 64 bytes of 0xa0.. at the reservation (the "params") and 64 bytes of
 * 0x10.. 4 MiB past the load PA (the "modinfo"). Registers: every GPR but the stack pointer
 * holds 0x1000 + its number. amd64: CR3 = 0x10000 maps KERNBASE + k -> reservation + k and
 * identity-maps 64 MiB; the stack words at 4(%rsp)/8(%rsp) are 0x600000 and 0x5678. arm64:
 * MMU off, x0 = KERNBASE + 128 MiB (rescue) or KERNBASE + 4 MiB (kexec).
 * Each optional PA=HEXBYTES argument then writes those bytes at that physical address (hex,
 * inside RAM; the test uses it for a full rescue_kernel_params, a kenv and a firmware map).
 * Prints "uart <console output>" and "stop <error> <pc>", and writes the report page.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unicorn/unicorn.h>

static char uart[512];
static size_t uart_len;
static void put(int c) {
  if (uart_len + 1 < sizeof uart) uart[uart_len++] = (char)c;
}
static void out_hook(uc_engine *uc, uint32_t port, int size, uint32_t value, void *u) {
  (void)uc, (void)size, (void)u;
  if (port == 0x3f8) put(value & 0xff);
}
static void pl011_write(uc_engine *uc, uint64_t off, unsigned size, uint64_t v, void *u) {
  (void)uc, (void)size, (void)u;
  if (off == 0) put((int)(v & 0xff));
}
static uint64_t pl011_read(uc_engine *uc, uint64_t off, unsigned size, void *u) {
  (void)uc, (void)off, (void)size, (void)u;
  return 0;
}
static bool intr(uc_engine *uc, uint32_t intno, void *u) {
  (void)u;
  printf("intr %u\n", intno);
  uc_emu_stop(uc);
  return true;
}
static void check(uc_err e, const char *what) {
  if (e != UC_ERR_OK) {
    fprintf(stderr, "%s: %s\n", what, uc_strerror(e));
    exit(2);
  }
}

#define RAM_SIZE (64u << 20)
#define MAX_ELF (1u << 20)

int main(int argc, char **argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: %s amd64|arm64 ELF rescue|kexec REPORT_OUT [PA=HEXBYTES ...]\n", argv[0]);
    return 2;
  }
  static uint8_t elf[MAX_ELF];
  FILE *f = fopen(argv[2], "rb");
  if (f == NULL) return 2;
  size_t n = fread(elf, 1, sizeof elf, f);
  fclose(f);
  uint64_t entry;
  memcpy(&entry, elf + 24, 8);
  int kexec = strcmp(argv[3], "kexec") == 0;
  uint8_t *ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  uc_engine *uc;
  uc_hook hooks[2];
  uc_err err;
  uint64_t pc = 0, ram_base, rpa;

  if (strcmp(argv[1], "amd64") == 0) {
    const uint64_t KB = 0xffffffff80000000ull;
    ram_base = 0;
    rpa = 0x1000000;
    check(uc_open(UC_ARCH_X86, UC_MODE_64, &uc), "open");
    check(uc_mem_map_ptr(uc, 0, RAM_SIZE, UC_PROT_ALL, ram), "map ram");
    check(uc_mem_map_ptr(uc, KB, 0x1000000, UC_PROT_ALL, ram + rpa), "map KERNBASE alias");
    uint64_t *pml4 = (uint64_t *)(ram + 0x10000), *pdp_hi = (uint64_t *)(ram + 0x11000);
    uint64_t *pd_hi = (uint64_t *)(ram + 0x12000), *pdp_lo = (uint64_t *)(ram + 0x13000);
    uint64_t *pd_lo = (uint64_t *)(ram + 0x14000);
    pml4[511] = 0x11003, pdp_hi[510] = 0x12003, pml4[0] = 0x13003, pdp_lo[0] = 0x14003;
    for (int i = 0; i < 8; i++) pd_hi[i] = (rpa + i * 0x200000ull) | 0x83; /* P|RW|PS */
    for (int i = 0; i < 32; i++) pd_lo[i] = (i * 0x200000ull) | 0x83;
    uint64_t rsp = 0x80000, cr3 = 0x10000, cr4 = 0x20, cr0 = 0x80000011;
    uint32_t modulep = 0x600000, kernend = 0x5678; /* KERNBASE + 6 MiB = load PA + 4 MiB */
    memcpy(ram + rsp + 4, &modulep, 4);
    memcpy(ram + rsp + 8, &kernend, 4);
    check(uc_reg_write(uc, UC_X86_REG_CR3, &cr3), "cr3");
    check(uc_reg_write(uc, UC_X86_REG_CR4, &cr4), "cr4");
    check(uc_reg_write(uc, UC_X86_REG_CR0, &cr0), "cr0");
    const int regs[16] = {UC_X86_REG_RAX, UC_X86_REG_RCX, UC_X86_REG_RDX, UC_X86_REG_RBX,
                          UC_X86_REG_RSP, UC_X86_REG_RBP, UC_X86_REG_RSI, UC_X86_REG_RDI,
                          UC_X86_REG_R8,  UC_X86_REG_R9,  UC_X86_REG_R10, UC_X86_REG_R11,
                          UC_X86_REG_R12, UC_X86_REG_R13, UC_X86_REG_R14, UC_X86_REG_R15};
    for (int i = 0; i < 16; i++) {
      uint64_t v = i == 4 ? rsp : 0x1000u + (uint64_t)i;
      check(uc_reg_write(uc, regs[i], &v), "gpr");
    }
    check(uc_hook_add(uc, &hooks[0], UC_HOOK_INSN, out_hook, NULL, 1, 0, UC_X86_INS_OUT), "out hook");
    pc = entry;
  } else {
    const uint64_t KB = 0xffff000000000000ull;
    ram_base = 0x40000000;
    rpa = 0x41000000;
    check(uc_open(UC_ARCH_ARM64, UC_MODE_ARM, &uc), "open");
    uc_arm64_cp_reg scr = {.crn = 1, .crm = 1, .op0 = 3, .op1 = 6, .op2 = 0, .val = 0x401};
    uc_arm64_cp_reg hcr = {.crn = 1, .crm = 1, .op0 = 3, .op1 = 4, .op2 = 0, .val = 1ull << 31};
    check(uc_reg_write(uc, UC_ARM64_REG_CP_REG, &scr), "scr_el3");
    check(uc_reg_write(uc, UC_ARM64_REG_CP_REG, &hcr), "hcr_el2");
    check(uc_mem_map_ptr(uc, ram_base, RAM_SIZE, UC_PROT_ALL, ram), "map ram");
    check(uc_mmio_map(uc, 0x09000000, 0x1000, pl011_read, NULL, pl011_write, NULL), "pl011");
    for (int i = 0; i < 31; i++) {
      uint64_t v = i == 0 ? (kexec ? KB + 0x400000 : KB + 0x8000000) : 0x1000u + (uint64_t)i;
      int id = i == 29 ? UC_ARM64_REG_X29 : i == 30 ? UC_ARM64_REG_X30 : UC_ARM64_REG_X0 + i; /* x29/x30 sit apart */
      check(uc_reg_write(uc, id, &v), "gpr");
    }
    uint64_t sp = 0x40080000;
    check(uc_reg_write(uc, UC_ARM64_REG_SP, &sp), "sp");
    pc = rpa + 0x200000 + (entry - KB); /* rescue_pa + 2MB + (e_entry - KERNBASE) */
  }
  uint64_t kpa = rpa + 0x200000;
  memcpy(ram + (kpa - ram_base), elf, n);
  memset(ram + (kpa - ram_base) + 0x3000, 0, 0x1000);
  for (int i = 0; i < 64; i++) ram[rpa - ram_base + i] = (uint8_t)(0xa0 + i);
  for (int i = 0; i < 64; i++) ram[kpa - ram_base + 0x400000 + i] = (uint8_t)(0x10 + i);
  for (int a = 5; a < argc; a++) {
    char *eq = strchr(argv[a], '=');
    if (eq == NULL) return 2;
    uint64_t pa = strtoull(argv[a], NULL, 16);
    size_t len = strlen(eq + 1) / 2;
    if (pa < ram_base || pa - ram_base > RAM_SIZE || len > RAM_SIZE - (pa - ram_base)) return 2;
    for (size_t i = 0; i < len; i++) {
      unsigned byte;
      if (sscanf(eq + 1 + 2 * i, "%2x", &byte) != 1) return 2;
      ram[pa - ram_base + i] = (uint8_t)byte;
    }
  }
  check(uc_hook_add(uc, &hooks[1], UC_HOOK_INTR, intr, NULL, 1, 0), "intr hook");

  err = uc_emu_start(uc, pc, 0, 0, 100000);
  uc_reg_read(uc, strcmp(argv[1], "amd64") == 0 ? UC_X86_REG_RIP : UC_ARM64_REG_PC, &pc);
  uart[uart_len] = 0;
  printf("uart %s", uart);
  printf("stop %s 0x%llx\n", uc_strerror(err), (unsigned long long)pc);
  FILE *o = fopen(argv[4], "wb");
  if (o == NULL) return 2;
  fwrite(ram + (kpa - ram_base) + 0x3000, 1, 0x1000, o);
  fclose(o);
  uc_close(uc);
  return 0;
}
