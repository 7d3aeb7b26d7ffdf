// Turns a datastore locator (`sqlite:PATH`, `etcd:URL[,URL...]`) into a Datastore. The CLI, the
// agent and the CNI plugins all open their store here, so the accepted forms live in one place.
//
//   --datastore flag │ BRINDLE_DATASTORE │ default ──resolveDatastoreLocator──► openDatastore ──► backend

import { InvalidError } from '../lib/index.ts';
import { EtcdDatastore } from './etcd-datastore.ts';
import { DEFAULT_SQLITE_PATH, SqliteDatastore } from './sqlite-datastore.ts';
import type { Datastore } from './types.ts';

export const DEFAULT_DATASTORE_LOCATOR = `sqlite:${DEFAULT_SQLITE_PATH}`;

const ACCEPTED_FORMS =
  'expected "sqlite:PATH" (e.g. "sqlite:/var/lib/brindle/brindle.db") or "etcd:URL[,URL...]" ' +
  '(e.g. "etcd:http://127.0.0.1:2379,http://10.0.0.2:2379")';

/** The locator to use: the flag if given, else $BRINDLE_DATASTORE, else the embedded default. */
export function resolveDatastoreLocator(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  if (flag !== undefined && flag.trim() !== '') return flag.trim();
  const fromEnv = env.BRINDLE_DATASTORE?.trim();
  if (fromEnv) return fromEnv;
  return DEFAULT_DATASTORE_LOCATOR;
}

export type ParsedLocator = { backend: 'sqlite'; path: string } | { backend: 'etcd'; urls: string[] };

/** Parses a locator without touching the store; InvalidError names the accepted forms. */
export function parseDatastoreLocator(locator: string): ParsedLocator {
  const text = locator.trim();
  const colon = text.indexOf(':');
  const scheme = colon > 0 ? text.slice(0, colon).toLowerCase() : '';
  const rest = colon > 0 ? text.slice(colon + 1) : '';
  if (scheme === 'sqlite') {
    // Also accept the URL-ish spelling sqlite:///var/lib/brindle/brindle.db.
    const path = rest.startsWith('///') ? rest.slice(2) : rest;
    if (path === '' || path.startsWith('//')) {
      throw new InvalidError('', `Invalid datastore locator "${locator}": missing file path; ${ACCEPTED_FORMS}`);
    }
    return { backend: 'sqlite', path };
  }
  if (scheme === 'etcd') {
    const urls = rest.split(',').map((u) => u.trim()).filter(Boolean);
    if (urls.length === 0) {
      throw new InvalidError('', `Invalid datastore locator "${locator}": missing etcd URL; ${ACCEPTED_FORMS}`);
    }
    for (const u of urls) {
      let parsed: URL | undefined;
      try {
        parsed = new URL(u);
      } catch {
        parsed = undefined;
      }
      if (!parsed || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') || !parsed.hostname) {
        throw new InvalidError('', `Invalid datastore locator "${locator}": "${u}" is not an http(s) URL; ${ACCEPTED_FORMS}`);
      }
    }
    return { backend: 'etcd', urls };
  }
  throw new InvalidError('', `Invalid datastore locator "${locator}": ${ACCEPTED_FORMS}`);
}

/** Opens the store a locator names. SQLite opens (and creates) the file now; etcd connects lazily. */
export async function openDatastore(locator: string): Promise<Datastore> {
  const parsed = parseDatastoreLocator(locator);
  if (parsed.backend === 'sqlite') return new SqliteDatastore(parsed.path);
  return new EtcdDatastore(parsed.urls);
}
