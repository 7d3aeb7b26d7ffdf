// The agent's syncer: turns a Datastore into an ordered stream of resource updates for the calc
// graph — a full listing, then "in-sync", then live changes from the listing's revision. It never
// asks downstream to flush: after a compaction or an outage it lists again and emits only the
// difference against what it already delivered.
//
//   Datastore.list(/brindle/v1/) ─► puts … in-sync ─► Datastore.watch(after rev) ─► puts/deletes
//        ▲                                                    │ CompactedError → relist + diff
//        └──────────────── backoff retry ◄────────────────────┘ DatastoreError → status "down"
//
// Awkward cases handled: a watch that dies while a relist is in flight (generation counter drops
// stale callbacks); a value that fails to decode (reported, treated as absent, never thrown into the
// watch callback); stop() during a backoff sleep; keys under the prefix that are not resources (IPAM).

import type { AnyResource, KindName } from '../model/index.ts';
import { isBrindleError } from '../lib/index.ts';
import { decodeResource, parseResourceKey, RESOURCE_PREFIX } from './resource-store.ts';
import type { Datastore, KeyValue, WatchEvent, WatchHandle } from './types.ts';

export type ResourceUpdate =
  | { type: 'put'; resource: AnyResource }
  | { type: 'delete'; kind: KindName; namespace?: string; name: string }
  | { type: 'in-sync' };

export type SyncStatus = 'listing' | 'in-sync' | 'resyncing' | 'down';

export interface SyncerCallbacks {
  /** Ordered updates; `in-sync` is sent once, after the first complete listing. */
  onUpdates(updates: ResourceUpdate[]): void;
  onStatus?(status: SyncStatus, detail?: string): void;
  /** A stored value that is not a valid resource; it is skipped. */
  onProblem?(key: string, message: string): void;
}

export interface SyncerOptions {
  prefix?: string;
  /** First retry delay after an outage; doubles up to maxBackoffMs. */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
}

export class ResourceSyncer {
  readonly #store: Datastore;
  readonly #callbacks: SyncerCallbacks;
  readonly #prefix: string;
  readonly #initialBackoffMs: number;
  readonly #maxBackoffMs: number;
  /** modRevision of every key delivered downstream, to diff a relist against. */
  readonly #known = new Map<string, number>();
  #revision = 0;
  #inSyncSent = false;
  #watch: WatchHandle | undefined;
  #generation = 0;
  #stopped = false;
  #retryTimer: NodeJS.Timeout | undefined;
  #backoffMs: number;
  #status: SyncStatus | undefined;

  constructor(store: Datastore, callbacks: SyncerCallbacks, options: SyncerOptions = {}) {
    this.#store = store;
    this.#callbacks = callbacks;
    this.#prefix = options.prefix ?? RESOURCE_PREFIX;
    this.#initialBackoffMs = options.initialBackoffMs ?? 100;
    this.#maxBackoffMs = options.maxBackoffMs ?? 5000;
    this.#backoffMs = this.#initialBackoffMs;
  }

  /** Revision of the last change delivered downstream. */
  get revision(): number {
    return this.#revision;
  }

  get status(): SyncStatus | undefined {
    return this.#status;
  }

  start(): void {
    void this.#relist();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#generation++;
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    const w = this.#watch;
    this.#watch = undefined;
    if (w) await w.close();
  }

  #setStatus(status: SyncStatus, detail?: string): void {
    if (this.#status === status) return;
    this.#status = status;
    this.#callbacks.onStatus?.(status, detail);
  }

