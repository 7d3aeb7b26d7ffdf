// Many processes allocating from one pool at once must never hand out an address twice: 4 child
// processes (two sharing a host, so they fight over the same blocks, and two other hosts racing
// for block claims) against SQLite, and against a throwaway etcd.
// etcd is scaled down here (512 allocations filling a 512-address pool to the last address, so claim
// races and borrowing must happen): every etcd call is an HTTP round trip and every write an fsync'd
// raft entry, and the full 4 × 2,500 takes minutes on this machine; bench/ipam runs it at full size.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ETCD_BINARY, EtcdDatastore, etcdAvailable, ResourceStore, SqliteDatastore, startEtcd } from '../datastore/index.ts';
import type { Datastore } from '../datastore/index.ts';
import { BRINDLE_API_VERSION } from '../model/index.ts';
import type { IPPool } from '../model/index.ts';
import { runAllocationWorkers } from './allocation-workers.ts';
import { Ipam } from './ipam.ts';

const HOSTS = ['n1', 'n1', 'n2', 'n3'];

/** Runs the workers and checks results and store; returns how many addresses were borrowed. */
async function runAndVerify(ds: Datastore, locator: string, cidr: string, blockSize: number, counts: number[]): Promise<number> {
  await new ResourceStore(ds).create<IPPool>({
    apiVersion: BRINDLE_API_VERSION,
    kind: 'IPPool',
    metadata: { name: 'shared' },
    spec: { cidr, blockSize },
  });
  const specs = HOSTS.map((host, i) => ({ host, count: counts[i], handlePrefix: `w${i}` }));
  const { results } = await runAllocationWorkers(locator, specs, { timeoutMs: 150_000 });
  const total = counts.reduce((a, b) => a + b, 0);
  const all = results.flatMap((r) => r.ips);
  assert.equal(all.length, total);
  const seen = new Map<string, number>();
  for (const ip of all) seen.set(ip, (seen.get(ip) ?? 0) + 1);
  const dups = [...seen].filter(([, n]) => n > 1);
  assert.deepEqual(dups, [], `addresses handed out more than once: ${dups.slice(0, 10).map(([ip, n]) => `${ip}×${n}`).join(', ')}`);

  // The store agrees: one allocation per handle, every handle recorded, no claim left pending.
  const ipam = new Ipam(ds);
  const blocks = await ipam.listBlocks();
  const stored = blocks.flatMap((b) => b.allocations);
  assert.equal(stored.length, total);
  assert.deepEqual(new Set(stored.map((a) => a.ip)), new Set(all));
  assert.equal(new Set(stored.map((a) => a.handleId)).size, total);
  const handles = await ipam.listHandles();
  assert.equal(handles.length, total);
  assert.ok(handles.every((h) => Object.values(h.blocks).reduce((s, n) => s + n, 0) === 1), 'every handle counts exactly one address');
  const affinities = await ipam.listAffinities();
  assert.ok(affinities.every((a) => a.state === 'confirmed'), 'no affinity left pending');
  for (const a of affinities) {
    assert.equal(blocks.find((b) => b.cidr === a.cidr)?.host, a.host, `affinity of ${a.host} for ${a.cidr} matches the block`);
  }
  // Workers tag each allocation with their host: one in a block of another host was borrowed.
  return blocks.reduce((n, b) => n + b.allocations.filter((a) => a.attrs.node !== b.host).length, 0);
}

describe('IPAM under concurrent processes', () => {
  it('sqlite: 4 processes × 2,500 allocations from one pool, zero duplicates', { timeout: 180_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'brindle-ipam-conc-'));
    const path = join(dir, 'brindle.db');
    const ds = new SqliteDatastore(path);
    try {
      await runAndVerify(ds, `sqlite:${path}`, '10.200.0.0/18', 26, [2500, 2500, 2500, 2500]);
    } finally {
      await ds.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it(
    'etcd: 4 processes fill a 512-address pool to the last address, borrowing at the end, zero duplicates',
    { timeout: 180_000, skip: etcdAvailable() ? false : `${ETCD_BINARY} is not installed (apt-get install etcd-server)` },
    async () => {
      const etcd = await startEtcd();
      const ds = new EtcdDatastore(etcd.url);
      try {
        // 32 blocks of 16 for exactly 512 allocations; n1 needs 17 blocks, n2 and n3 8 each, so at
        // least one host must borrow, and any address lost or handed out twice fails an allocation.
        const borrowed = await runAndVerify(ds, `etcd:${etcd.url}`, '10.201.0.0/23', 28, [130, 130, 126, 126]);
        assert.ok(borrowed > 0, 'some addresses were borrowed from another host’s block');
      } finally {
        await ds.close();
        await etcd.stop();
      }
    },
  );
});
