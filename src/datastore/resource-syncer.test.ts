// The syncer against real backends: initial listing then in-sync, live changes in order, a relist
// after compaction that emits only the difference (never a flush), and catching up after an etcd
// outage without a restart of the syncer.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CompactedError } from '../lib/index.ts';
import type { AnyResource } from '../model/index.ts';
import { EtcdDatastore } from './etcd-datastore.ts';
import { etcdAvailable, startEtcd } from './etcd-process.ts';
import type { EtcdProcess } from './etcd-process.ts';
import { ResourceStore } from './resource-store.ts';
import { ResourceSyncer } from './resource-syncer.ts';
import type { ResourceUpdate, SyncStatus } from './resource-syncer.ts';
import { SqliteDatastore } from './sqlite-datastore.ts';
import type { Datastore, WatchCallbacks } from './types.ts';

const ns = (name: string, labels: Record<string, string> = {}): AnyResource =>
  ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels }, spec: {} }) as AnyResource;

/** Records what the syncer emits and lets a test wait for a condition with a deadline. */
function recorder() {
  const updates: ResourceUpdate[] = [];
  const statuses: SyncStatus[] = [];
  const waiters: Array<() => void> = [];
  const poke = () => waiters.splice(0).forEach((w) => w());
  return {
    updates,
    statuses,
    callbacks: {
      onUpdates: (u: ResourceUpdate[]) => { updates.push(...u); poke(); },
      onStatus: (s: SyncStatus) => { statuses.push(s); poke(); },
    },
    async until(what: string, cond: () => boolean, timeoutMs = 10_000): Promise<void> {
      const deadline = Date.now() + timeoutMs;
      while (!cond()) {
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`timed out waiting for ${what}; updates: ${JSON.stringify(updates.map(show))}`);
        await new Promise<void>((resolve) => { waiters.push(resolve); setTimeout(resolve, Math.min(left, 50)); });
      }
    },
  };
}

function show(u: ResourceUpdate): string {
  if (u.type === 'in-sync') return 'in-sync';
  if (u.type === 'delete') return `delete ${u.kind}/${u.name}`;
  return `put ${u.resource.kind}/${u.resource.metadata.name}`;
}

describe('ResourceSyncer on SQLite', () => {
  let dir: string;
  let store: Datastore;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'brindle-syncer-'));
    store = new SqliteDatastore(join(dir, 'db.sqlite'));
  });
  after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('lists, says in-sync once, then follows changes in order and ignores non-resource keys', async () => {
    const rs = new ResourceStore(store);
    await rs.create(ns('a'));
    await rs.create(ns('b'));
    await store.create('/brindle/ipam/v1/blocks/x', '{}');
    const rec = recorder();
    const syncer = new ResourceSyncer(store, rec.callbacks);
    syncer.start();
    await rec.until('in-sync', () => rec.updates.some((u) => u.type === 'in-sync'));
    assert.deepEqual(rec.updates.map(show), ['put Namespace/a', 'put Namespace/b', 'in-sync']);
    await rs.apply(ns('a', { team: 'x' }));
    await rs.delete({ kind: 'Namespace', name: 'b' });
    await store.update('/brindle/ipam/v1/blocks/x', '{"a":1}');
    await rs.create(ns('c'));
    await rec.until('live changes', () => rec.updates.length >= 6);
    assert.deepEqual(rec.updates.slice(3).map(show), ['put Namespace/a', 'delete Namespace/b', 'put Namespace/c']);
    const a = rec.updates[3] as { resource: AnyResource };
    assert.equal(a.resource.metadata.labels?.team, 'x');
    assert.equal(syncer.revision, await store.revision());
    await syncer.stop();
    assert.equal(rec.updates.filter((u) => u.type === 'in-sync').length, 1);
  });

  it('after compaction relists and emits only the difference, never a flush', async () => {
    const rs = new ResourceStore(store);
    // A store wrapper whose watch we can break by hand, as compaction would.
    let live: WatchCallbacks | undefined;
    const breakable: Datastore = {
      url: store.url,
      get: (k) => store.get(k),
      list: (p) => store.list(p),
      create: (k, v) => store.create(k, v),
      update: (k, v, r) => store.update(k, v, r),
      delete: (k, r) => store.delete(k, r),
      revision: () => store.revision(),
      compact: (r) => store.compact(r),
      close: () => store.close(),
      watch: (prefix, afterRevision, callbacks) => {
        let open = true;
        live = { onEvents: (e) => open && callbacks.onEvents(e), onError: (e) => open && callbacks.onError(e) };
        const inner = store.watch(prefix, afterRevision, live);
        return { close: async () => { open = false; await inner.close(); } };
      },
    };
    const rec = recorder();
    const syncer = new ResourceSyncer(breakable, rec.callbacks);
    syncer.start();
    await rec.until('in-sync', () => rec.updates.some((u) => u.type === 'in-sync'));
    const before = rec.updates.length;
    // Changes the watcher "missed": pretend the watch died with history compacted away.
    const watching = live!;
    live = undefined;
    watching.onEvents = () => undefined;
    await rs.create(ns('d'));
    await rs.delete({ kind: 'Namespace', name: 'c' });
    await rs.apply(ns('a', { team: 'y' }));
    watching.onError(new CompactedError('compacted', await store.revision()));
    await rec.until('relist diff', () => rec.updates.length >= before + 3);
    const diff = rec.updates.slice(before).map(show).sort();
    assert.deepEqual(diff, ['delete Namespace/c', 'put Namespace/a', 'put Namespace/d']);
    assert.ok(rec.statuses.includes('resyncing'));
    await rec.until('in-sync again', () => rec.statuses.at(-1) === 'in-sync');
    await rs.create(ns('e'));
    await rec.until('live after relist', () => rec.updates.some((u) => show(u) === 'put Namespace/e'));
    await syncer.stop();
  });
});

describe('ResourceSyncer on etcd', { skip: etcdAvailable() ? false : 'etcd is not installed (/usr/bin/etcd); npm test installs it' }, () => {
  let etcd: EtcdProcess;
  before(async () => { etcd = await startEtcd(); });
  after(async () => { await etcd?.stop(); });

  it('keeps state through an outage and catches up from its revision when etcd returns', async () => {
    const store = new EtcdDatastore([etcd.url], { requestTimeoutMs: 1000, watchRetryMs: 1000 });
    const rs = new ResourceStore(store);
    await rs.create(ns('x'));
    const rec = recorder();
    const syncer = new ResourceSyncer(store, rec.callbacks, { initialBackoffMs: 50, maxBackoffMs: 200 });
    syncer.start();
    await rec.until('in-sync', () => rec.updates.some((u) => u.type === 'in-sync'));
    await etcd.pause();
    await rec.until('down', () => rec.statuses.includes('down'), 15_000);
    const count = rec.updates.length;
    await etcd.restart();
    await rs.create(ns('y'));
    await rec.until('change after outage', () => rec.updates.some((u) => show(u) === 'put Namespace/y'), 15_000);
    const afterOutage = rec.updates.slice(count).map(show);
    assert.ok(!afterOutage.includes('delete Namespace/x'), `no flush of existing state: ${afterOutage}`);
    assert.equal(rec.updates.filter((u) => u.type === 'in-sync').length, 1);
    await syncer.stop();
    await store.close();
  });
});
