// Where the rescue kernel a loader.conf preloads lies (loader/preload/rescue-module.ts), on
// real files in a temporary directory: an absolute module name is looked up as written, then
// below the configuration's directory (the boot partition's root); a relative one below that
// directory; a configuration without a rescue_kernel module has none; a missing file is
// IO_NOT_FOUND naming every path tried; a directory in its place is IO_NOT_REGULAR.
import t from 'tap';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadLoaderConf } from '../../../../loader/preload/load-file.js';
import { findRescueKernel, rescueKernelPaths } from '../../../../loader/preload/rescue-module.js';
import { throwsCode } from '../../../helpers/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'kboot-rescue-module-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

/** A loader.conf in `dir` that preloads `name` as the rescue kernel (or nothing). */
function conf(file: string, name: string | undefined): string {
  const path = join(dir, file);
  const lines =
    name === undefined
      ? 'kern.x="1"\n'
      : `rescue_kernel_load="YES"\nrescue_kernel_type="rescue_kernel"\nrescue_kernel_name="${name}"\n`;
  writeFileSync(path, lines);
  return path;
}

t.test('an absolute name: as written first, then below the configuration directory', (t) => {
  mkdirSync(join(dir, 'boot', 'rescue'), { recursive: true });
  writeFileSync(join(dir, 'boot', 'rescue', 'kernel'), 'ELF');
  const path = conf('abs.conf', '/boot/rescue/kernel');
  const loaded = loadLoaderConf(path);
  t.same(rescueKernelPaths(path, loaded)?.paths, ['/boot/rescue/kernel', join(dir, 'boot', 'rescue', 'kernel')]);
  t.equal(rescueKernelPaths(path, loaded)?.module.name, '/boot/rescue/kernel');
  t.equal(findRescueKernel(path, loaded), join(dir, 'boot', 'rescue', 'kernel'));
  t.end();
});

t.test('a relative name: below the configuration directory, tried once', (t) => {
  writeFileSync(join(dir, 'rescue.elf'), 'ELF');
  const path = conf('rel.conf', 'rescue.elf');
  const loaded = loadLoaderConf(path);
  t.same(rescueKernelPaths(path, loaded)?.paths, [join(dir, 'rescue.elf')]);
  t.equal(findRescueKernel(path, loaded), join(dir, 'rescue.elf'));
  t.end();
});

t.test('no rescue_kernel module: nothing to find', (t) => {
  const path = conf('none.conf', undefined);
  const loaded = loadLoaderConf(path);
  t.equal(rescueKernelPaths(path, loaded), undefined);
  t.equal(findRescueKernel(path, loaded), undefined);
  t.end();
});

t.test('missing: IO_NOT_FOUND with every path tried; a directory: IO_NOT_REGULAR', (t) => {
  const path = conf('missing.conf', '/nowhere/kernel');
  const e = throwsCode(t, () => findRescueKernel(path, loadLoaderConf(path)), 'IO_NOT_FOUND');
  t.same(e?.details['tries'], ['/nowhere/kernel', join(dir, 'nowhere', 'kernel')]);
  mkdirSync(join(dir, 'dirkernel'));
  const d = conf('dir.conf', 'dirkernel');
  throwsCode(t, () => findRescueKernel(d, loadLoaderConf(d)), 'IO_NOT_REGULAR');
  t.end();
});
