/**
 * Where kboot's own files are: the package root (the folder with package.json and
 * binding.gyp), found from this module's location whether it runs from dist/ or not.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let root: string | undefined;

/** The package root. */
export function packageRoot(): string {
  if (root !== undefined) return root;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'binding.gyp'))) {
      root = dir;
      return dir;
    }
    dir = dirname(dir);
  }
  root = process.cwd();
  return root;
}

/** A path inside the package. */
export function packagePath(...parts: string[]): string {
  return join(packageRoot(), ...parts);
}
