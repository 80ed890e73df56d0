/**
 * What every importer fuzz target runs after its parser: the profile builder and the D47358
 * rules, as `kboot machine import` does — so a parser's output that the next steps cannot
 * take shows up as an escape, not later in a user's hands.
 */
import { buildImportedProfile, rescueRules, type MachineFacts } from '../../../loader/import/index.js';

/** Builds the profile and answers the rules; returns a small summary. */
export function profileAndRules(facts: MachineFacts): unknown {
  const built = buildImportedProfile(facts, { name: 'fuzz', command: 'fuzz', inputs: [] });
  const rules = rescueRules(built.profile);
  return {
    ram: built.profile.ram.length,
    assumptions: built.assumptions.length,
    failing: rules.rules.filter((r) => r.status === 'fails').map((r) => r.rule),
  };
}
