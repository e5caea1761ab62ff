// The test control plane's node IPAM (test/apiserver/controllers.ts): the model of
// kube-controller-manager's range allocator that the multi-node tests and the
// Vagrant plan (vagrant/common.sh) rely on.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { allocateNodeCIDR } from '../apiserver/controllers.js';

test('node CIDRs: subnets of the cluster CIDR in order, round-robin after the last handed out, skipping used ones', () => {
  assert.deepEqual(allocateNodeCIDR('10.244.0.0/16', 24, []), { cidr: '10.244.0.0/24', next: 1 });
  assert.deepEqual(allocateNodeCIDR('10.244.0.0/16', 24, ['10.244.0.0/24'], 1), { cidr: '10.244.1.0/24', next: 2 });
  assert.deepEqual(allocateNodeCIDR('10.244.0.0/16', 24, ['10.244.2.0/24'], 2), { cidr: '10.244.3.0/24', next: 4 });
  // A freed subnet is not handed out again until the allocator wraps around.
  assert.deepEqual(allocateNodeCIDR('10.244.0.0/16', 24, ['10.244.1.0/24'], 2), { cidr: '10.244.2.0/24', next: 3 });
  assert.deepEqual(allocateNodeCIDR('10.240.0.0/23', 24, ['10.240.1.0/24'], 1), { cidr: '10.240.0.0/24', next: 1 }, 'wraps');
  assert.equal(allocateNodeCIDR('10.240.0.0/23', 24, ['10.240.0.0/24', '10.240.1.0/24']), undefined, 'all taken');
  assert.deepEqual(allocateNodeCIDR('10.240.0.1/16', 26, [], 5), { cidr: '10.240.1.64/26', next: 6 }, 'host bits in the cluster CIDR are ignored; /26 steps');
  assert.throws(() => allocateNodeCIDR('10.240.0.0/24', 16, []), /cannot cut \/16 subnets from 10\.240\.0\.0\/24/);
});