  #decode(kv: KeyValue): AnyResource | undefined {
    try {
      return decodeResource(kv);
    } catch (err) {
      this.#callbacks.onProblem?.(kv.key, `cannot decode stored value: ${(err as Error).message}`);
      return undefined;
    }
  }

  #deleteUpdate(key: string): ResourceUpdate | undefined {
    const ref = parseResourceKey(key);
    return ref ? { type: 'delete', kind: ref.kind, namespace: ref.namespace, name: ref.name } : undefined;
  }

  async #relist(): Promise<void> {
    if (this.#stopped) return;
    const generation = ++this.#generation;
    this.#setStatus(this.#inSyncSent ? 'resyncing' : 'listing');
    const old = this.#watch;
    this.#watch = undefined;
    if (old) await old.close().catch(() => undefined);
    let listing;
    try {
      listing = await this.#store.list(this.#prefix);
    } catch (err) {
      this.#scheduleRetry(generation, err, () => this.#relist());
      return;
    }
    if (generation !== this.#generation) return;
    const updates: ResourceUpdate[] = [];
    const seen = new Set<string>();
    for (const kv of listing.items) {
      if (!parseResourceKey(kv.key)) continue;
      seen.add(kv.key);
      if (this.#known.get(kv.key) === kv.modRevision) continue;
      const resource = this.#decode(kv);
      if (!resource) {
        const del = this.#known.has(kv.key) ? this.#deleteUpdate(kv.key) : undefined;
        this.#known.delete(kv.key);
        if (del) updates.push(del);
        continue;
      }
      this.#known.set(kv.key, kv.modRevision);
      updates.push({ type: 'put', resource });
    }
    for (const key of [...this.#known.keys()]) {
      if (seen.has(key)) continue;
      this.#known.delete(key);
      const del = this.#deleteUpdate(key);
      if (del) updates.push(del);
    }
    this.#revision = listing.revision;
    if (!this.#inSyncSent) {
      updates.push({ type: 'in-sync' });
      this.#inSyncSent = true;
    }
    if (updates.length > 0) this.#callbacks.onUpdates(updates);
    this.#backoffMs = this.#initialBackoffMs;
    this.#startWatch(generation);
  }

  #startWatch(generation: number): void {
    if (this.#stopped || generation !== this.#generation) return;
    this.#setStatus('in-sync');
    this.#watch = this.#store.watch(this.#prefix, this.#revision, {
      onEvents: (events) => {
        if (generation !== this.#generation) return;
        this.#deliver(events);
      },
      onError: (err) => {
        if (generation !== this.#generation) return;
        this.#watch = undefined;
        if (isBrindleError(err, 'E_COMPACTED')) {
          void this.#relist();
          return;
        }
        this.#scheduleRetry(generation, err, () => this.#resumeWatch(generation));
      },
    });
  }

  /** After an outage: try to continue from our revision; compaction in between turns into a relist. */
  async #resumeWatch(generation: number): Promise<void> {
    if (this.#stopped || generation !== this.#generation) return;
    try {
      await this.#store.revision();
    } catch (err) {
      this.#scheduleRetry(generation, err, () => this.#resumeWatch(generation));
      return;
    }
    this.#backoffMs = this.#initialBackoffMs;
    this.#startWatch(generation);
  }

  #deliver(events: WatchEvent[]): void {
    const updates: ResourceUpdate[] = [];
    for (const ev of events) {
      if (ev.type === 'put') {
        this.#revision = Math.max(this.#revision, ev.kv.modRevision);
        if (!parseResourceKey(ev.kv.key)) continue;
        const resource = this.#decode(ev.kv);
        if (!resource) {
          if (this.#known.delete(ev.kv.key)) {
            const del = this.#deleteUpdate(ev.kv.key);
            if (del) updates.push(del);
          }
          continue;
        }
        this.#known.set(ev.kv.key, ev.kv.modRevision);
        updates.push({ type: 'put', resource });
      } else {
        this.#revision = Math.max(this.#revision, ev.modRevision);
        if (!this.#known.delete(ev.key)) continue;
        const del = this.#deleteUpdate(ev.key);
        if (del) updates.push(del);
      }
    }
    if (updates.length > 0) this.#callbacks.onUpdates(updates);
  }

  #scheduleRetry(generation: number, err: unknown, retry: () => Promise<void>): void {
    if (this.#stopped || generation !== this.#generation) return;
    this.#setStatus('down', err instanceof Error ? err.message : String(err));
    const delay = this.#backoffMs;
    this.#backoffMs = Math.min(this.#backoffMs * 2, this.#maxBackoffMs);
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      void retry();
    }, delay);
  }
}
