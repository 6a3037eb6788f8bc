/** Growable byte writer with LEB128 varints. One writer is reused across many messages. */
export class Writer {
  buf: Buffer;
  pos = 0;
  constructor(private readonly initial = 1024) {
    this.buf = Buffer.allocUnsafe(initial);
  }
  /**
   * What was written, as bytes the caller keeps (no copy): the writer lets go of its buffer and
   * starts a fresh one of its initial size, empty.
   */
  detach(): Buffer {
    const out = this.buf.subarray(0, this.pos);
    this.buf = Buffer.allocUnsafe(this.initial);
    this.pos = 0;
    return out;
  }
  reset(): void {
    this.pos = 0;
  }
  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }
  u8(v: number): void {
    this.ensure(1);
    this.buf[this.pos++] = v;
  }
  u32(v: number): void {
    this.ensure(4);
    this.buf.writeUInt32BE(v >>> 0, this.pos);
    this.pos += 4;
  }
  /** Unsigned varint, up to 2^53. */
  uvar(v: number): void {
    this.ensure(8);
    // Fast paths for the common small values (sequence numbers, lengths).
    if (v < 0x80) {
      this.buf[this.pos++] = v;
      return;
    }
    if (v < 0x4000) {
      this.buf[this.pos++] = (v & 0x7f) | 0x80;
      this.buf[this.pos++] = v >>> 7;
      return;
    }
    while (v >= 0x80) {
      this.buf[this.pos++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.pos++] = v;
  }
  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }
  /** Length-prefixed bytes. */
  lbytes(b: Uint8Array): void {
    this.uvar(b.length);
    this.bytes(b);
  }
  str(s: string): void {
    const len = Buffer.byteLength(s);
    this.uvar(len);
    this.ensure(len);
    this.buf.write(s, this.pos, 'utf8');
    this.pos += len;
  }
  /** Reserve 4 bytes for a length written later with `patchU32`. */
  reserveU32(): number {
    this.ensure(4);
    const at = this.pos;
    this.pos += 4;
    return at;
  }
  patchU32(at: number, v: number): void {
    this.buf.writeUInt32BE(v >>> 0, at);
  }
  /** A copy of what was written. */
  toBytes(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.pos));
  }
}
