import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_STACK, DYNAMIC_STACK, SECURE_DYNAMIC_STACK, withGroupSecurity } from '../../../src/layers/index.js';
import { parseStackSpec } from '../../../src/stack/stack.js';

const names = (spec: ReturnType<typeof withGroupSecurity>): string =>
  parseStackSpec(spec)
    .map((l) => l.name)
    .join(':');

describe('withGroupSecurity (JoinOptions acl and encrypt)', () => {
  it('leaves the stack as it is without an ACL or encryption', () => {
    assert.equal(withGroupSecurity(DYNAMIC_STACK, {}), DYNAMIC_STACK);
  });

  it('puts CRYPT just above NAK and turns on group keys, as SECURE_DYNAMIC_STACK', () => {
    const s = withGroupSecurity(DYNAMIC_STACK, { encrypt: true });
    assert.equal(names(s), names(SECURE_DYNAMIC_STACK));
    assert.equal(names(s), 'TOTAL:CAUSAL:SAFE:GMS:STABLE:FC:FRAG:CRYPT:NAK:FD:COM');
    assert.deepEqual(parseStackSpec(s).find((l) => l.name === 'GMS')?.options, { groupKeys: true });
  });

  it("hands the ACL to GMS, keeping GMS's other options", () => {
    const acl = { join: [{ name: 'a' }, { role: 'replica' }] };
    const s = withGroupSecurity([{ name: 'GMS', options: { retryMs: 40 } }, 'NAK', 'FD', 'COM'], { acl });
    assert.deepEqual(parseStackSpec(s)[0], { name: 'GMS', options: { retryMs: 40, acl } });
  });

  it('refuses a fixed group, and a malformed ACL', () => {
    assert.throws(() => withGroupSecurity(DEFAULT_STACK, { encrypt: true }), { code: 'ERR_CONFIG' });
    assert.throws(() => withGroupSecurity(DYNAMIC_STACK, { acl: { join: [{ nick: 'a' }] } as never }), { code: 'ERR_CONFIG' });
  });
});
