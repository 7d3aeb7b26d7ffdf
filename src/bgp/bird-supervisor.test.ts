// BirdSupervisor without root, against a stand-in `bird` script: a daemon that dies at once is
// restarted with doubling delays and `-R`, stop() cancels a pending restart, and a config the checker
// refuses never replaces the installed one. Reloads of the real daemon in namespaces are covered by
// bgp-root.test.ts.

import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BirdSupervisor } from './index.ts';

const dir = mkdtempSync(join(tmpdir(), 'brg-sup-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A stand-in for bird: `-p` accepts configs without "bad", a run logs its args and exits 1 at once. */
function fakeBird(): string {
  const path = join(dir, 'fake-bird');
  writeFileSync(
    path,
    `#!/bin/sh
if [ "$1" = "-p" ]; then
  if grep -q bad "$3"; then echo "$3:1:1 syntax error" >&2; exit 1; fi
  exit 0
fi
echo "started $*" >> "${join(dir, 'runs.log')}"
echo "dying" >&2
exit 1
`,
  );
  chmodSync(path, 0o755);
  return path;
}

async function until(what: string, timeoutMs: number, probe: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('BirdSupervisor', () => {
  it('restarts a dying BIRD with doubling delays and -R, and stop() cancels the next restart', async () => {
    const runDir = mkdtempSync(join(dir, 'run-'));
    const delays: number[] = [];
    const logs: string[] = [];
    const sup = new BirdSupervisor({
      runDir,
      birdBinary: fakeBird(),
      initialBackoffMs: 20,
      maxBackoffMs: 80,
      onExit: (e) => delays.push(e.restartInMs),
      onLog: (l) => logs.push(l),
    });
    assert.equal(await sup.apply('router id 1.2.3.4;\n'), true);
    await until('four exits', 5_000, () => delays.length >= 4);
    await sup.stop();
    assert.deepEqual(delays.slice(0, 4), [20, 40, 80, 80]);
    const runs = readFileSync(join(dir, 'runs.log'), 'utf8').trim().split('\n');
    assert.equal(runs[0], `started -f -c ${sup.configPath} -s ${sup.socketPath}`);
    assert.equal(runs[1], `started -f -c ${sup.configPath} -s ${sup.socketPath} -R`);
    assert.ok(sup.restarts >= 3);
    assert.ok(logs.includes('dying'));
    const count = runs.length;
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(readFileSync(join(dir, 'runs.log'), 'utf8').trim().split('\n').length, count, 'no start after stop()');
    await assert.rejects(sup.apply('router id 1.2.3.5;\n'), /is stopped/);
  });

  it('keeps the installed config when the checker refuses a new one', async () => {
    const runDir = mkdtempSync(join(dir, 'run-'));
    const sup = new BirdSupervisor({ runDir, birdBinary: fakeBird(), initialBackoffMs: 10_000 });
    try {
      await sup.apply('router id 1.2.3.4;\n');
      await assert.rejects(sup.apply('bad config\n'), /BIRD refused the new configuration \(kept ".*bird.conf"\): ".*syntax error"/);
      assert.equal(readFileSync(sup.configPath, 'utf8'), 'router id 1.2.3.4;\n');
      assert.equal(existsSync(`${sup.configPath}.tmp-${process.pid}`), false, 'temp file removed');
    } finally {
      await sup.stop();
    }
  });
});
