// Public face of src/datastore: the Datastore contract, its SQLite and etcd backends, locator
// parsing, the resource-level client and the throwaway-etcd harness used by tests, benchmarks and
// the lab. The contract suite (contract.ts) is test-only and imported directly by test files.

export * from './types.ts';
export { SqliteDatastore, DEFAULT_SQLITE_PATH } from './sqlite-datastore.ts';
export type { SqliteDatastoreOptions } from './sqlite-datastore.ts';
export { EtcdDatastore } from './etcd-datastore.ts';
export type { EtcdDatastoreOptions } from './etcd-datastore.ts';
export { openDatastore, resolveDatastoreLocator, parseDatastoreLocator, DEFAULT_DATASTORE_LOCATOR } from './open-datastore.ts';
export type { ParsedLocator } from './open-datastore.ts';
export { startEtcd, etcdAvailable, ETCD_BINARY } from './etcd-process.ts';
export type { EtcdProcess, StartEtcdOptions } from './etcd-process.ts';
export {
  ResourceStore,
  RESOURCE_PREFIX,
  resourceKey,
  kindPrefix,
  parseResourceKey,
  decodeResource,
} from './resource-store.ts';
export type { ResourceRef, ResourceList } from './resource-store.ts';
export { ResourceSyncer } from './resource-syncer.ts';
export type { ResourceUpdate, SyncStatus, SyncerCallbacks, SyncerOptions } from './resource-syncer.ts';
