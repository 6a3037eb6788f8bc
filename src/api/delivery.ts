import { ProtocolError } from '../core/errors.js';
import type { NodeId } from '../core/node-id.js';
import { decodePayload } from '../codec/payload.js';
import { ORDERS, type Order, type PayloadEncoding } from './app-header.js';

/** A message as the application receives it. The payload is decoded on first access. */
export class Delivery {
  private decoded: unknown = undefined;
  private isDecoded = false;
  /** @internal Deliveries come from the group's 'message' event. */
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
  /** The payload, decoded; throws ERR_MALFORMED if the sender's bytes do not decode. */
  get payload(): unknown {
    if (!this.isDecoded) {
      try {
        this.decoded = decodePayload(this.raw, this.encoding);
      } catch (cause) {
        throw new ProtocolError('ERR_MALFORMED', `payload of message ${this.id} from ${this.src} does not decode: ${(cause as Error).message}`, { cause });
      }
      this.isDecoded = true;
    }
    return this.decoded;
  }
}
