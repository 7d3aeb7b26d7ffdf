// `brindlectl datastore export|import|migrate` against real stores: an export re-imports into an
// empty SQLite store identically, and migrate moves resources and IPAM keys from SQLite to a
// throwaway etcd, refusing a destination that already holds brindle data.

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { etcdAvailable, openDatastore, startEtcd } from '../datastore/index.ts';
import type { EtcdProcess } from '../datastore/index.ts';
import { memoryIO } from './io.ts';
import { runCli } from './main.ts';

const MANIFESTS = `apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: pool-a}
spec: {cidr: 10.66.0.0/16}
---
apiVersion: v1
kind: Namespace
metadata: {name: prod, labels: {env: prod}}
---
apiVersion: projectcalico.org/v3
kind: Tier
metadata: {name: security}
spec: {order: 100}
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: security.web, namespace: prod}
spec:
  tier: security
  selector: app == 'web'
  ingress: [{action: Allow, protocol: TCP, destination: {ports: [80]}}]
`;

let dir: string;
async function ctl(datastore: string, args: string[], stdin = '') {
  const io = memoryIO(stdin, {});
  const code = await runCli(['--datastore', datastore, ...args], io);
  return { code, out: io.out, err: io.err };
}
/** What a user would compare: every resource without server-assigned fields. */
async function content(datastore: string): Promise<unknown> {
  const r = await ctl(datastore, ['datastore', 'export', '-o', 'json']);
  assert.equal(r.code, 0, r.err);
  const list = JSON.parse(r.out) as { items: Array<{ metadata: Record<string, unknown> }> };
  return list.items.map((i) => ({ ...i, metadata: { ...i.metadata, uid: undefined, creationTimestamp: undefined } }));
}

before(() => { dir = mkdtempSync(join(tmpdir(), 'brindle-dscmd-')); });
after(() => rmSync(dir, { recursive: true, force: true }));

describe('brindlectl datastore', () => {
  it('export then import into an empty store reproduces every resource', async () => {
    const src = `sqlite:${join(dir, 'src.db')}`;
    const dst = `sqlite:${join(dir, 'dst.db')}`;
    const f = join(dir, 'm.yaml');
    writeFileSync(f, MANIFESTS);
    assert.equal((await ctl(src, ['apply', '-f', f])).code, 0);
    const file = join(dir, 'export.yaml');
    const ex = await ctl(src, ['datastore', 'export', '--file', file]);
    assert.equal(ex.code, 0, ex.err);
    assert.match(readFileSync(file, 'utf8'), /kind: List/);
    const im = await ctl(dst, ['datastore', 'import', '-f', file]);
    assert.equal(im.code, 0, im.err);
    assert.match(im.out, /imported 4 resource\(s\)/);
    assert.deepEqual(await content(dst), await content(src));
    // Importing again is harmless (create-or-replace).
    assert.equal((await ctl(dst, ['datastore', 'import', '-f', file])).code, 0);
    assert.deepEqual(await content(dst), await content(src));
  });

  describe('migrate to etcd', { skip: etcdAvailable() ? false : 'etcd is not installed (/usr/bin/etcd); npm test installs it' }, () => {
    let etcd: EtcdProcess;
    before(async () => { etcd = await startEtcd(); });
    after(async () => { await etcd?.stop(); });

    it('copies resources and IPAM keys, then refuses a non-empty destination', async () => {
      const src = `sqlite:${join(dir, 'src.db')}`;
      const raw = await openDatastore(src);
      await raw.create('/brindle/ipam/v1/blocks/10-66-0-0-26', '{"cidr":"10.66.0.0/26"}');
      await raw.close();
      const to = `etcd:${etcd.url}`;
      const r = await ctl(src, ['datastore', 'migrate', '--from', src, '--to', to]);
      assert.equal(r.code, 0, r.err);
      assert.match(r.out, /migrated 5 key\(s\) \(4 resource\(s\)\)/);
      assert.deepEqual(await content(to), await content(src));
      const etcdStore = await openDatastore(to);
      assert.equal((await etcdStore.get('/brindle/ipam/v1/blocks/10-66-0-0-26'))?.value, '{"cidr":"10.66.0.0/26"}');
      await etcdStore.close();
      const again = await ctl(src, ['datastore', 'migrate', '--from', src, '--to', to]);
      assert.equal(again.code, 1);
      assert.match(again.err, /already holds 5 brindle key\(s\); migrate only into an empty store/);
    });
  });
});
