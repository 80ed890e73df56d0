/**
 * KLD-preload strategy, pure half: the loader.conf parser (loader-conf.ts), its fs-backed
 * wrapper (load-file.ts), the boot loader's decisions (preload.ts) and where the rescue kernel
 * module it names lies (rescue-module.ts). See each module.
 */
export {
  confEnv,
  DEFAULT_LOADER_CONF_LIMITS,
  MODULE_FIELDS,
  parseEnvValue,
  parseLoaderConf,
  parseLoaderConfLines,
  RESTRICTED_ENV,
  type ConfEnvVar,
  type ConfExec,
  type ConfFileText,
  type ConfLine,
  type ConfResolver,
  type ConfSetting,
  type ConfSource,
  type ConfWarning,
  type LoaderConf,
  type LoaderConfLimits,
  type LoaderConfOptions,
  type ModuleConf,
  type ModuleField,
  type ValuePart,
} from './loader-conf.js';
export {
  fsConfResolver,
  loadLoaderConf,
  type ConfFileDigest,
  type LoadedLoaderConf,
  type LoadLoaderConfOptions,
} from './load-file.js';
export {
  DEFAULT_BOOTFILE,
  DEFAULT_MODULE_PATH,
  effectiveModulePath,
  KLD_EXTENSIONS,
  moduleCandidates,
  preloadDecisions,
  preloadedModuleRecord,
  RESCUE_KERNEL_MODULE_TYPE,
  splitCommandLine,
  type BootDecisions,
  type KernelCandidate,
  type KernelDecision,
  type LoadedModuleFile,
  type PreloadModule,
  type PreloadOptions,
  type PreloadStep,
  type PreloadWarning,
  type SkippedModule,
} from './preload.js';
export { findRescueKernel, rescueKernelPaths, type RescueKernelLookup } from './rescue-module.js';
