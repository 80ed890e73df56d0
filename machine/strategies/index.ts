/**
 * The strategy registry: every `RescueStrategy` (strategy.ts) by its id (loader/strategy.ts
 * STRATEGY_IDS, the order reports list them). Sessions and compare look a strategy up here
 * and call it; nothing else names a strategy.
 */
import { STRATEGY_IDS, type StrategyId } from '../../loader/strategy.js';
import { EMBED } from './embed.js';
import { KEXEC } from './kexec.js';
import { KLD } from './kld.js';
import type { RescueStrategy } from './strategy.js';

export type { FoundRescue, RescueStrategy, VmConfHost } from './strategy.js';
export { STRATEGY_IDS, type StrategyId } from '../../loader/strategy.js';

const BY_ID: { readonly [S in StrategyId]: RescueStrategy } = { embed: EMBED, kld: KLD, kexec: KEXEC };

/** Every strategy, in STRATEGY_IDS order. */
export const RESCUE_STRATEGIES: readonly RescueStrategy[] = Object.freeze(STRATEGY_IDS.map((id) => BY_ID[id]));

/** The strategy with this id. */
export function rescueStrategy(id: StrategyId): RescueStrategy {
  return BY_ID[id];
}
