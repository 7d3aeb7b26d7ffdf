// The pure block logic: free-ordinal FIFO with reservations skipped, allocation bookkeeping
// (attributes shared per handle, sequence numbers), release and compaction, decoding checks.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseCidr } from '../lib/index.ts';
import {
  affinityHost,
  allocateOrdinals,
  allocatedCount,
  allocationAt,
  blockAllocations,
  decodeBlock,
  encodeBlock,
  handleOrdinals,
  ipOrdinal,
  newBlock,
  ordinalIp,
  pickFreeOrdinals,
  releaseOrdinals,
  reservedRanges,
} from './block.ts';
import { affinityKey, blockKey, blockName, handleKey, hostOfAffinityKey } from './keys.ts';

const T = new Date('2026-01-01T00:00:00Z');

describe('allocation block', () => {
  it('starts empty with every ordinal free in order', () => {
    const b = newBlock(parseCidr('10.0.0.64/29'), 'n1', T);
    assert.equal(b.cidr, '10.0.0.64/29');
    assert.equal(b.affinity, 'host:n1');
    assert.equal(affinityHost(b), 'n1');
    assert.equal(b.affinityClaimTime, '2026-01-01T00:00:00.000Z');
    assert.deepEqual(b.unallocated, [0, 1, 2, 3, 4, 5, 6, 7]);
    assert.deepEqual(b.allocations, new Array(8).fill(null));
    assert.equal(affinityHost(newBlock(parseCidr('10.0.0.0/30'), null, T)), undefined);
  });

  it('hands out ordinals in FIFO order, skipping reserved ones, and shares one attribute per handle', () => {
    const b = newBlock(parseCidr('10.0.0.0/29'), 'n1', T);
    const reserved = reservedRanges(b, [parseCidr('10.0.0.0/31'), parseCidr('10.0.0.5/32'), parseCidr('10.9.0.0/16'), parseCidr('fd00::/8')]);
    assert.deepEqual(reserved, [[0, 1], [5, 5]]);
    assert.deepEqual(pickFreeOrdinals(b, 3, reserved), [2, 3, 4]);
    const seq = allocateOrdinals(b, [2, 3], 'h1', { pod: 'a' });
    assert.equal(seq, 1);
    allocateOrdinals(b, [4], 'h2', {});
    assert.equal(b.attributes.length, 2);
    assert.deepEqual(pickFreeOrdinals(b, 10, reserved), [6, 7]);
    assert.deepEqual(allocationAt(b, 3), { ordinal: 3, ip: '10.0.0.3', handleId: 'h1', attrs: { pod: 'a' }, sequenceNumber: 1 });
    assert.equal(allocationAt(b, 4)?.sequenceNumber, 2);
    assert.equal(allocationAt(b, 5), undefined);
    assert.deepEqual(handleOrdinals(b, 'h1'), [2, 3]);
    assert.equal(allocatedCount(b), 3);
    assert.throws(() => allocateOrdinals(b, [2], 'h3', {}), /ordinal 2 is already allocated/);
  });

  it('release frees to the back of the queue, compacts attributes and counts per handle', () => {
    const b = newBlock(parseCidr('10.0.0.0/30'), 'n1', T);
    allocateOrdinals(b, [0], 'a', {});
    allocateOrdinals(b, [1, 2], 'b', { x: '1' });
    const perHandle = releaseOrdinals(b, [0, 1, 3]);
    assert.deepEqual([...perHandle], [['a', 1], ['b', 1]]);
    assert.deepEqual(b.unallocated, [3, 0, 1], 'freed ordinals queue behind never-used ones');
    assert.deepEqual(b.attributes, [{ handleId: 'b', attrs: { x: '1' } }]);
    assert.deepEqual(b.allocations, [null, null, 0, null]);
    assert.equal(b.sequenceNumber, 3);
    assert.deepEqual(blockAllocations(b).map((a) => a.ip), ['10.0.0.2']);
    assert.equal(releaseOrdinals(b, [0]).size, 0);
    assert.equal(b.sequenceNumber, 3, 'releasing nothing changes nothing');
  });

  it('maps IPv6 ordinals and addresses both ways', () => {
    const b = newBlock(parseCidr('fd00::40/122'), 'n1', T);
    assert.equal(b.allocations.length, 64);
    assert.equal(ordinalIp(b, 5), 'fd00::45');
    assert.equal(ipOrdinal(b, 'FD00:0::45'), 5);
    assert.equal(ipOrdinal(b, 'fd00::80'), undefined);
    assert.equal(ipOrdinal(b, '10.0.0.1'), undefined);
  });

  it('round-trips through JSON and refuses malformed values with the key named', () => {
    const b = newBlock(parseCidr('10.0.0.0/30'), 'n1', T);
    allocateOrdinals(b, [1], 'h', {});
    assert.deepEqual(decodeBlock('k', encodeBlock(b)), b);
    assert.throws(() => decodeBlock('/k', '{'), /IPAM block "\/k" is not valid JSON/);
    assert.throws(() => decodeBlock('/k', '{"cidr":"10.0.0.0/30","allocations":[null],"unallocated":[],"attributes":[]}'), /"allocations" must have 4 entries/);
    assert.throws(() => decodeBlock('/k', '{"allocations":[]}'), /"cidr" missing/);
  });

  it('names keys as Calico names blocks and escapes host and handle segments', () => {
    assert.equal(blockName('10.0.0.64/26'), '10-0-0-64-26');
    assert.equal(blockName('fd00:1::40/122'), 'fd00-1--40-122');
    assert.equal(blockKey('10.0.0.64/26'), '/brindle/ipam/v1/blocks/10-0-0-64-26');
    assert.equal(affinityKey('node/1', '10.0.0.64/26'), '/brindle/ipam/v1/affinities/node%2F1/10-0-0-64-26');
    assert.equal(hostOfAffinityKey(affinityKey('node/1', '10.0.0.64/26')), 'node/1');
    assert.equal(handleKey('k8s-pod-network.abc/def'), '/brindle/ipam/v1/handles/k8s-pod-network.abc%2Fdef');
  });
});
