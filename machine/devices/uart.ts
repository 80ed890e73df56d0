/**
 * The machine's console log, assembled from the bytes the UART transmitted.
 *
 * Contract: the CPU's UART (a 16550 at an I/O port on amd64, a PL011 at an MMIO base on arm64;
 * native/cpu_engine.cc collects the transmitted bytes) hands its bytes to `ConsoleLog.append` in
 * order. The log decodes them as UTF-8 across chunk boundaries (invalid sequences become
 * U+FFFD), ends a line at LF, drops the CR of CR LF and a lone CR, and keeps the unterminated
 * tail in `partial`. It keeps at most `maxBytes` of text (oldest lines go first) and counts
 * the bytes it had to drop (including those the native side dropped) in `dropped`.
 * The register facts of both UARTs are in native/cpu_engine.cc (16550D data sheet, ARM DDI 0183).
 */

/** Which UART a machine has and where (machine profile `uart`). */
export type UartConfig =
  { readonly kind: 'ns16550'; readonly port: number } | { readonly kind: 'pl011'; readonly base: bigint };

/** The COM1 port FreeBSD's amd64 console uses by default (sys/dev/uart/uart_cpu_x86.c). */
export const NS16550_COM1 = 0x3f8;

/** Default bound on the text a ConsoleLog keeps. */
export const CONSOLE_MAX_BYTES = 16 * 1024 * 1024;

/** Lines of console output. */
export class ConsoleLog {
  private readonly decoder = new TextDecoder('utf-8', { fatal: false });
  private readonly done: string[] = [];
  private doneBytes = 0;
  private tail = '';
  private droppedBytes = 0;
  private readonly maxBytes: number;

  constructor(opts: { readonly maxBytes?: number } = {}) {
    this.maxBytes = opts.maxBytes ?? CONSOLE_MAX_BYTES;
  }

  /** Adds transmitted bytes; `droppedBefore` counts bytes lost before these (native cap). */
  append(bytes: Uint8Array, droppedBefore = 0): void {
    this.droppedBytes += droppedBefore;
    if (bytes.length === 0) return;
    const text = this.tail + this.decoder.decode(bytes, { stream: true });
    const parts = text.split('\n');
    this.tail = parts.pop() ?? '';
    for (const p of parts) this.push(p.replace(/\r+$/, '').replace(/\r/g, ''));
  }

  private push(line: string): void {
    this.done.push(line);
    this.doneBytes += line.length + 1;
    while (this.doneBytes > this.maxBytes && this.done.length > 0) {
      const first = this.done.shift() ?? '';
      this.doneBytes -= first.length + 1;
      this.droppedBytes += first.length + 1;
    }
  }

  /** Completed lines, oldest first. */
  get lines(): readonly string[] {
    return this.done;
  }

  /** Text after the last LF. */
  get partial(): string {
    return this.tail.replace(/\r/g, '');
  }

  /** Bytes no longer held (too old, or lost natively). */
  get dropped(): number {
    return this.droppedBytes;
  }

  /** The whole log as text: completed lines joined by LF, then the partial line. */
  text(): string {
    const body = this.done.map((l) => `${l}\n`).join('');
    return body + this.partial;
  }
}
