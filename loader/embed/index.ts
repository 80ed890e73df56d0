/**
 * Embed strategy, pure half: a host kernel ELF carrying the rescue kernel (RESCUE_EMBED's
 * `mfs` section and rescue_start/rescue_end symbols) and the way back. See embed.ts.
 */
export { EmbedCode, EmbedError, type EmbedErrorCode } from './errors.js';
export {
  embeddedRescueLength,
  embedRescue,
  extractEmbeddedRescue,
  RESCUE_END_SYMBOL,
  RESCUE_SECTION,
  RESCUE_START_SYMBOL,
  type EmbeddedRescue,
  type EmbedOptions,
} from './embed.js';
