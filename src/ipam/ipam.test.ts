// Block IPAM behaviour against both real backends: allocation and block claiming, exhaustion,
// borrowing and strictAffinity, reservations, disabled pools, nodeSelector, specific addresses,
// release by handle and by address, dual-stack (with rollback), usage and crashed claims.

import assert from 'node:assert/strict';
import { it } from 'node:test';
import { cidrContains, ipInCidr, isBrindleError } from '../lib/index.ts';
import type { Datastore } from '../datastore/index.ts';
import { checkIpam } from './check.ts';
import { Ipam } from './ipam.ts';
import { IpamExhaustedError } from './ipam.ts';

/**
 * The store as seen by a process that is killed at its k-th write (just before it, or just after
 * it lands): from then on every call fails, as nothing more would run. `fired` tells whether the
 * run got that far.
 */
function killedAtWrite(ds: Datastore, k: number, after: boolean): { ds: Datastore; fired: () => boolean } {
  let writes = 0;
  let dead = false;
  const proxy = new Proxy(ds, {
    get(target, prop) {
      const value = Reflect.get(target, prop) as unknown;
      if (typeof value !== 'function') return value;
      return async (...args: unknown[]) => {
        if (dead) throw new Error('process killed');
        const isWrite = prop === 'create' || prop === 'update' || prop === 'delete';
        if (isWrite && ++writes === k) {
          dead = true;
          if (after) await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
          throw new Error('process killed');
        }
        return (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
      };
    },
  });
  return { ds: proxy, fired: () => dead };
}
import { forEachBackend } from './ipam-test-support.ts';
import { affinityKey, blockKey, handleKey } from './keys.ts';

forEachBackend('Ipam', (env) => {
  it('allocates from a /26 block claimed for the host and records affinity and handle', async () => {
    const e = env();
    await e.addPool('default-ipv4', '10.10.0.0/16');
    const ipam = e.ipam('n1');
    const r = await ipam.autoAssign({ handleId: 'net.c1', num4: 1, attrs: { node: 'n1', namespace: 'default', pod: 'a' } });
    assert.equal(r.ipv4.length, 1);
    assert.equal(r.ipv6.length, 0);
    const a = r.ipv4[0];
    assert.equal(a.pool, 'default-ipv4');
    assert.match(a.block, /^10\.10\.\d+\.\d+\/26$/);
    assert.ok(ipInCidr(a.ip, a.block));
    assert.equal(a.cidr, `${a.ip}/26`);
    assert.equal(a.borrowed, false);
    const block = await ipam.getBlock(a.block);
    assert.equal(block?.affinity, 'host:n1');
    const affs = await ipam.listAffinities('n1');
    assert.deepEqual(affs, [{ host: 'n1', cidr: a.block, state: 'confirmed' }]);
    assert.deepEqual(await ipam.getHandle('net.c1'), {
      handleId: 'net.c1',
      attrs: { node: 'n1', namespace: 'default', pod: 'a' },
      blocks: { [a.block]: 1 },
    });
    const info = await ipam.ipInfo(a.ip);
    assert.equal(info.allocation?.handleId, 'net.c1');
    assert.deepEqual(info.allocation?.attrs, { node: 'n1', namespace: 'default', pod: 'a' });
    assert.equal(info.blockHost, 'n1');
  });

  it('keeps using the host block, claims a second when it is full, and never repeats an address', async () => {
    const e = env();
    await e.addPool('p', '10.20.0.0/24', { blockSize: 28 });
    const ipam = e.ipam('n1');
    const ips = new Set<string>();
    const blocks = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const [a] = (await ipam.autoAssign({ handleId: `h${i}`, num4: 1 })).ipv4;
      ips.add(a.ip);
      blocks.add(a.block);
    }
    assert.equal(ips.size, 20);
    assert.equal(blocks.size, 2);
    const mine = (await ipam.listBlocks({ host: 'n1' })).map((b) => [b.cidr, b.allocated]);
    assert.deepEqual(mine.map(([, n]) => n).sort(), [16, 4]);
    // Several addresses in one request may span blocks.
    const r = await ipam.autoAssign({ handleId: 'multi', num4: 14 });
    assert.equal(r.ipv4.length, 14);
    assert.equal(new Set(r.ipv4.map((a) => a.ip)).size, 14);
    assert.ok(r.ipv4.every((a) => !ips.has(a.ip)));
    assert.equal(Object.values((await ipam.getHandle('multi'))!.blocks).reduce((s, n) => s + n, 0), 14);
  });

  it('dual-stack: one IPv4 and one IPv6 address, /122 blocks and the pool blockSize', async () => {
    const e = env();
    await e.addPool('v4', '10.30.0.0/24', { blockSize: 29 });
    await e.addPool('v6', 'fd00:30::/64');
    const r = await e.ipam('n1').autoAssign({ handleId: 'ds', num4: 1, num6: 1 });
    assert.equal(r.ipv4.length, 1);
    assert.equal(r.ipv6.length, 1);
    assert.match(r.ipv4[0].block, /\/29$/);
    assert.match(r.ipv6[0].block, /^fd00:30::[0-9a-f:]*\/122$/);
    assert.equal(r.ipv6[0].family, 6);
    assert.ok(ipInCidr(r.ipv6[0].ip, 'fd00:30::/64'));
    assert.deepEqual(Object.keys((await e.ipam('n1').getHandle('ds'))!.blocks).sort(), [r.ipv4[0].block, r.ipv6[0].block].sort());
  });

  it('dual-stack is all or nothing: a missing IPv6 pool releases the IPv4 address taken', async () => {
    const e = env();
    await e.addPool('v4', '10.31.0.0/24');
    const ipam = e.ipam('n1');
    await assert.rejects(ipam.autoAssign({ handleId: 'ds', num4: 1, num6: 1 }), (err: Error) => {
      assert.ok(err instanceof IpamExhaustedError);
      assert.match(err.message, /Cannot allocate an IPv6 address for handle "ds": there is no IPv6 pool/);
      return true;
    });
    const blocks = await ipam.listBlocks();
    assert.equal(blocks.reduce((s, b) => s + b.allocated, 0), 0);
    assert.equal(await ipam.getHandle('ds'), undefined);
  });

  it('an exhausted pool fails with a clear error and allocates nothing', async () => {
    const e = env();
    await e.addPool('tiny', '10.40.0.0/29', { blockSize: 29 });
    const ipam = e.ipam('n1');
    const got = await ipam.autoAssign({ handleId: 'all', num4: 8 });
    assert.equal(got.ipv4.length, 8);
    await assert.rejects(ipam.autoAssign({ handleId: 'one-more', num4: 1 }), (err: Error) => {
      assert.ok(err instanceof IpamExhaustedError);
      assert.equal(err.code, 'E_CONFLICT');
      assert.equal(
        err.message,
        'Cannot allocate 1 IPv4 address for handle "one-more" on host "n1": no free address in any block of pool "tiny" 10.40.0.0/29',
      );
      return true;
    });
    assert.equal(await ipam.getHandle('one-more'), undefined);
    // Asking for more than is left takes nothing at all.
    await ipam.releaseIPs([got.ipv4[0].ip, got.ipv4[1].ip]);
    await assert.rejects(ipam.autoAssign({ handleId: 'three', num4: 3 }), /found only 2/);
    assert.equal((await ipam.listBlocks())[0].allocated, 6);
    assert.equal(await ipam.getHandle('three'), undefined);
  });

  it('borrows from another host’s block when the pool has no free block', async () => {
    const e = env();
    await e.addPool('p', '10.50.0.0/28', { blockSize: 28 });
    const [a] = (await e.ipam('n1').autoAssign({ handleId: 'a', num4: 1 })).ipv4;
    const [b] = (await e.ipam('n2').autoAssign({ handleId: 'b', num4: 1 })).ipv4;
    assert.equal(b.block, a.block);
    assert.equal(b.borrowed, true);
    assert.equal(a.borrowed, false);
    assert.notEqual(a.ip, b.ip);
    assert.equal((await e.ipam('n2').getBlock(a.block))?.affinity, 'host:n1', 'borrowing does not move the affinity');
    assert.deepEqual(await e.ipam('n2').listAffinities('n2'), []);
  });

  it('strictAffinity forbids borrowing, with the documented message', async () => {
    const e = env();
    await e.addPool('default-ipv4', '10.51.0.0/28', { blockSize: 28 });
    await e.ipam('n1').autoAssign({ handleId: 'a', num4: 1 });
    await e.ipam('n1').setConfig({ strictAffinity: true });
    await assert.rejects(e.ipam('n2').autoAssign({ handleId: 'b', num4: 1 }), (err: Error) => {
      assert.ok(err instanceof IpamExhaustedError);
      assert.equal(err.message, 'Cannot allocate from pool "default-ipv4": no free address in any block and borrowing is disabled (strictAffinity)');
      assert.deepEqual(err.pools, ['default-ipv4']);
      return true;
    });
    // The owner still allocates from its own block.
    assert.equal((await e.ipam('n1').autoAssign({ handleId: 'c', num4: 1 })).ipv4.length, 1);
  });

  it('maxBlocksPerHost caps the blocks a host claims (with strictAffinity)', async () => {
    const e = env();
    await e.addPool('p', '10.52.0.0/24', { blockSize: 30 });
    const ipam = e.ipam('n1');
    await assert.rejects(ipam.setConfig({ maxBlocksPerHost: 2 }), /needs strictAffinity: true/);
    await ipam.setConfig({ strictAffinity: true, maxBlocksPerHost: 2 });
    assert.deepEqual(await ipam.getConfig(), { strictAffinity: true, maxBlocksPerHost: 2, autoAllocateBlocks: true });
    assert.equal((await ipam.autoAssign({ handleId: 'eight', num4: 8 })).ipv4.length, 8);
    await assert.rejects(ipam.autoAssign({ handleId: 'nine', num4: 1 }), /host "n1" has its 2 blocks \(maxBlocksPerHost\) full and borrowing is disabled/);
    assert.equal((await ipam.listAffinities('n1')).length, 2);
  });

  it('never hands out addresses inside an IPReservation, and counts them as reserved', async () => {
    const e = env();
    await e.addPool('p', '10.60.0.0/28', { blockSize: 28 });
    await e.addReservation('gw', ['10.60.0.0/30', '10.60.0.15']);
    const ipam = e.ipam('n1');
    const got = await ipam.autoAssign({ handleId: 'all', num4: 11 });
    for (const a of got.ipv4) {
      assert.ok(!ipInCidr(a.ip, '10.60.0.0/30') && a.ip !== '10.60.0.15', `${a.ip} is reserved`);
    }
    await assert.rejects(ipam.autoAssign({ handleId: 'x', num4: 1 }), IpamExhaustedError);
    const [u] = (await ipam.usage()).pools;
    assert.deepEqual([u.total, u.inUse, u.reserved, u.free], [16n, 11n, 5n, 0n]);
    await assert.rejects(ipam.assignIP({ ip: '10.60.0.2', handleId: 'y' }), /reserved by IPReservation "gw" \(10\.60\.0\.0\/30\)/);
  });

  it('a disabled pool is skipped, its addresses stay; with no other pool allocation fails', async () => {
    const e = env();
    await e.addPool('old', '10.70.0.0/24');
    const ipam = e.ipam('n1');
    const [kept] = (await ipam.autoAssign({ handleId: 'kept', num4: 1 })).ipv4;
    const pool = (await e.resources.get({ kind: 'IPPool', name: 'old' }))!;
    await e.resources.update({ ...pool, spec: { ...(pool.spec as object), disabled: true } } as typeof pool);
    await assert.rejects(ipam.autoAssign({ handleId: 'h', num4: 1 }), /none of the IPv4 pools \("old"\) is enabled/);
    await assert.rejects(ipam.autoAssign({ handleId: 'h', num4: 1, pools: ['old'] }), /IP pool "old" is disabled/);
    await e.addPool('new', '10.71.0.0/24');
    const [a] = (await ipam.autoAssign({ handleId: 'h', num4: 1 })).ipv4;
    assert.equal(a.pool, 'new');
    assert.equal((await ipam.ipInfo(kept.ip)).allocation?.handleId, 'kept');
  });

  it('pool nodeSelector is matched against the Node’s labels', async () => {
    const e = env();
    await e.addPool('rack1', '10.80.1.0/24', { nodeSelector: 'rack == "r1"' });
    await e.addPool('rack2', '10.80.2.0/24', { nodeSelector: 'rack == "r2"' });
    await e.addNode('n1', { rack: 'r1' });
    await e.addNode('n2', { rack: 'r2' });
    const [a] = (await e.ipam('n1').autoAssign({ handleId: 'a', num4: 1 })).ipv4;
    const [b] = (await e.ipam('n2').autoAssign({ handleId: 'b', num4: 1 })).ipv4;
    assert.equal(a.pool, 'rack1');
    assert.equal(b.pool, 'rack2');
    await assert.rejects(e.ipam('n3').autoAssign({ handleId: 'c', num4: 1 }), /matches host "n3"/);
    await assert.rejects(e.ipam('n1').autoAssign({ handleId: 'd', num4: 1, pools: ['rack2'] }), /IP pool "rack2" is not for host "n1"/);
  });

  it('explicit pools by name or CIDR; unknown pools are an error', async () => {
    const e = env();
    await e.addPool('a', '10.90.0.0/24');
    await e.addPool('b', '10.91.0.0/24');
    await e.addPool('manual', '10.92.0.0/24', { assignmentMode: 'Manual' });
    const ipam = e.ipam('n1');
    assert.equal((await ipam.autoAssign({ handleId: '1', num4: 1, pools: ['b'] })).ipv4[0].pool, 'b');
    assert.equal((await ipam.autoAssign({ handleId: '2', num4: 1, pools: ['10.90.0.0/24'] })).ipv4[0].pool, 'a');
    assert.equal((await ipam.autoAssign({ handleId: '3', num4: 1, pools: ['manual'] })).ipv4[0].pool, 'manual');
    for (let i = 0; i < 5; i++) assert.notEqual((await ipam.autoAssign({ handleId: `x${i}`, num4: 1 })).ipv4[0].pool, 'manual');
    await assert.rejects(ipam.autoAssign({ handleId: '4', num4: 1, pools: ['nope'] }), (err: Error) => {
      assert.ok(isBrindleError(err, 'E_INVALID'));
      assert.match(err.message, /IP pool "nope" does not exist/);
      return true;
    });
  });

  it('assignIP takes one given address, claiming its block; refuses taken, reserved and outside addresses', async () => {
    const e = env();
    await e.addPool('p', '10.100.0.0/24', { blockSize: 28 });
    const ipam = e.ipam('n1');
    const a = await ipam.assignIP({ ip: '10.100.0.37', handleId: 'fixed', attrs: { pod: 'db' } });
    assert.deepEqual(
      { ip: a.ip, block: a.block, cidr: a.cidr, pool: a.pool, borrowed: a.borrowed },
      { ip: '10.100.0.37', block: '10.100.0.32/28', cidr: '10.100.0.37/28', pool: 'p', borrowed: false },
    );
    assert.equal((await ipam.getBlock('10.100.0.32/28'))?.affinity, 'host:n1');
    await assert.rejects(ipam.assignIP({ ip: '10.100.0.37', handleId: 'other' }), (err: Error) => {
      assert.ok(isBrindleError(err, 'E_EXISTS'));
      assert.match(err.message, /Cannot assign 10\.100\.0\.37 to handle "other": it is already allocated to handle "fixed"/);
      return true;
    });
    await assert.rejects(ipam.assignIP({ ip: '192.168.9.9', handleId: 'z' }), /Cannot assign 192\.168\.9\.9: it is not inside any IP pool/);
    await assert.rejects(ipam.assignIP({ ip: 'nonsense', handleId: 'z' }), /"nonsense" is not an IP address/);
    // Another host asking for an address in n1's block borrows it.
    const b = await e.ipam('n2').assignIP({ ip: '10.100.0.38', handleId: 'n2-fixed' });
    assert.equal(b.borrowed, true);
    // IPv6 specific address, written in a non-canonical form.
    await e.addPool('p6', 'fd00:100::/120');
    const c = await ipam.assignIP({ ip: 'FD00:100:0::0042', handleId: 'v6' });
    assert.equal(c.ip, 'fd00:100::42');
    assert.equal(c.block, 'fd00:100::40/122');
    // autoAssign never hands out the assigned address.
    const all = await ipam.autoAssign({ handleId: 'rest', num4: 14 });
    assert.ok(!all.ipv4.some((x) => x.ip === '10.100.0.37' || x.ip === '10.100.0.38'));
  });

  it('releaseByHandle frees every address of the handle, deletes it, and is idempotent', async () => {
    const e = env();
    await e.addPool('v4', '10.110.0.0/24', { blockSize: 28 });
    await e.addPool('v6', 'fd00:110::/120');
    const ipam = e.ipam('n1');
    const r = await ipam.autoAssign({ handleId: 'pod', num4: 2, num6: 1 });
    assert.deepEqual((await ipam.handleAddresses('pod')).map((a) => a.ip).sort(), [...r.ipv4, ...r.ipv6].map((a) => a.ip).sort());
    const released = await ipam.releaseByHandle('pod');
    assert.deepEqual(released.sort(), [...r.ipv4, ...r.ipv6].map((a) => a.ip).sort());
    assert.equal(await ipam.getHandle('pod'), undefined);
    assert.equal(await e.ds.get(handleKey('pod')), undefined);
    assert.deepEqual(await ipam.releaseByHandle('pod'), []);
    assert.deepEqual(await ipam.releaseByHandle('never-existed'), []);
    for (const a of [...r.ipv4, ...r.ipv6]) assert.equal((await ipam.ipInfo(a.ip)).allocation, null);
    // Freed addresses go to the back of the queue: the next allocation gets a different one.
    const [next] = (await ipam.autoAssign({ handleId: 'next', num4: 1 })).ipv4;
    assert.ok(!r.ipv4.some((a) => a.ip === next.ip));
  });

  it('releaseIPs frees by address, but not when the handle or sequence number no longer match', async () => {
    const e = env();
    await e.addPool('p', '10.120.0.0/24');
    const ipam = e.ipam('n1');
    const [a] = (await ipam.autoAssign({ handleId: 'a', num4: 1 })).ipv4;
    const [b] = (await ipam.autoAssign({ handleId: 'b', num4: 1 })).ipv4;
    const [c] = (await ipam.autoAssign({ handleId: 'c', num4: 1 })).ipv4;
    const r = await ipam.releaseIPs([
      a.ip,
      { ip: b.ip, handleId: 'someone-else' },
      { ip: c.ip, handleId: 'c', sequenceNumber: c.sequenceNumber + 100 },
      '10.120.0.250',
      'junk',
    ]);
    assert.deepEqual(r.released, [a.ip]);
    assert.deepEqual(r.notReleased.map((x) => x.ip).sort(), ['junk', b.ip, c.ip, '10.120.0.250'].sort());
    const reasons = Object.fromEntries(r.notReleased.map((n) => [n.ip, n.reason]));
    assert.equal(reasons.junk, 'not an IP address');
    assert.match(reasons[b.ip], /now allocated to handle "b", not "someone-else"/);
    assert.match(reasons[c.ip], /re-allocated since/);
    assert.ok(['not allocated', 'no IPAM block contains it'].includes(reasons['10.120.0.250']));
    assert.equal(await ipam.getHandle('a'), undefined, 'the handle of the last address released goes away');
    assert.ok(await ipam.getHandle('b'));
    // With the right sequence number it goes.
    assert.deepEqual((await ipam.releaseIPs([{ ip: c.ip, handleId: 'c', sequenceNumber: c.sequenceNumber }])).released, [c.ip]);
  });

  it('usage counts per pool and per block', async () => {
    const e = env();
    await e.addPool('p', '10.130.0.0/26', { blockSize: 28 });
    await e.addReservation('r', ['10.130.0.0/31']);
    await e.ipam('n1').autoAssign({ handleId: 'a', num4: 3 });
    await e.ipam('n2').autoAssign({ handleId: 'b', num4: 2 });
    const u = await e.ipam('n1').usage();
    assert.equal(u.pools.length, 1);
    assert.deepEqual(
      { total: u.pools[0].total, inUse: u.pools[0].inUse, reserved: u.pools[0].reserved, free: u.pools[0].free, blocks: u.pools[0].blocks },
      { total: 64n, inUse: 5n, reserved: 2n, free: 57n, blocks: 2 },
    );
    const byHost = Object.fromEntries(u.blocks.map((b) => [b.host, b.allocated]));
    assert.deepEqual(byHost, { n1: 3, n2: 2 });
    assert.ok(u.blocks.every((b) => b.pool === 'p' && b.size === 16 && cidrContains('10.130.0.0/26', b.cidr)));
  });

  it('finishes a claim a crashed process left pending, and drops one for a block another host owns', async () => {
    const e = env();
    await e.addPool('p', '10.140.0.0/24', { blockSize: 28 });
    // A process of n1 wrote its pending affinity for 10.140.0.64/28 and died before creating the block.
    await e.ds.create(affinityKey('n1', '10.140.0.64/28'), JSON.stringify({ host: 'n1', cidr: '10.140.0.64/28', state: 'pending' }));
    const [a] = (await e.ipam('n1').autoAssign({ handleId: 'a', num4: 1 })).ipv4;
    assert.equal(a.block, '10.140.0.64/28');
    assert.deepEqual(await e.ipam('n1').listAffinities('n1'), [{ host: 'n1', cidr: '10.140.0.64/28', state: 'confirmed' }]);
    // n3 has a pending affinity for n1's block (it lost the race): it is removed, n3 gets a block of its own.
    await e.ds.create(affinityKey('n3', '10.140.0.64/28'), JSON.stringify({ host: 'n3', cidr: '10.140.0.64/28', state: 'pending' }));
    const [c] = (await e.ipam('n3').autoAssign({ handleId: 'c', num4: 1 })).ipv4;
    assert.notEqual(c.block, '10.140.0.64/28');
    assert.deepEqual((await e.ipam('n3').listAffinities('n3')).map((x) => x.cidr), [c.block]);
    assert.equal(await e.ds.get(affinityKey('n3', '10.140.0.64/28')), undefined);
  });

  it('gives up a deleted host’s blocks: empty ones are deleted, used ones lose their affinity and are adopted later', async () => {
    const e = env();
    await e.addPool('p', '10.150.0.0/27', { blockSize: 28 });
    const gone = e.ipam('gone');
    const [kept] = (await gone.autoAssign({ handleId: 'kept', num4: 1 })).ipv4;
    const [freed] = (await gone.autoAssign({ handleId: 'freed', num4: 1, pools: ['p'] })).ipv4;
    assert.equal(kept.block, freed.block);
    const r = await gone.releaseHostAffinities('gone');
    assert.deepEqual(r, { deleted: [], unaffined: [kept.block] });
    assert.equal((await gone.getBlock(kept.block))?.affinity, null);
    assert.deepEqual(await gone.listAffinities('gone'), []);
    // A new host claims the other block first, then adopts the ownerless one instead of borrowing.
    const n2 = e.ipam('n2');
    await n2.autoAssign({ handleId: 'fill', num4: 16 });
    const [x] = (await n2.autoAssign({ handleId: 'x', num4: 1 })).ipv4;
    assert.equal(x.block, kept.block);
    assert.equal(x.borrowed, false);
    assert.equal((await n2.getBlock(kept.block))?.affinity, 'host:n2');
    // An empty block of a deleted host is removed outright.
    await n2.releaseByHandle('kept');
    await n2.releaseByHandle('freed');
    await n2.releaseByHandle('x');
    assert.equal(await e.ds.get(blockKey(kept.block)) !== undefined, true);
    const r2 = await n2.releaseHostAffinities('n2');
    assert.deepEqual(r2.deleted.sort(), [kept.block]);
    assert.equal(r2.unaffined.length, 1);
  });

  it('parallel requests from three hosts in one process never share an address', async () => {
    const e = env();
    await e.addPool('p', '10.160.0.0/24', { blockSize: 28 });
    const hosts = ['n1', 'n2', 'n3'].map((h) => e.ipam(h));
    const results = await Promise.all(
      Array.from({ length: 60 }, (_, i) => hosts[i % 3].autoAssign({ handleId: `h${i}`, num4: 1 })),
    );
    const ips = results.map((r) => r.ipv4[0].ip);
    assert.equal(new Set(ips).size, 60);
    const blocks = await hosts[0].listBlocks();
    assert.equal(blocks.reduce((s, b) => s + b.allocated, 0), 60);
    assert.equal((await hosts[0].listHandles()).length, 60);
  });

  it('a process killed at any write of a dual-stack allocation leaves nothing behind once DEL runs', async () => {
    const e = env();
    await e.addPool('v4', '10.180.0.0/24', { blockSize: 28 });
    await e.addPool('v6', 'fd00:180::/120');
    const points: string[] = [];
    for (const after of [false, true]) {
      for (let k = 1; ; k++) {
        const handleId = `kill.${after ? 'after' : 'before'}.${k}`;
        // Odd rounds use a fresh host (the claim path: affinity, block, confirm), even ones a warm host.
        const host = k % 2 === 1 ? `fresh-${after}-${k}` : 'warm';
        const killed = killedAtWrite(e.ds, k, after);
        const dying = new Ipam(killed.ds, { host });
        await dying.autoAssign({ handleId, num4: 1, num6: 1, attrs: { node: host, pod: handleId } }).catch((err: Error) => {
          assert.equal(err.message, 'process killed');
        });
        if (!killed.fired()) {
          // k went past the last write: the allocation completed; undo it and stop.
          assert.equal((await e.ipam(host).releaseByHandle(handleId)).length, 2);
          break;
        }
        points.push(`${after ? 'after' : 'before'} write ${k}`);
        // The runtime calls DEL for the failed ADD; it must find and free whatever was taken.
        await e.ipam(host).releaseByHandle(handleId);
        const blocks = await e.ipam(host).listBlocks();
        const left = blocks.flatMap((b) => b.allocations).filter((a) => a.handleId === handleId);
        assert.deepEqual(left, [], `killed ${points.at(-1)}: addresses left for ${handleId}`);
        assert.equal(await e.ipam(host).getHandle(handleId), undefined, `killed ${points.at(-1)}: handle left`);
      }
    }
    assert.ok(points.length >= 8, `kill points exercised: ${points.join(', ')}`);
    // Whatever half-claims were left, the hosts still allocate, and the store holds no leaks.
    for (const host of ['warm', 'fresh-false-1', 'fresh-true-3']) {
      const r = await e.ipam(host).autoAssign({ handleId: `after.${host}`, num4: 1, num6: 1 });
      assert.equal(r.ipv4.length + r.ipv6.length, 2);
    }
    const report = await checkIpam(e.ipam('warm'));
    assert.deepEqual(report.handlesWithoutAllocations, []);
    assert.equal(report.summary.allocations, 6);
    // Claims still pending belong to hosts killed mid-claim that have not allocated since: each is
    // that host's own unfinished claim (no block yet, or the host's block not yet confirmed).
    for (const a of await e.ipam('warm').listAffinities()) {
      if (a.state === 'confirmed') continue;
      const block = await e.ipam('warm').getBlock(a.cidr);
      assert.ok(block === undefined || block.affinity === `host:${a.host}`, `pending ${a.host} ${a.cidr}`);
    }
  });

  it('a claim left pending by a dead process stops blocking other hosts after a minute', async () => {
    const e = env();
    await e.addPool('one', '10.190.0.0/28', { blockSize: 28 });
    const t0 = Date.parse('2026-03-01T10:00:00Z');
    await e.ds.create(
      affinityKey('dead', '10.190.0.0/28'),
      JSON.stringify({ host: 'dead', cidr: '10.190.0.0/28', state: 'pending', claimTime: new Date(t0).toISOString() }),
    );
    const early = e.ipam('n2', { now: () => new Date(t0 + 30_000) });
    await assert.rejects(early.autoAssign({ handleId: 'a', num4: 1 }), IpamExhaustedError);
    const later = e.ipam('n2', { now: () => new Date(t0 + 60_000) });
    const [a] = (await later.autoAssign({ handleId: 'a', num4: 1 })).ipv4;
    assert.equal(a.block, '10.190.0.0/28');
    assert.equal(a.borrowed, false);
    assert.deepEqual((await later.listAffinities()).map((x) => [x.host, x.state]), [['n2', 'confirmed']]);
  });

  it('rejects bad requests before touching the store', async () => {
    const e = env();
    await e.addPool('p', '10.170.0.0/24');
    const ipam = e.ipam('n1');
    const before = await e.ds.revision();
    await assert.rejects(ipam.autoAssign({ handleId: '', num4: 1 }), /handleId: a handle id is required/);
    await assert.rejects(ipam.autoAssign({ handleId: 'h', num4: 0 }), /nothing to allocate/);
    await assert.rejects(ipam.autoAssign({ handleId: 'h', num4: -1 }), /num4: must be a whole number/);
    await assert.rejects(e.ipam('').autoAssign({ handleId: 'h', num4: 1 }), /IPAM needs the host/);
    assert.equal(await e.ds.revision(), before);
  });
});
