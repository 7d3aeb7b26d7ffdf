// `ipam check` and its follow-ups against both backends: the report (leaks, endpoint addresses IPAM
// never allocated, shared addresses, blocks of deleted hosts, empty handles), release-from-report
// re-checking each leak, and the garbage collector's grace period on an injected clock.

import assert from 'node:assert/strict';
import { it } from 'node:test';
import { checkIpam, parseCheckReport, releaseFromReport } from './check.ts';
import { IpamGarbageCollector } from './gc.ts';
import { forEachBackend } from './ipam-test-support.ts';
import type { IpamTestEnv } from './ipam-test-support.ts';
import { handleKey } from './keys.ts';

/** A small cluster: n1 alive with two pods (one leaked), n9 deleted with one leaked pod. */
async function scenario(e: IpamTestEnv) {
  await e.addPool('p', '10.10.0.0/24', { blockSize: 28 });
  await e.addNode('n1');
  const n1 = e.ipam('n1');
  const [used] = (await n1.autoAssign({ handleId: 'net.used', num4: 1, attrs: { node: 'n1', namespace: 'default', pod: 'used' } })).ipv4;
  const [leak] = (await n1.autoAssign({ handleId: 'net.leak', num4: 1, attrs: { node: 'n1', namespace: 'default', pod: 'gone' } })).ipv4;
  const [tunnel] = (await n1.autoAssign({ handleId: 'vxlan-tunnel-addr-n1', num4: 1, attrs: { node: 'n1', type: 'vxlanTunnelAddress' } })).ipv4;
  const [bare] = (await n1.autoAssign({ handleId: 'manual', num4: 1 })).ipv4;
  const [n9ip] = (await e.ipam('n9').autoAssign({ handleId: 'net.n9', num4: 1, attrs: { node: 'n9', namespace: 'default', pod: 'old' } })).ipv4;
  await e.addEndpoint('default', 'used', 'n1', [`${used.ip}/32`]);
  await e.addEndpoint('default', 'static', 'n1', ['10.10.0.200/32']); // in the pool, never allocated
  await e.addEndpoint('default', 'outside', 'n1', ['192.168.50.5/32']);
  await e.addEndpoint('other', 'twin', 'n1', [`${used.ip}/32`]);
  return { n1, used, leak, tunnel, bare, n9ip };
}

