#!/usr/bin/env node
/**
 * The `kboot` executable: runs the CLI on the process's arguments and streams.
 */
import { processIo } from './io.js';
import { runCli } from './run.js';

process.exitCode = await runCli(process.argv.slice(2), processIo());
