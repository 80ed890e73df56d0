/**
 * The kernel's message buffer in a dump, read as dmesg(8) reads it from a core
 * (sbin/dmesg/dmesg.c with -M: struct msgbuf, sys/sys/msgbuf.h; the ring unwrapped at
 * MSGBUF_SEQ_TO_POS(msg_wseq), NULs skipped).
 *
 * Contract: `minidumpMsgbufText(d)` reads a minidump's MSGBUF section (the buffer, with
 * struct msgbuf right after it: at msgbufsize, or at msgbufsize − sizeof(struct msgbuf) for a
 * dumper that rounded the size up to the region; without MSG_MAGIC there the raw section);
 * `symbolMsgbufText(readKva, msgbufp)` follows the kernel's `msgbufp` pointer (its VA from the
 * kernel's symbols) to struct msgbuf and its buffer, for dumps without a MSGBUF section (ELF
 * full dumps). Bounded: at most 64 MiB of buffer. Only DumpError escapes (the reads' own).
 * `msgbufLines(text)` splits the text as dmesg prints it: syslog priorities `<N>` dropped,
 * control characters shown as '?', trailing empty lines removed.
 */
import { hex } from '../loader/addr.js';
import { HOST, Msgbuf } from '../loader/kernel-abi/structs.js';
import { DumpCode, DumpError } from './errors.js';
import type { Minidump } from './reader.js';
import { readExact, type DumpFile } from './reader.js';

/** The message buffer of a dump, as dmesg -M would show it. */
export interface MsgbufText {
  /** File offset (in the opened file) and size of the MSGBUF section (header msgbufsize); symbol reads: 0 and msg_size. */
  readonly offset: number;
  readonly size: number;
  /** struct msgbuf found after the buffer (MSG_MAGIC, msg_size matching its place). */
  readonly struct?: { readonly offset: number; readonly msgSize: number; readonly wseq: number; readonly rseq: number };
  /** The text, oldest first, NULs removed. */
  readonly text: string;
}

/** Largest msgbuf read. */
const MAX_MSGBUF = 64 << 20;

function textOf(b: Uint8Array): string {
  return new TextDecoder('utf-8').decode(b.filter((x) => x !== 0));
}

/** The ring `buf` unwrapped at msg_wseq (MSGBUF_SEQ_TO_POS), oldest byte first. */
function unwrap(buf: Uint8Array, wseq: number): Uint8Array {
  const pos = wseq % buf.length;
  const out = new Uint8Array(buf.length);
  out.set(buf.subarray(pos), 0);
  out.set(buf.subarray(0, pos), buf.length - pos);
  return out;
}

/** Reads a minidump's MSGBUF section; `base` is the dump's offset in the opened file. */
export function minidumpMsgbufText(
  inner: DumpFile,
  d: Pick<Minidump, 'header' | 'pageSize'>,
  base: number,
): MsgbufText {
  const size = d.header.msgbufsize;
  const ps = d.pageSize;
  const want = Math.min(Math.ceil(size / ps) * ps, MAX_MSGBUF);
  const sect = readExact(inner, ps, want, 'the msgbuf section');
  const offset = base + ps;
  // The struct sits right after the buffer: at msgbufsize (the kernel's msg_size) or at
  // msgbufsize - sizeof(struct msgbuf) (a dumper that rounded msgbufsize up to the region).
  for (const at of [size, size - Msgbuf.size]) {
    if (at <= 0 || at + Msgbuf.size > sect.length) continue;
    const m = Msgbuf.decode(sect, at);
    if (m.msgMagic !== HOST.MSG_MAGIC || m.msgSize !== at) continue;
    return {
      offset,
      size,
      struct: { offset: offset + at, msgSize: m.msgSize, wseq: m.msgWseq, rseq: m.msgRseq },
      text: textOf(unwrap(sect.subarray(0, at), m.msgWseq)),
    };
  }
  return { offset, size, text: textOf(sect.subarray(0, Math.min(size, sect.length))) };
}

/** Follows `msgbufp` (the VA of the kernel's pointer variable) to the buffer (see the module contract). */
export function symbolMsgbufText(readKva: (va: bigint, len: number) => Uint8Array, msgbufp: bigint): MsgbufText {
  const p = readKva(msgbufp, 8);
  const structVa = new DataView(p.buffer, p.byteOffset, 8).getBigUint64(0, true);
  const m = Msgbuf.decode(readKva(structVa, Msgbuf.size));
  if (m.msgMagic !== HOST.MSG_MAGIC || m.msgSize === 0 || m.msgSize > MAX_MSGBUF) {
    throw new DumpError(
      DumpCode.BadMagic,
      `dump: no struct msgbuf at ${hex(structVa)} (msg_magic ${hex(m.msgMagic)}, msg_size ${hex(m.msgSize)})`,
      { va: structVa, magic: m.msgMagic, size: m.msgSize },
    );
  }
  const buf = readKva(m.msgPtr, m.msgSize);
  return {
    offset: 0,
    size: m.msgSize,
    struct: { offset: 0, msgSize: m.msgSize, wseq: m.msgWseq, rseq: m.msgRseq },
    text: textOf(unwrap(buf, m.msgWseq)),
  };
}

/** Printable msgbuf lines, dmesg style (see the module contract). */
export function msgbufLines(text: string): string[] {
  const printable = (c: string): string => {
    const n = c.charCodeAt(0);
    return (n < 0x20 && n !== 0x09) || n === 0x7f ? '?' : c;
  };
  const lines = text
    .split('\n')
    .map((l) => Array.from(l.replace(/\r$/, '').replace(/^<\d{1,3}>/, ''), printable).join(''));
  while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  return lines;
}
