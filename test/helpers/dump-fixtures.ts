/**
 * Dumps for tests of reading and decompressing: a small minidump made by the real writer
 * (dump/minidump.ts planMinidump) over a hand-filled memory, and zstd expansion bombs built by
 * hand from RFC 8878 (a frame of RLE blocks: 4 bytes per 128 KiB of output), so no encoder
 * of kboot's is involved in making them.
 */
import { planMinidump, type MinidumpSource } from '../../dump/minidump.js';

const MEM = 0x80_0000;

/** Pages the small minidump holds (their bytes are a hash of the address). */
export const SMALL_DUMPED = [...Array.from({ length: 0x20 }, (_, i) => 0x10 + i), 0x100, 0x101, 0x400];

/** The memory behind smallMinidump: dump_avail at 0x1000, bitmap at 0x2000, an empty root at 0x3000. */
export function smallMemory(): Uint8Array {
  const mem = new Uint8Array(MEM);
  const dv = new DataView(mem.buffer);
  for (let i = 0; i < MEM; i += 4) dv.setUint32(i, (i * 2654435761) >>> 0, true);
  mem.fill(0, 0x1000, 0x4000);
  dv.setBigUint64(0x1008, BigInt(MEM), true); // dump_avail [0, 8 MiB)
  for (const p of SMALL_DUMPED) mem[0x2000 + (p >> 3)] = (mem[0x2000 + (p >> 3)] ?? 0) | (1 << (p & 7));
  mem.fill(0, 0x40_0000, 0x40_4000); // an empty msgbuf
  return mem;
}

/** A small amd64 minidump (and the memory it was made from). */
export function smallMinidump(): { mem: Uint8Array; bytes: Buffer } {
  const mem = smallMemory();
  const src: MinidumpSource = {
    arch: 'amd64',
    params: {
      dpMsgbufpa: 0x40_0000n,
      dpMsgbufsz: 0x4000n - 72n,
      dpVmdumppa: 0x2000n,
      dpVmdumpsz: BigInt(MEM / 0x1000 / 8),
      dpDumpavailpa: 0x1000n,
      rootPa: 0x3000n,
      dpKernstart: 0xffff_fe00_0000_0000n,
      dpKernend: 0xffff_fe00_0020_0000n,
      dpDmapbasepa: undefined,
      dpDmapmin: 0xffff_f800_0000_0000n,
      dpDmapmax: 0xffff_fc00_0000_0000n,
    },
    readPhys: (pa, len) => mem.slice(Number(pa), Number(pa) + len),
  };
  return { mem, bytes: Buffer.concat([...planMinidump(src).chunks()]) };
}

/**
 * A zstd frame (RFC 8878 §3.1.1) decoding to `bytes` copies of `value`: no content size, a
 * 128 KiB window (Window_Descriptor exponent 7), then RLE blocks (Block_Type 1) of at most
 * 128 KiB, the last one flagged Last_Block. `bytes` must be a positive multiple of 1.
 */
export function zstdRleFrame(bytes: bigint, value = 0): Buffer {
  const BLOCK = 128n * 1024n;
  const blocks = Number((bytes + BLOCK - 1n) / BLOCK);
  const out = Buffer.alloc(6 + 4 * blocks);
  out.set([0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x38], 0); // magic, descriptor, window 2^17
  let left = bytes;
  for (let i = 0; i < blocks; i++) {
    const size = Number(left < BLOCK ? left : BLOCK);
    left -= BigInt(size);
    const last = left === 0n ? 1 : 0;
    const header = (size << 3) | (1 << 1) | last;
    const at = 6 + 4 * i;
    out[at] = header & 0xff;
    out[at + 1] = (header >> 8) & 0xff;
    out[at + 2] = (header >> 16) & 0xff;
    out[at + 3] = value & 0xff;
  }
  return out;
}
