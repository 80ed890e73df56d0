/**
 * `kboot inspect` (placeholder until its issue lands).
 */
import type { Command } from 'commander';
import type { CliIo } from '../io.js';

export function registerInspect(program: Command, io: CliIo): void {
  void program;
  void io;
}
