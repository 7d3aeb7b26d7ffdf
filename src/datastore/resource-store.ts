// Resource-level client over any Datastore backend: maps (kind, namespace, name) to keys, stamps
// uid / creationTimestamp, derives metadata.resourceVersion from the key's modRevision, and turns
// optimistic concurrency into ConflictError. brindlectl, the CNI plugin and the agent's syncer use it.
//
//   brindlectl apply ──► ResourceStore ──► Datastore (sqlite | etcd) ──► key /brindle/v1/<plural>/[<ns>/]<name>

import { randomUUID } from 'node:crypto';
import { ConflictError, ExistsError, NotFoundError } from '../lib/index.ts';
import { kindInfo, KINDS } from '../model/index.ts';
import type { AnyResource, KindInfo, KindName } from '../model/index.ts';
import type { Datastore, KeyValue } from './types.ts';

export const RESOURCE_PREFIX = '/brindle/v1/';

export interface ResourceRef {
  kind: KindName;
  name: string;
  namespace?: string;
}

export interface ResourceList<R = AnyResource> {
  items: R[];
  revision: number;
}

/** Storage key of a resource; namespaced kinds carry their namespace as a path segment. */
export function resourceKey(ref: ResourceRef): string {
  const info = kindInfo(ref.kind);
  if (info.namespaced) {
    if (!ref.namespace) throw new Error(`${ref.kind} "${ref.name}" needs a namespace`);
    return `${RESOURCE_PREFIX}${info.plural}/${ref.namespace}/${ref.name}`;
  }
  return `${RESOURCE_PREFIX}${info.plural}/${ref.name}`;
}

/** Prefix under which all resources of a kind (optionally in one namespace) are stored. */
export function kindPrefix(kind: KindName, namespace?: string): string {
  const info = kindInfo(kind);
  if (info.namespaced && namespace) return `${RESOURCE_PREFIX}${info.plural}/${namespace}/`;
  return `${RESOURCE_PREFIX}${info.plural}/`;
}

const byPlural = new Map<string, KindInfo>(KINDS.map((k) => [k.plural, k]));

/** Inverse of resourceKey, for watchers; undefined for keys that are not resources (e.g. IPAM). */
export function parseResourceKey(key: string): ResourceRef | undefined {
  if (!key.startsWith(RESOURCE_PREFIX)) return undefined;
  const parts = key.slice(RESOURCE_PREFIX.length).split('/');
  const info = byPlural.get(parts[0]);
  if (!info) return undefined;
  if (info.namespaced && parts.length === 3) return { kind: info.kind, namespace: parts[1], name: parts[2] };
  if (!info.namespaced && parts.length === 2) return { kind: info.kind, name: parts[1] };
  return undefined;
}

/** Decodes a stored value into a resource carrying resourceVersion = modRevision. */
export function decodeResource(kv: KeyValue): AnyResource {
  const resource = JSON.parse(kv.value) as AnyResource;
  resource.metadata = { ...resource.metadata, resourceVersion: String(kv.modRevision) };
  return resource;
}

function describe(ref: ResourceRef): string {
  return ref.namespace ? `${ref.kind} "${ref.namespace}/${ref.name}"` : `${ref.kind} "${ref.name}"`;
}

function refOf(resource: AnyResource): ResourceRef {
  return { kind: resource.kind, name: resource.metadata.name, namespace: resource.metadata.namespace };
}

function parseResourceVersion(resource: AnyResource): number | undefined {
  const rv = resource.metadata.resourceVersion;
  if (rv === undefined || rv === '') return undefined;
  const n = Number(rv);
  if (!Number.isSafeInteger(n) || n <= 0) {
    throw new ConflictError(`${describe(refOf(resource))}: resourceVersion "${rv}" is not a revision this store issued`);
  }
  return n;
}

function encode(resource: AnyResource): string {
  const { resourceVersion: _drop, ...metadata } = resource.metadata;
  return JSON.stringify({ ...resource, metadata });
}

export class ResourceStore {
  readonly datastore: Datastore;

  constructor(datastore: Datastore) {
    this.datastore = datastore;
  }

  async get<R extends AnyResource = AnyResource>(ref: ResourceRef): Promise<R | undefined> {
    const kv = await this.datastore.get(resourceKey(ref));
    return kv ? (decodeResource(kv) as R) : undefined;
  }

  async mustGet<R extends AnyResource = AnyResource>(ref: ResourceRef): Promise<R> {
    const found = await this.get<R>(ref);
    if (!found) throw new NotFoundError(`${describe(ref)} not found`);
    return found;
  }

