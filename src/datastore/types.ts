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
  /** Stops delivery; resolves once no further callbacks will run (none run after it is called). */
  close(): Promise<void>;
}

export interface WatchCallbacks {
  /** Events in revision order, in batches of one or more revisions; never an empty batch. */
  onEvents(events: WatchEvent[]): void;
  /**
   * Terminal error: the watch is over. A CompactedError (code E_COMPACTED) means afterRevision is
   * older than the store keeps: list again and resync. A DatastoreError means the store went away.
   */
  onError(err: Error): void;
}

/**
 * Keys are non-empty strings (InvalidError otherwise), ordered and prefix-matched by their UTF-8
 * bytes; values are UTF-8 strings (JSON by convention). Failures of the store itself are
 * DatastoreError; an etcd write whose answer was lost says its outcome is unknown and is not re-sent.
 */
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
  /**
   * Delivers every change under prefix with revision > afterRevision, in order. Callbacks never run
   * inside watch() itself. An open watch does not keep the process alive (its timers and sockets
   * are unref'd): a program whose only work is watching must hold its own handle.
   */
  watch(prefix: string, afterRevision: number, callbacks: WatchCallbacks): WatchHandle;
  /** Current store revision. */
  revision(): Promise<number>;
  /**
   * Drops history before revision, keeping the state at revision itself (etcd semantics): later
   * watches need afterRevision ≥ revision − 1, older ones get CompactedError. Compacting at or
   * below an earlier compaction is a no-op; beyond the current revision is an InvalidError.
   */
  compact(revision: number): Promise<void>;
  close(): Promise<void>;
}
