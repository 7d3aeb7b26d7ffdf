// The datastore contract every backend (SQLite, etcd) implements: a revisioned key-value store
// with compare-and-swap writes and watch-from-revision. Resource-level clients, IPAM and the
// agent's syncer sit on top of it; the contract suite in contract.ts runs against both backends.

/** One stored key. Revisions are cluster-wide, monotonically increasing integers (etcd semantics). */
export interface KeyValue {
  key: string;
  value: string;
  /** Revision of the last write to this key (etcd mod_revision); the resource's resourceVersion. */
  modRevision: number;
  /** Revision at which the key was created (etcd create_revision). */
  createRevision: number;
}

export interface ListResult {
  items: KeyValue[];
  /** Store revision the listing is consistent with; watch with afterRevision = this to follow on. */
  revision: number;
}

export type WatchEvent =
  | { type: 'put'; kv: KeyValue }
  | { type: 'delete'; key: string; modRevision: number };

export interface WatchHandle {
  /** Stops delivery; resolves once no further callbacks will run. */
  close(): Promise<void>;
}

export interface WatchCallbacks {
  /** Events in revision order; one call per revision batch. */
  onEvents(events: WatchEvent[]): void;
  /**
   * Terminal error: the watch is over. A CompactedError (code E_COMPACTED) means afterRevision is
   * older than the store keeps: list again and resync. A DatastoreError means the store went away.
   */
  onError(err: Error): void;
}

export interface Datastore {
  /** Human-readable locator, e.g. `sqlite:/var/lib/brindle/brindle.db` or `etcd:http://127.0.0.1:2379`. */
  readonly url: string;
  get(key: string): Promise<KeyValue | undefined>;
  /** All keys starting with prefix, sorted by key. */
  list(prefix: string): Promise<ListResult>;
  /** Fails with ExistsError when the key is present. */
  create(key: string, value: string): Promise<KeyValue>;
  /**
   * Replaces the value. With expectedModRevision, fails with ConflictError unless the stored
   * modRevision equals it; NotFoundError when the key is absent.
   */
  update(key: string, value: string, expectedModRevision?: number): Promise<KeyValue>;
  /** Deletes; NotFoundError when absent, ConflictError on a revision mismatch. Returns the deleting revision. */
  delete(key: string, expectedModRevision?: number): Promise<number>;
  /** Delivers every change under prefix with revision > afterRevision, in order. */
  watch(prefix: string, afterRevision: number, callbacks: WatchCallbacks): WatchHandle;
  /** Current store revision. */
  revision(): Promise<number>;
  /** Drops history at or below revision; later watches from before it get CompactedError. */
  compact(revision: number): Promise<void>;
  close(): Promise<void>;
}
