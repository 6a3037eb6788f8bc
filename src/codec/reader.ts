import { ProtocolError } from '../core/errors.js';

/** Bounds-checked reader: every overrun is a typed ProtocolError, never a RangeError. */
export class Reader {
  pos: number;
  /** Where reading stops; narrowed while one message of a frame is decoded, so it cannot read into the next. */
  end: number;
  constructor(
    readonly buf: Buffer,
    start = 0,
    end = buf.length,
  ) {
    this.pos = start;
    this.end = end;
  }
  get remaining(): number {
    return this.end - this.pos;
  }
  private need(n: number): void {
    if (this.pos + n > this.end) throw new ProtocolError('ERR_MALFORMED', `truncated: need ${n} bytes at ${this.pos}, have ${this.end - this.pos}`);
  }
  u8(): number {
    this.need(1);
    return this.buf[this.pos++]!;
  }
  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  uvar(): number {
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 8; i++) {
      this.need(1);
      const b = this.buf[this.pos++]!;
      result += (b & 0x7f) * mul;
      if (b < 0x80) return result;
      mul *= 0x80;
    }
    throw new ProtocolError('ERR_MALFORMED', 'varint longer than 8 bytes');
  }
  /** A view into the buffer (no copy). */
  bytes(n: number): Buffer {
    this.need(n);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
  lbytes(max = Infinity): Buffer {
    const n = this.uvar();
    if (n > max) throw new ProtocolError('ERR_MALFORMED', `length ${n} over limit ${max}`);
    return this.bytes(n);
  }
  str(max = 65535): string {
    const n = this.uvar();
    if (n > max) throw new ProtocolError('ERR_MALFORMED', `string length ${n} over limit ${max}`);
    this.need(n);
    const s = this.buf.toString('utf8', this.pos, this.pos + n);
    this.pos += n;
    return s;
  }
  rest(): Buffer {
    const b = this.buf.subarray(this.pos, this.end);
    this.pos = this.end;
    return b;
  }
}
