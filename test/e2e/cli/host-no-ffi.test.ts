// An install without the optional @2060.io/ffi-napi / @2060.io/ref-napi (issue 16): simulated by
// a Node module-resolution hook (node --import, module.register) that refuses to resolve any
// `@2060.io/*` specifier, as a missing package would (ERR_MODULE_NOT_FOUND). kboot has no seam
// of its own for this: the hook is the same failure npm's absence gives. With it, commands
// without --host work as ever (probe-kernel, plan, exec --crash in the emulator, the emulated
// boot/load/status), `load --host --dry-run` plans without the package, and a real `--host`
// call says which package is missing (HOST_FFI_MISSING; without root HOST_NOT_ROOT comes
// first, before any package is loaded).
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KBOOT_BIN } from '../../helpers/spawn-kboot.js';

const dir = mkdtempSync(join(tmpdir(), 'kboot-no-ffi-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const hook = join(dir, 'no-ffi.mjs');
const resolver = [
  'export async function resolve(specifier, context, next) {',
  "  if (specifier.startsWith('@2060.io/')) {",
  "    const e = new Error(`Cannot find package '${specifier}'`);",
  "    e.code = 'ERR_MODULE_NOT_FOUND';",
  '    throw e;',
  '  }',
  '  return next(specifier, context);',
  '}',
].join('\n');
writeFileSync(
  hook,
  `import { register } from 'node:module';\nregister('data:text/javascript,' + encodeURIComponent(${JSON.stringify(resolver)}));\n`,
);
const linux = process.platform === 'linux' ? {} : { skip: '--host reads Linux here' };
const root = process.geteuid?.() === 0;

function kboot(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, ['--import', hook, KBOOT_BIN, ...args], {
    cwd: dir,
    encoding: 'utf8',
    timeout: 120_000,
  });
}

t.test('the hook makes the packages unloadable', async (t) => {
  const r = spawnSync(
    process.execPath,
    ['--import', hook, '-e', "import('@2060.io/ffi-napi').then(() => process.exit(0), () => process.exit(3))"],
    {
      encoding: 'utf8',
    },
  );
  t.equal(r.status, 3, 'import of @2060.io/ffi-napi fails');
});

t.test('commands without --host work', async (t) => {
  t.equal(kboot('probe-kernel', '--arch', 'amd64', '-o', 'probe.elf').status, 0, 'probe-kernel');
  t.equal(kboot('plan', '--crash', 'probe.elf').status, 0, 'plan');
  t.equal(kboot('plan', '--crash', 'probe.elf', '--print-reservation-size').status, 0, 'plan --print-reservation-size');
  t.equal(kboot('exec', '--crash', 'probe.elf').status, 0, 'exec --crash (the emulator)');
  t.equal(kboot('boot', '--strategy', 'kexec', '--rescue', 'probe.elf').status, 0, 'boot (emulated)');
  t.equal(kboot('load', '--crash', 'probe.elf').status, 0, 'load (emulated)');
  t.equal(kboot('status').status, 0, 'status (emulated): armed');
});

t.test('--host: a dry run needs no package; a real call names the missing one', linux, async (t) => {
  const dry = kboot('load', '--host', '--crash', 'probe.elf', '--dry-run');
  t.equal(dry.status, 0, `load --host --dry-run ${dry.stderr}`);
  const real = kboot('--json', 'load', '--host', '--crash', 'probe.elf');
  t.equal(real.status, 1, 'exit 1');
  const out = JSON.parse(real.stdout) as { called: boolean; error: { code: string; details: { package?: string } } };
  t.equal(out.called, false, 'no call made');
  if (root) {
    t.equal(out.error.code, 'HOST_FFI_MISSING');
    t.equal(out.error.details.package, '@2060.io/ffi-napi', 'names the package');
    const un = JSON.parse(kboot('--json', 'unload', '--host', '--crash').stdout) as { error: { code: string } };
    t.equal(un.error.code, 'HOST_FFI_MISSING', 'unload --host too');
  } else t.equal(out.error.code, 'HOST_NOT_ROOT', 'without root: refused before the package is loaded');
});
