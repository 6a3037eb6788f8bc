// A fixed-membership group cannot encrypt end to end or check an ACL (no coordinator makes view keys
// or admits joins): asking for either is a typed error at join that says why and what to do instead.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { HorusError } from '../../../src/core/errors.js';
import type { JoinOptions } from '../../../src/api/node.js';
import { SimCluster } from '../../helpers/sim-cluster.js';

describe('security options of a fixed-membership group', () => {
  const cases: JoinOptions[] = [{ encrypt: true }, { acl: { join: [{ name: 'a:1' }] } }];
  for (const opts of cases) {
    it(`${Object.keys(opts)[0]}: ERR_CONFIG at join, naming the fixed member list`, async () => {
      const c = new SimCluster(5);
      const a = c.start('a:1');
      const err = await a.join('g', { members: ['a:1', 'b:1'], ...opts }).then(
        () => null,
        (e: unknown) => e,
      );
      assert.ok(err instanceof HorusError, String(err));
      assert.equal(err.code, 'ERR_CONFIG');
      assert.match(err.message, /fixed member list/);
      assert.equal(a.groups().length, 0, 'no group was made');
    });
  }
});
