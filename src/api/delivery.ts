import type { NodeId } from '../core/node-id.js';
import { decodePayload } from '../codec/payload.js';
import { ORDERS, type Order, type PayloadEncoding } from './app-header.js';

/** A message as the application receives it. The payload is decoded on first access. */
export class Delivery {
  private decoded: unknown = undefined;
  private isDecoded = false;
  constructor(
    readonly group: string,
    /** The sending member. */
    readonly src: NodeId,
    /** The sender's number for this message (unique per sender and group). */
    readonly id: number,
    private readonly orderCode: number,
    /** The payload as it travelled. */
    readonly raw: Buffer,
    private readonly encoding: PayloadEncoding,
  ) {}
  get order(): Order {
    return ORDERS[this.orderCode] ?? 'fifo';
  }
  get payload(): unknown {
    if (!this.isDecoded) {
      this.decoded = decodePayload(this.raw, this.encoding);
      this.isDecoded = true;
    }
    return this.decoded;
  }
}
