// `kboot compare --svg` rendered by an independent renderer: headless Chromium takes a
// screenshot of the chart that `kboot compare` wrote for a probe kernel on amd64-efi; a small
// PNG decoder (node:zlib inflate + the five PNG row filters, RFC 2083 §6) reads it back and
// the picture must be non-blank: mostly the white page, but with the armed-window blue, the
// ✓ green and the ✗ red of the chart in it. The SVG's text must name every strategy and
// every boot phase. Skips when /usr/bin/chromium is absent (Debian: apt-get install chromium).
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { inflateSync } from 'node:zlib';
import { memoryIo } from '../../cli/io.js';
import { Exit, runCli } from '../../cli/run.js';
import { buildProbeKernel } from '../../kernels/probe/index.js';
import { HOST_PHASES } from '../../machine/host/timeline.js';
import { nativeAvailable } from '../../native/binding.js';
import { missingTools, TOOLS } from '../helpers/tools.js';

const CHROMIUM = TOOLS.chromium.file;
const skipReason = missingTools('chromium') ?? (nativeAvailable() ? undefined : 'the native addon is not built');

interface Png {
  readonly width: number;
  readonly height: number;
  /** RGBA, 8 bits per channel. */
  readonly rgba: Uint8Array;
}

/** Decodes an 8-bit, non-interlaced grey, grey+alpha, RGB or RGBA PNG. */
function decodePng(file: Uint8Array): Png {
  const sig = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  if (!sig.every((b, i) => file[i] === b)) throw new Error('not a PNG');
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  let off = 8;
  let width = 0;
  let height = 0;
  let colorType = -1;
  const idat: Uint8Array[] = [];
  while (off + 8 <= file.length) {
    const len = view.getUint32(off);
    const type = String.fromCharCode(...file.subarray(off + 4, off + 8));
    const data = file.subarray(off + 8, off + 8 + len);
    if (type === 'IHDR') {
      width = view.getUint32(off + 8);
      height = view.getUint32(off + 12);
      const depth = data[8];
      colorType = data[9] ?? -1;
      if (depth !== 8 || data[12] !== 0)
        throw new Error(`unsupported PNG: depth ${String(depth)}, interlace ${String(data[12])}`);
    } else if (type === 'IDAT') {
      idat.push(data);
    } else if (type === 'IEND') {
      break;
    }
    off += 12 + len;
  }
  const channels = { 0: 1, 2: 3, 4: 2, 6: 4 }[colorType];
  if (channels === undefined) throw new Error(`unsupported PNG colour type ${colorType}`);
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const rows = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let x = 0; x < stride; x++) {
      const a = x >= channels ? (rows[y * stride + x - channels] ?? 0) : 0;
      const b = y > 0 ? (rows[(y - 1) * stride + x] ?? 0) : 0;
      const c = x >= channels && y > 0 ? (rows[(y - 1) * stride + x - channels] ?? 0) : 0;
      let pred = 0;
      if (filter === 1) pred = a;
      else if (filter === 2) pred = b;
      else if (filter === 3) pred = (a + b) >> 1;
      else if (filter === 4) {
        const p = a + b - c;
        const pa = Math.abs(p - a);
        const pb = Math.abs(p - b);
        const pc = Math.abs(p - c);
        pred = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      } else if (filter !== 0) throw new Error(`bad PNG filter ${String(filter)} in row ${y}`);
      rows[y * stride + x] = ((line[x] ?? 0) + pred) & 0xff;
    }
  }
  const rgba = new Uint8Array(width * height * 4);
  for (let i = 0; i < width * height; i++) {
    const px = rows.subarray(i * channels, (i + 1) * channels);
    const [r, g, b, al] =
      channels === 1
        ? [px[0], px[0], px[0], 255]
        : channels === 2
          ? [px[0], px[0], px[0], px[1]]
          : channels === 3
            ? [px[0], px[1], px[2], 255]
            : [px[0], px[1], px[2], px[3]];
    rgba.set([r ?? 0, g ?? 0, b ?? 0, al ?? 0], i * 4);
  }
  return { width, height, rgba };
}

/** Pixels within `tol` of an RGB colour. */
function countNear(png: Png, rgb: readonly [number, number, number], tol: number): number {
  let n = 0;
  for (let i = 0; i < png.rgba.length; i += 4) {
    const d =
      Math.abs((png.rgba[i] ?? 0) - rgb[0]) +
      Math.abs((png.rgba[i + 1] ?? 0) - rgb[1]) +
      Math.abs((png.rgba[i + 2] ?? 0) - rgb[2]);
    if (d <= tol) n++;
  }
  return n;
}

t.test(
  'the compare chart renders in headless Chromium',
  skipReason === undefined ? {} : { skip: skipReason },
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'kboot-svg-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'rescue.elf'), buildProbeKernel('amd64', { mode: 'rescue' }));
    const io = memoryIo(dir);
    const code = await runCli(['compare', 'rescue.elf', '--machine', 'amd64-efi', '--svg', 'chart.svg'], io);
    t.equal(code, Exit.Ok, code === Exit.Ok ? 'kboot compare --svg exits 0' : io.stderr());
    const svgPath = join(dir, 'chart.svg');
    const svg = readFileSync(svgPath, 'utf8');
    const texts = [...svg.matchAll(/<text\b[^>]*>([^<]*)/g)].map((m) => m[1] ?? '');
    for (const name of ['embed', 'KLD', 'kexec']) t.ok(texts.includes(name), `the SVG text names ${name}`);
    for (const phase of HOST_PHASES) t.ok(texts.includes(phase), `the SVG text names ${phase}`);
    const width = Number(/<svg [^>]*width="(\d+)"/.exec(svg)?.[1]);
    const height = Number(/<svg [^>]*height="(\d+)"/.exec(svg)?.[1]);
    t.ok(width > 0 && height > 0, `${width}x${height}`);

    const png = join(dir, 'chart.png');
    const run = spawnSync(
      CHROMIUM,
      [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--hide-scrollbars',
        '--no-first-run',
        `--user-data-dir=${join(dir, 'profile')}`,
        `--screenshot=${png}`,
        `--window-size=${width},${height}`,
        pathToFileURL(svgPath).href,
      ],
      { encoding: 'utf8', timeout: 120_000, env: { ...process.env, HOME: dir } },
    );
    t.ok(
      existsSync(png),
      `chromium wrote a screenshot (status ${String(run.status)}${run.error ? `, ${run.error.message}` : ''})`,
    );
    if (!existsSync(png)) return;
    const img = decodePng(readFileSync(png));
    t.same([img.width, img.height], [width, height], 'the screenshot has the chart size');
    const pixels = img.width * img.height;
    const white = countNear(img, [255, 255, 255], 6);
    t.ok(white > pixels * 0.5, `mostly the white page (${((white / pixels) * 100).toFixed(1)}%)`);
    t.ok(pixels - white > pixels * 0.05, `not blank: ${((1 - white / pixels) * 100).toFixed(1)}% drawn`);
    // the armed bars: #4c8bf5 at 35% over the #eef1f4 track
    const armed = countNear(img, [184, 207, 250], 40);
    const green = countNear(img, [0x1a, 0x7f, 0x37], 60);
    const red = countNear(img, [0xcf, 0x22, 0x2e], 60);
    t.ok(armed > 10_000, `armed-window bars drawn (${armed} px)`);
    t.ok(green > 100, `✓ marks drawn in green (${green} px)`);
    t.ok(red > 100, `✗ marks drawn in red (${red} px)`);
  },
);
