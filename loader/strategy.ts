/**
 * The three ways a FreeBSD host arms a rescue kernel (review D47358), as data: the pure half
 * of machine/strategies' `RescueStrategy`. One id per strategy everywhere — the CLI's
 * `--strategy`, the state journal, every JSON report and the docs say `embed`, `kld` and
 * `kexec`:
 *
 *  - embed: RESCUE_EMBED links the rescue ELF into the host kernel (loader/embed/strategy.ts);
 *  - kld: the boot loader preloads it as a module of type `rescue_kernel`
 *    (loader/preload/strategy.ts);
 *  - kexec: userspace loads it with kexec_load(..., KEXEC_ON_CRASH) once init runs
 *    (loader/kexec/strategy.ts).
 *
 * Contract: each strategy's facts are a frozen value; `stage` is pure (bytes in, bytes out) and
 * says what the boot loader hands the host for it — the host kernel file it loads and the
 * modules it preloads. What happens in guest memory (rescue_kernel_init at SI_SUB_VM_CONF,
 * kexec_load) is the machine's half (machine/strategies).
 */

/** The strategies' ids, in the order reports list them. */
export const STRATEGY_IDS = ['embed', 'kld', 'kexec'] as const;
/** How a rescue kernel is armed: `embed` (RESCUE_EMBED), `kld` (preloaded by the boot loader) or `kexec` (kexec_load from userspace). */
export type StrategyId = (typeof STRATEGY_IDS)[number];

/** A module the boot loader preloads (its MODINFO_NAME, MODINFO_TYPE and file bytes). */
export interface StagedModule {
  readonly name: string;
  readonly type: string;
  readonly bytes: Uint8Array;
}

/** What the boot loader loads for a host armed this way. */
export interface LoaderStaging {
  /** The host kernel ELF file the loader loads. */
  readonly kernel: Uint8Array;
  /** Modules preloaded after it. */
  readonly modules: readonly StagedModule[];
}

/** What replacing the armed rescue kernel with another takes. */
export interface Replacement {
  /** `nothing`: on the running host; `reboot`: the loader must run again; `rebuild`: the host kernel too. */
  readonly needs: 'nothing' | 'reboot' | 'rebuild';
  /** What is done, for reports; `live` is what a replacement on the running host showed. */
  describe(live?: LiveReplacement): string;
}

/** What unload + load on the running host showed (a strategy whose replacement needs nothing). */
export interface LiveReplacement {
  /** Nothing was armed between the unload and the new load. */
  readonly disarmedByUnload: boolean;
  /** The reservation's bytes after the new load equal those after the first. */
  readonly sameReservation: boolean;
}

/** The pure facts of one strategy (see the module contract). */
export interface StrategyFacts {
  readonly id: StrategyId;
  /** How tables and charts name it. */
  readonly label: string;
  /**
   * Who fills the reservation: rescue_kernel_init at SI_SUB_VM_CONF from what the loader
   * staged (`boot`), or kexec_load from userspace, which also unloads it (`userspace`).
   */
  readonly armedBy: 'boot' | 'userspace';
  /** Where the rescue ELF travels from the loader to rescue_kernel_init, for reports (undefined: it does not). */
  readonly loaderCopy: string | undefined;
  /** The extra memory the strategy holds besides the reservation, and for how long. */
  readonly transient: string;
  readonly replacement: Replacement;
  /** The boot loader's part: the host kernel file and the preloaded modules (pure). */
  stage(hostKernel: Uint8Array, rescue: Uint8Array): LoaderStaging;
}