  async list<R extends AnyResource = AnyResource>(kind: KindName, namespace?: string): Promise<ResourceList<R>> {
    const { items, revision } = await this.datastore.list(kindPrefix(kind, namespace));
    return { items: items.map((kv) => decodeResource(kv) as R), revision };
  }

  /** Every resource of every kind, with the revision the listing is consistent with. */
  async listAll(): Promise<ResourceList> {
    const { items, revision } = await this.datastore.list(RESOURCE_PREFIX);
    const resources: AnyResource[] = [];
    for (const kv of items) if (parseResourceKey(kv.key)) resources.push(decodeResource(kv));
    return { items: resources, revision };
  }

  /** Creates; ExistsError when present. Assigns uid and creationTimestamp. */
  async create<R extends AnyResource>(resource: R): Promise<R> {
    const ref = refOf(resource);
    const stamped = {
      ...resource,
      metadata: {
        ...resource.metadata,
        uid: resource.metadata.uid ?? randomUUID(),
        creationTimestamp: resource.metadata.creationTimestamp ?? new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
      },
    } as R;
    try {
      return decodeResource(await this.datastore.create(resourceKey(ref), encode(stamped))) as R;
    } catch (err) {
      if (err instanceof ExistsError) throw new ExistsError(`${describe(ref)} already exists`, { cause: err });
      throw err;
    }
  }

  /**
   * Replaces an existing resource. With metadata.resourceVersion set the write is a compare-and-swap
   * against it (ConflictError when someone else wrote in between); without, against what was just read.
   * uid and creationTimestamp are kept from the stored object.
   */
  async update<R extends AnyResource>(resource: R): Promise<R> {
    const ref = refOf(resource);
    const key = resourceKey(ref);
    const current = await this.datastore.get(key);
    if (!current) throw new NotFoundError(`${describe(ref)} not found`);
    const expected = parseResourceVersion(resource) ?? current.modRevision;
    if (expected !== current.modRevision) {
      throw new ConflictError(
        `${describe(ref)} was modified: resourceVersion "${expected}" is stale (stored "${current.modRevision}"); get it again and retry`,
      );
    }
    const stored = JSON.parse(current.value) as AnyResource;
    const merged = {
      ...resource,
      metadata: { ...resource.metadata, uid: stored.metadata.uid, creationTimestamp: stored.metadata.creationTimestamp },
    } as R;
    try {
      return decodeResource(await this.datastore.update(key, encode(merged), expected)) as R;
    } catch (err) {
      if (err instanceof ConflictError) {
        throw new ConflictError(`${describe(ref)} was modified concurrently; get it again and retry`, { cause: err });
      }
      throw err;
    }
  }

  /**
   * Create-or-replace of the whole spec. A stale resourceVersion in the input is ignored (an applied
   * manifest is the desired state); concurrent writers are handled by retrying the compare-and-swap.
   */
  async apply<R extends AnyResource>(resource: R): Promise<{ resource: R; created: boolean }> {
    const plain = { ...resource, metadata: { ...resource.metadata } } as R;
    delete plain.metadata.resourceVersion;
    for (let attempt = 0; ; attempt++) {
      try {
        const existing = await this.datastore.get(resourceKey(refOf(plain)));
        if (!existing) return { resource: await this.create(plain), created: true };
        const next = { ...plain, metadata: { ...plain.metadata, resourceVersion: String(existing.modRevision) } } as R;
        return { resource: await this.update(next), created: false };
      } catch (err) {
        const retriable = err instanceof ConflictError || err instanceof ExistsError || err instanceof NotFoundError;
        if (!retriable || attempt >= 20) throw err;
      }
    }
  }

  /** Deletes; with a resourceVersion only if it is still current. Returns the deleted object. */
  async delete<R extends AnyResource = AnyResource>(ref: ResourceRef, resourceVersion?: string): Promise<R> {
    const key = resourceKey(ref);
    const current = await this.datastore.get(key);
    if (!current) throw new NotFoundError(`${describe(ref)} not found`);
    const expected = resourceVersion ? Number(resourceVersion) : current.modRevision;
    if (expected !== current.modRevision) {
      throw new ConflictError(`${describe(ref)} was modified: resourceVersion "${resourceVersion}" is stale (stored "${current.modRevision}")`);
    }
    try {
      await this.datastore.delete(key, expected);
    } catch (err) {
      if (err instanceof NotFoundError) throw new NotFoundError(`${describe(ref)} not found`, { cause: err });
      throw err;
    }
    return decodeResource(current) as R;
  }
}
