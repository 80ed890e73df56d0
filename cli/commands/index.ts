/**
 * Registers every kboot command on the program. One file per command lives beside this.
 */
import type { Command } from 'commander';
import type { CliIo } from '../io.js';

/** Adds all commands to `program`. */
export function registerCommands(program: Command, io: CliIo): void {
  void program;
  void io;
}
