// Root test: a selection of the Kubernetes NetworkPolicy conformance cases on the real kernel — resources
// through the calc graph, messages through the nftables driver, real TCP/UDP probes between namespaces —
// agreeing cell by cell with the expected matrices and with the policy trace. The full 67-case run is
// `node --import tsx bench/dataplane/kernel-conformance.ts` (about 3 minutes).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { rootTestSkipReason } from '../../src/os/index.ts';
import { createConformanceLab, loadCases, runKernelCase } from './kernel-conformance.ts';

// Default deny, namespace selectors, named ports (ingress and egress), ipBlock with except over steps,
// stacked policies with updates, UDP, and policies deleted again.
const SELECTED = ['e2e-02', 'e2e-10', 'e2e-17', 'e2e-19', 'e2e-33', 'e2e-36', 'e2e-40', 'e2e-udp-02', 'legacy-04'];

test('NetworkPolicy conformance cases on the kernel agree with their matrices and the trace', { skip: rootTestSkipReason(['ip', 'nsenter', 'nft']) }, async (t) => {
  const file = loadCases();
  const lab = await createConformanceLab(file);
  t.after(() => lab.close());
  const cases = file.cases.filter((c) => SELECTED.includes(c.id));
  assert.equal(cases.length, SELECTED.length, 'every selected case exists');
  for (const c of cases) {
    const r = await runKernelCase(lab, file, c);
    assert.equal(r.error, undefined, `${c.id}: ${r.error}`);
    assert.ok(r.cells > 0, `${c.id}: probed something`);
    assert.deepEqual(r.mismatches, [], `${c.id}: kernel vs expected matrix`);
    assert.deepEqual(r.traceMismatches, [], `${c.id}: kernel vs policy trace`);
  }
});
