import { HeaderIds } from '../codec/header-registry.js';
import type { Env } from '../core/env.js';
import { nodeOfMember } from '../core/member-id.js';
import type { Message } from '../core/message.js';
import type { NodeId } from '../core/node-id.js';
import { aclAdmits, identityOf, type Acl } from './acl.js';

/** Verdicts kept at most; past this the cache starts over (members come and go for ever). */
const MAX_VERDICTS = 4096;

/**
 * The `send` half of a group's ACL, as GMS applies it: may this member send application messages?
 * A member id names one node, whose proven identity does not change, so a verdict is kept per member
 * until the list changes (no identity look-up per message). A member whose identity is not known
 * here (no authenticated connection with it now) is refused and its verdict not kept: it speaks
 * only for itself, and only over a connection that proved who it is.
 */
export class SendAcl {
  private rules: Acl['send'];
  private readonly verdicts = new Map<NodeId, boolean>();

  constructor(
    private readonly env: Env,
    acl: Acl | undefined,
  ) {
    this.rules = acl?.send;
  }

  /** The list changed (a gbcast, at the same point at every member): verdicts start over. */
  set(acl: Acl | undefined): void {
    this.rules = acl?.send;
    this.verdicts.clear();
  }

  /** True when the list restricts senders at all (no `send` list: every member may send). */
  get restricts(): boolean {
    return this.rules !== undefined;
  }

  admits(member: NodeId): boolean {
    const rules = this.rules;
    if (rules === undefined) return true;
    const known = this.verdicts.get(member);
    if (known !== undefined) return known;
    const id = identityOf(this.env, nodeOfMember(member));
    const ok = aclAdmits({ send: rules }, 'send', id);
    if (id !== undefined) {
      if (this.verdicts.size >= MAX_VERDICTS) this.verdicts.clear();
      this.verdicts.set(member, ok);
    }
    return ok;
  }
}

/**
 * The group's application multicasts are what a send list governs; the layers' own traffic (ordering
 * tokens, acknowledgements) and point-to-point messages between members are not. Read below the
 * application: the header the group pushed first is at the bottom of the message's header stack.
 */
export function isApplicationMulticast(msg: Message): boolean {
  return msg.htop > 0 && msg.htypes[0]?.id === HeaderIds.APP;
}

/**
 * Application messages a receiver's ACL refused. GMS cannot simply drop them: an ordering layer
 * above may wait for them (a total order names each message), so it marks them and the group
 * drops them on delivery, at the same point of the order at every member.
 */
const refusedSends = new WeakSet<Message>();

export function markRefusedSend(msg: Message): void {
  refusedSends.add(msg);
}

export function isRefusedSend(msg: Message): boolean {
  return refusedSends.has(msg);
}
