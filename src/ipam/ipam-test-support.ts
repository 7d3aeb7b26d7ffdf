// Test support for the IPAM suites: runs one body of tests against both real backends — SQLite on a
// fresh temp file per test, and one throwaway etcd per suite wiped between tests (skipped with the
// reason when /usr/bin/etcd is missing) — and offers small fixtures (pools, nodes, endpoints).
// Used only by *.test.ts files.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { ETCD_BINARY, EtcdDatastore, etcdAvailable, ResourceStore, SqliteDatastore, startEtcd } from '../datastore/index.ts';
import type { Datastore, EtcdProcess } from '../datastore/index.ts';
import { BRINDLE_API_VERSION } from '../model/index.ts';
import type { IPPool, IPPoolSpec, IPReservation, Node, WorkloadEndpoint } from '../model/index.ts';
import { Ipam } from './ipam.ts';
import type { IpamOptions } from './ipam.ts';

export interface IpamTestEnv {
  backend: 'sqlite' | 'etcd';
  ds: Datastore;
  /** Locator another process can open (`sqlite:PATH` / `etcd:URL`). */
  locator: string;
  resources: ResourceStore;
  ipam(host: string, options?: Omit<IpamOptions, 'host'>): Ipam;
  addPool(name: string, cidr: string, spec?: Partial<IPPoolSpec>): Promise<IPPool>;
  addNode(name: string, labels?: Record<string, string>): Promise<Node>;
  addReservation(name: string, cidrs: string[]): Promise<IPReservation>;
  addEndpoint(namespace: string, name: string, node: string, ipNetworks: string[]): Promise<WorkloadEndpoint>;
}

function makeEnv(backend: 'sqlite' | 'etcd', ds: Datastore, locator: string): IpamTestEnv {
  const resources = new ResourceStore(ds);
  const meta = (name: string, namespace?: string) => ({ name, ...(namespace ? { namespace } : {}) });
  return {
    backend,
    ds,
    locator,
    resources,
    ipam: (host, options = {}) => new Ipam(ds, { ...options, host }),
    addPool: (name, cidr, spec = {}) =>
      resources.create<IPPool>({ apiVersion: BRINDLE_API_VERSION, kind: 'IPPool', metadata: meta(name), spec: { cidr, ...spec } }),
    addNode: (name, labels) =>
      resources.create<Node>({ apiVersion: BRINDLE_API_VERSION, kind: 'Node', metadata: { ...meta(name), ...(labels ? { labels } : {}) }, spec: {} }),
    addReservation: (name, cidrs) =>
      resources.create<IPReservation>({ apiVersion: BRINDLE_API_VERSION, kind: 'IPReservation', metadata: meta(name), spec: { reservedCIDRs: cidrs } }),
    addEndpoint: (namespace, name, node, ipNetworks) =>
      resources.create<WorkloadEndpoint>({
        apiVersion: BRINDLE_API_VERSION,
        kind: 'WorkloadEndpoint',
        metadata: meta(name, namespace),
        spec: { node, orchestrator: 'k8s', pod: name, endpoint: 'eth0', ipNetworks, interfaceName: `cali${name}`.slice(0, 15) },
      }),
  };
}

/**
 * Declares `body` twice: once per backend. `env()` returns the current test's environment (a fresh,
 * empty store for each test).
 */
export function forEachBackend(name: string, body: (env: () => IpamTestEnv) => void): void {
  describe(`${name} (sqlite)`, () => {
    let dir = '';
    let env: IpamTestEnv | undefined;
    let n = 0;
    before(() => {
      dir = mkdtempSync(join(tmpdir(), 'brindle-ipam-'));
    });
    beforeEach(() => {
      const path = join(dir, `t${n++}.db`);
      env = makeEnv('sqlite', new SqliteDatastore(path), `sqlite:${path}`);
    });
    afterEach(async () => {
      await env?.ds.close();
      env = undefined;
    });
    after(() => rmSync(dir, { recursive: true, force: true }));
    body(() => env!);
  });

  if (!etcdAvailable()) {
    describe(`${name} (etcd)`, () => {
      it('runs against a throwaway etcd', { skip: `${ETCD_BINARY} is not installed (apt-get install etcd-server)` }, () => {});
    });
    return;
  }
  describe(`${name} (etcd)`, () => {
    let etcd: EtcdProcess | undefined;
    let env: IpamTestEnv | undefined;
    before(async () => {
      etcd = await startEtcd();
    });
    beforeEach(async () => {
      const ds = new EtcdDatastore(etcd!.url);
      const { items } = await ds.list('/brindle/');
      await Promise.all(items.map((kv) => ds.delete(kv.key)));
      env = makeEnv('etcd', ds, `etcd:${etcd!.url}`);
    });
    afterEach(async () => {
      await env?.ds.close();
      env = undefined;
    });
    after(async () => {
      await etcd?.stop();
    });
    body(() => env!);
  });
}
