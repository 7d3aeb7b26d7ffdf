// Runs the Datastore contract (contract.ts) against both backends: SQLite on a temp file and etcd
// on a throwaway etcd process (skipped, with the reason, only when /usr/bin/etcd is missing).

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runDatastoreContract } from './contract.ts';
import { EtcdDatastore } from './etcd-datastore.ts';
import { ETCD_BINARY, etcdAvailable, startEtcd } from './etcd-process.ts';
import { SqliteDatastore } from './sqlite-datastore.ts';
import { describe, it } from 'node:test';

runDatastoreContract('sqlite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'brindle-contract-'));
  const store = new SqliteDatastore(join(dir, 'nested', 'brindle.db'));
  return {
    store,
    async cleanup() {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

if (etcdAvailable()) {
  runDatastoreContract('etcd', async () => {
    const etcd = await startEtcd();
    const store = new EtcdDatastore(etcd.url);
    return {
      store,
      async cleanup() {
        await store.close();
        await etcd.stop();
      },
    };
  },
  // Every etcd write (a losing compare-and-swap included) is a raft round with an fsync, so the
  // contention tests are smaller than on SQLite; they still race several writers on one key.
  { asyncCallers: 8, incrementsPerCaller: 10, processes: 4, incrementsPerProcess: 50 });
} else {
  describe('datastore contract: etcd', () => {
    it('runs against a throwaway etcd', { skip: `${ETCD_BINARY} is not installed (apt-get install etcd-server)` }, () => {});
  });
}