forEachBackend('ipam check', (env) => {
  it('reports leaks, unallocated endpoint addresses, shared addresses and blocks of deleted hosts', async () => {
    const e = env();
    const s = await scenario(e);
    const r = await checkIpam(s.n1, new Date('2026-01-02T03:04:05Z'));
    assert.equal(r.kind, 'IpamCheckReport');
    assert.equal(r.generatedAt, '2026-01-02T03:04:05.000Z');
    assert.equal(r.datastore, e.ds.url);
    assert.deepEqual(
      r.leakedAllocations.map((l) => [l.ip, l.handleId, l.reason]).sort(),
      [
        [s.leak.ip, 'net.leak', 'no WorkloadEndpoint has this address'],
        [s.n9ip.ip, 'net.n9', 'no WorkloadEndpoint has this address and node "n9" no longer exists'],
      ].sort(),
    );
    const leak = r.leakedAllocations.find((l) => l.handleId === 'net.leak')!;
    assert.equal(leak.sequenceNumber, s.leak.sequenceNumber);
    assert.equal(leak.block, s.leak.block);
    assert.deepEqual(leak.attrs, { node: 'n1', namespace: 'default', pod: 'gone' });
    assert.deepEqual(r.endpointsWithoutAllocation, [
      { ip: '192.168.50.5', endpoint: 'default/outside', node: 'n1', reason: 'outside every pool and block' },
      { ip: '10.10.0.200', endpoint: 'default/static', node: 'n1', reason: 'not allocated' },
    ]);
    assert.deepEqual(r.sharedAddresses, [{ ip: s.used.ip, endpoints: ['default/used', 'other/twin'] }]);
    assert.deepEqual(r.blocksOfDeletedHosts, [{ cidr: s.n9ip.block, host: 'n9', allocated: 1 }]);
    assert.deepEqual(r.allocationsWithUnknownOwner, [{ ip: s.bare.ip, handleId: 'manual' }]);
    assert.deepEqual(r.handlesWithoutAllocations, []);
    assert.deepEqual(r.summary, {
      pools: 1,
      blocks: 2,
      allocations: 5,
      endpoints: 4,
      leakedAllocations: 2,
      endpointsWithoutAllocation: 2,
      sharedAddresses: 1,
      blocksOfDeletedHosts: 1,
      handlesWithoutAllocations: 0,
      allocationsWithUnknownOwner: 1,
    });
    // The tunnel address is valid while its node exists, and a leak once it is gone.
    await e.resources.delete({ kind: 'Node', name: 'n1' });
    const r2 = await checkIpam(s.n1);
    assert.ok(r2.leakedAllocations.some((l) => l.ip === s.tunnel.ip && /vxlanTunnelAddress address of node "n1", which no longer exists/.test(l.reason)));
    // A handle whose addresses are gone is reported.
    await e.ds.create(handleKey('stale'), JSON.stringify({ handleId: 'stale', blocks: { [s.used.block]: 1 } }));
    assert.deepEqual((await checkIpam(s.n1)).handlesWithoutAllocations, ['stale']);
  });

  it('release --from-report frees exactly the leaks that are still leaked', async () => {
    const e = env();
    const s = await scenario(e);
    const report = parseCheckReport(JSON.stringify(await checkIpam(s.n1)), 'report.json');
    // Between check and release: the n9 pod's endpoint shows up after all.
    await e.addEndpoint('default', 'old', 'n9', [`${s.n9ip.ip}/32`]);
    // ...and the leaked address is freed and handed to a new pod (same address, new sequence number).
    await s.n1.releaseByHandle('net.leak');
    const again = await s.n1.assignIP({ ip: s.leak.ip, handleId: 'net.new', attrs: { node: 'n1', namespace: 'default', pod: 'new' } });
    assert.equal(again.ip, s.leak.ip);
    const r = await releaseFromReport(s.n1, report);
    assert.deepEqual(r.released, []);
    assert.deepEqual(r.skipped.map((x) => x.ip).sort(), [s.leak.ip, s.n9ip.ip].sort());
    assert.equal((await s.n1.ipInfo(s.leak.ip)).allocation?.handleId, 'net.new', 'the re-used address stays allocated');
    assert.equal((await s.n1.ipInfo(s.n9ip.ip)).allocation?.handleId, 'net.n9');

    // A fresh report: the new pod is a leak too now (no endpoint); release it from the report.
    const fresh = await checkIpam(s.n1);
    assert.deepEqual(fresh.leakedAllocations.map((l) => l.handleId), ['net.new']);
    const r2 = await releaseFromReport(s.n1, fresh);
    assert.deepEqual(r2.released, [s.leak.ip]);
    assert.equal((await s.n1.ipInfo(s.leak.ip)).allocation, null);
    assert.equal(await s.n1.getHandle('net.new'), undefined);
    assert.equal((await checkIpam(s.n1)).leakedAllocations.length, 0);
  });

  it('parseCheckReport rejects files that are not reports, naming the field', () => {
    assert.throws(() => parseCheckReport('{', 'r.json'), /r\.json: not valid JSON/);
    assert.throws(() => parseCheckReport('{"kind":"Pod"}', 'r.json'), /r\.json: not an IPAM check report/);
    assert.throws(
      () => parseCheckReport('{"kind":"IpamCheckReport","leakedAllocations":[{"ip":"x","sequenceNumber":1,"handleId":"h"}]}', 'r.json'),
      /r\.json: leakedAllocations\[0\]\.ip: expected an IP address/,
    );
  });

  it('the GC releases a leak only after the grace period, forgets leaks that resolve, and keeps handles whole', async () => {
    const e = env();
    const s = await scenario(e);
    let now = 1_000_000;
    const gc = new IpamGarbageCollector(s.n1, { gracePeriodMs: 60_000, now: () => now });
    // A dual-address handle with one address in use: never released, even when the other is due.
    const half = await s.n1.autoAssign({ handleId: 'net.half', num4: 2, attrs: { node: 'n1', namespace: 'default', pod: 'half' } });
    await e.addEndpoint('default', 'half', 'n1', [`${half.ipv4[0].ip}/32`]);

    let r = await gc.runOnce();
    assert.deepEqual(r.released, []);
    assert.deepEqual(r.hostsReleased, []);
    assert.deepEqual(r.waiting.map((w) => w.leak.ip).sort(), [s.leak.ip, s.n9ip.ip, half.ipv4[1].ip].sort());
    assert.ok(r.waiting.every((w) => w.dueAt === 1_060_000));

    now += 59_999;
    // Meanwhile the n9 pod's endpoint appears: that leak is no longer one and is forgotten.
    await e.addEndpoint('default', 'old', 'n9', [`${s.n9ip.ip}/32`]);
    r = await gc.runOnce();
    assert.deepEqual(r.released, []);
    assert.deepEqual(r.waiting.map((w) => w.leak.ip).sort(), [s.leak.ip, half.ipv4[1].ip].sort());

    now += 1;
    r = await gc.runOnce();
    assert.deepEqual(r.released.map((l) => l.ip), [s.leak.ip]);
    assert.equal((await s.n1.ipInfo(s.leak.ip)).allocation, null);
    assert.equal(await s.n1.getHandle('net.leak'), undefined);
    const held = r.waiting.find((w) => w.leak.ip === half.ipv4[1].ip);
    assert.match(held?.heldBy ?? '', /handle "net\.half" still has an address/);
    assert.ok((await s.n1.ipInfo(half.ipv4[1].ip)).allocation, 'half of a handle is not released');
    // n9's block has been seen for the whole grace period: its affinity is given up (the block
    // still holds the address the endpoint uses, so it stays, without owner).
    assert.deepEqual(r.hostsReleased, ['n9']);
    assert.equal((await s.n1.getBlock(s.n9ip.block))?.affinity, null);
    assert.deepEqual(await s.n1.listAffinities('n9'), []);

    // The endpoint goes away: the n9 address is a new leak, with a new grace period.
    await e.resources.delete({ kind: 'WorkloadEndpoint', namespace: 'default', name: 'old' });
    r = await gc.runOnce();
    assert.deepEqual(r.released, []);
    assert.ok(r.waiting.some((w) => w.leak.ip === s.n9ip.ip && w.dueAt === now + 60_000));
    now += 60_000;
    r = await gc.runOnce();
    assert.deepEqual(r.released.map((l) => l.ip), [s.n9ip.ip]);
  });

  it('the GC restarts the grace period when an address is re-allocated while its leak was ageing', async () => {
    const e = env();
    await e.addPool('p', '10.20.0.0/28', { blockSize: 28 });
    await e.addNode('n1');
    const n1 = e.ipam('n1');
    let now = 0;
    const gc = new IpamGarbageCollector(n1, { gracePeriodMs: 1000, now: () => now });
    const [a] = (await n1.autoAssign({ handleId: 'h', num4: 1, attrs: { node: 'n1', pod: 'p1' } })).ipv4;
    assert.equal((await gc.runOnce()).waiting.length, 1);
    // Released and allocated again, same address and same handle: a different allocation (new
    // sequence number), so the old leak's age does not carry over.
    await n1.releaseByHandle('h');
    const again = await n1.assignIP({ ip: a.ip, handleId: 'h', attrs: { node: 'n1', pod: 'p1' } });
    assert.notEqual(again.sequenceNumber, a.sequenceNumber);
    now = 5000;
    const r = await gc.runOnce();
    assert.deepEqual(r.released, []);
    assert.deepEqual(r.waiting.map((w) => [w.leak.ip, w.leak.sequenceNumber, w.dueAt]), [[a.ip, again.sequenceNumber, 6000]]);
    now = 6000;
    assert.deepEqual((await gc.runOnce()).released.map((l) => l.ip), [a.ip]);
  });
});
