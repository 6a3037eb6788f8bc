import { ProtocolError } from '../core/errors.js';
import type { NodeId } from '../core/node-id.js';
import { decodePayload } from '../codec/payload.js';
import { ORDERS, type Order, type PayloadEncoding } from './app-header.js';

/**
 * A message as the application receives it: who sent it (`sender`), in which view it was
 * delivered (`viewId`), with which order (`order`), and what it says (`payload`, decoded on first
 * access; `raw` for the bytes as they travelled).
 */
/** `Delivery.decoded` before the payload's first decoding (one field, not a value and a flag). */
const NOT_DECODED: unique symbol = Symbol('not decoded');

/** `Delivery.codes`: the payload encoding in the low byte, the order code from bit 8 up (signed). */
const ORDER_SHIFT = 8;
const ENCODING_MASK = 0xff;

export class Delivery {
  private decoded: unknown = NOT_DECODED;
  /** The order code and the payload encoding in one small integer (one field fewer, 8 B a delivery). */
  private readonly codes: number;
  /** @internal Deliveries come from the group's 'message' event. */
  constructor(
    /** The group's name. */
    readonly group: string,
    /** The sending member (its member id: the node's address and its join number). */
    readonly sender: NodeId,
    /** The sender's number for this message (unique per sender and group). */
    readonly id: number,
    orderCode: number,
    /** The payload as it travelled. */
    readonly raw: Buffer,
    encoding: PayloadEncoding,
    /** The id of the view this message was delivered in (the view it was sent in: virtual synchrony). */
    readonly viewId: number,
  ) {
    this.codes = (orderCode << ORDER_SHIFT) | (encoding & ENCODING_MASK);
  }
  /**
   * The sending member.
   * @deprecated Use `sender`; `src` stays so that code written against 0.1 keeps working.
   */
  get src(): NodeId {
    return this.sender;
  }
  /** The order the sender asked for: 'fifo' (fbcast), 'causal' (cbcast), 'total' (abcast) or 'group' (gbcast). */
  get order(): Order {
    return ORDERS[this.codes >> ORDER_SHIFT] ?? 'fifo';
  }
  /** The payload, decoded; throws ERR_MALFORMED if the sender's bytes do not decode. */
  get payload(): unknown {
    if (this.decoded === NOT_DECODED) {
      try {
        this.decoded = decodePayload(this.raw, (this.codes & ENCODING_MASK) as PayloadEncoding);
      } catch (cause) {
        throw new ProtocolError('ERR_MALFORMED', `payload of message ${this.id} from ${this.sender} does not decode: ${(cause as Error).message}`, {
          cause,
        });
      }
    }
    return this.decoded;
  }
}
