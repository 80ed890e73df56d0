/**
 * Test helpers for hand-written byte vectors: `fromHex('01 00 | 02')` ignores spaces, `|`
 * and newlines; `toHex` prints bytes the same way so failed comparisons read as hex.
 */
export function fromHex(text: string): Uint8Array {
  const digits = text.replace(/[\s|]+/g, '');
  if (!/^([0-9a-f]{2})*$/i.test(digits)) throw new Error(`fromHex: not hex bytes: ${text}`);
  return Uint8Array.from(digits.match(/../g) ?? [], (h) => parseInt(h, 16));
}

/** Bytes as space-separated lower-case hex, 16 per line. */
export function toHex(bytes: Uint8Array): string {
  const lines: string[] = [];
  for (let i = 0; i < bytes.length; i += 16) {
    lines.push(Array.from(bytes.subarray(i, i + 16), (b) => b.toString(16).padStart(2, '0')).join(' '));
  }
  return lines.join('\n');
}
