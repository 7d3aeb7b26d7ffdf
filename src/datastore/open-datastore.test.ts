// Locator handling shared by the CLI, agent and CNI: which store a flag / $BRINDLE_DATASTORE names,
// and the clear InvalidError a bad locator gets.

import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { isBrindleError } from '../lib/index.ts';
import { EtcdDatastore } from './etcd-datastore.ts';
import {
  DEFAULT_DATASTORE_LOCATOR,
  openDatastore,
  parseDatastoreLocator,
  resolveDatastoreLocator,
} from './open-datastore.ts';
import { SqliteDatastore } from './sqlite-datastore.ts';

describe('resolveDatastoreLocator', () => {
  it('prefers the flag, then BRINDLE_DATASTORE, then the embedded default', () => {
    const env = { BRINDLE_DATASTORE: 'etcd:http://127.0.0.1:2379' };
    assert.equal(resolveDatastoreLocator('sqlite:/tmp/x.db', env), 'sqlite:/tmp/x.db');
    assert.equal(resolveDatastoreLocator(undefined, env), 'etcd:http://127.0.0.1:2379');
    assert.equal(resolveDatastoreLocator('', env), 'etcd:http://127.0.0.1:2379');
    assert.equal(resolveDatastoreLocator(undefined, {}), 'sqlite:/var/lib/brindle/brindle.db');
    assert.equal(DEFAULT_DATASTORE_LOCATOR, 'sqlite:/var/lib/brindle/brindle.db');
  });
});

describe('parseDatastoreLocator', () => {
  it('accepts sqlite paths and one or more etcd URLs', () => {
    assert.deepEqual(parseDatastoreLocator('sqlite:/var/lib/brindle/brindle.db'), { backend: 'sqlite', path: '/var/lib/brindle/brindle.db' });
    assert.deepEqual(parseDatastoreLocator('sqlite:///var/lib/b.db'), { backend: 'sqlite', path: '/var/lib/b.db' });
    assert.deepEqual(parseDatastoreLocator('sqlite:rel/b.db'), { backend: 'sqlite', path: 'rel/b.db' });
    assert.deepEqual(parseDatastoreLocator('etcd:http://a:2379, https://b:2379'), {
      backend: 'etcd',
      urls: ['http://a:2379', 'https://b:2379'],
    });
  });

  it('rejects anything else with InvalidError listing the accepted forms', () => {
    for (const bad of ['', 'brindle.db', 'mysql://x', 'sqlite:', 'etcd:', 'etcd:127.0.0.1:2379', 'etcd:http://a:1,ftp://b']) {
      assert.throws(() => parseDatastoreLocator(bad), (err: Error) => {
        assert.ok(isBrindleError(err, 'E_INVALID'), `"${bad}": expected E_INVALID, got ${err}`);
        assert.ok(err.message.startsWith(`Invalid datastore locator "${bad}"`), err.message);
        assert.match(err.message, /"sqlite:PATH".*"etcd:URL\[,URL\.\.\.\]"/);
        return true;
      });
    }
  });
});

describe('openDatastore', () => {
  it('opens SQLite (creating the file) and etcd (without connecting)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'brindle-open-'));
    try {
      const path = join(dir, 'x', 'brindle.db');
      const sqlite = await openDatastore(`sqlite:${path}`);
      assert.ok(sqlite instanceof SqliteDatastore);
      assert.equal(sqlite.url, `sqlite:${path}`);
      assert.ok(existsSync(path));
      await sqlite.close();
      const etcd = await openDatastore('etcd:http://127.0.0.1:1,http://127.0.0.1:2');
      assert.ok(etcd instanceof EtcdDatastore);
      assert.equal(etcd.url, 'etcd:http://127.0.0.1:1,http://127.0.0.1:2');
      await etcd.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
