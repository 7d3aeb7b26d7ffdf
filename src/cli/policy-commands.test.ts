// `brindlectl policy trace` registered on a fresh commander program with in-memory resources: the text
// path through tiers/policies/profiles on both sides, enforced vs staged, JSON output, and bad arguments.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Command } from 'commander';
import { parseManifests } from '../model/index.ts';
import { parsePortSpec, registerPolicyCommands } from './policy-commands.ts';

const STORE = parseManifests(`
apiVersion: v1
kind: Namespace
metadata: {name: dev, labels: {env: dev}}
---
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: dev, labels: {app: web}}
spec: {nodeName: n1, containers: [{name: c}]}
status: {podIP: 10.0.0.1}
---
apiVersion: v1
kind: Pod
metadata: {name: b, namespace: dev, labels: {app: db}}
spec: {nodeName: n2, containers: [{name: c, ports: [{name: pg, containerPort: 5432}]}]}
status: {podIP: 10.0.0.2}
---
apiVersion: projectcalico.org/v3
kind: Tier
metadata: {name: security}
spec: {order: 100}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: security.pass-dev}
spec:
  tier: security
  selector: all()
  ingress:
  - action: Log
  - action: Deny
    source: {nets: [192.168.0.0/16]}
  - action: Pass
    source: {namespaceSelector: env == "dev"}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db, namespace: dev}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: api}}}]
    ports: [{port: pg}]
---
apiVersion: projectcalico.org/v3
kind: StagedNetworkPolicy
metadata: {name: db-web, namespace: dev}
spec:
  selector: app == "db"
  ingress:
  - action: Allow
    protocol: TCP
    source: {selector: app == "web"}
`, 'store').map((d) => d.resource);

async function run(args: string[]) {
  let out = '';
  let err = '';
  const program = new Command().exitOverride().configureOutput({ writeOut: (s) => { out += s; }, writeErr: (s) => { err += s; } });
  registerPolicyCommands(program, { loadResources: async () => STORE, stdout: (s) => { out += s; }, stderr: (s) => { err += s; } });
  let error: Error | undefined;
  try {
    await program.parseAsync(args, { from: 'user' });
  } catch (e) {
    error = e as Error;
  }
  return { out, err, error };
}

test('trace prints both sides, tier by tier, with logged rules, end-of-tier and the staged view', async () => {
  const r = await run(['policy', 'trace', '--from', 'dev/a', '--to', 'dev/b', '--port', '5432/TCP']);
  assert.equal(r.error, undefined);
  assert.equal(r.out, `Flow dev/a (10.0.0.1, node n1) -> dev/b (10.0.0.2, node n2) TCP port 5432

Egress of dev/a (10.0.0.1, node n1)
  enforced: ALLOW by profile kns.dev rule 0
    profile kns.dev:
      rule 0 ALLOW: Allow everything
  with staged policies: same path

Ingress of dev/b (10.0.0.2, node n2)
  enforced: DENY end of tier default: no policy allowed it
    tier security
      GlobalNetworkPolicy/security.pass-dev:
        rule 0 LOG: Log everything
        rule 2 PASS: Pass from [selector pcns.env == "dev"]
    tier default
      KubernetesNetworkPolicy/dev/db:
        no rule matched
      end of tier: DENY (a policy applied and none allowed)
  with staged policies: ALLOW by StagedNetworkPolicy/dev/db-web rule 0 (tier default)
    tier security
      GlobalNetworkPolicy/security.pass-dev:
        rule 0 LOG: Log everything
        rule 2 PASS: Pass from [selector pcns.env == "dev"]
    tier default
      KubernetesNetworkPolicy/dev/db:
        no rule matched
      StagedNetworkPolicy/dev/db-web:
        rule 0 ALLOW: Allow TCP from [selector (projectcalico.org/namespace == "dev" && app == "web")]

Verdict: DENIED (with staged policies: ALLOWED)
`);
});

test('trace from an outside address: that side is not policed, the deny names its rule', async () => {
  const r = await run(['policy', 'trace', '--from', '192.168.3.3', '--to', 'dev/b', '--port', '5432']);
  assert.match(r.out, /Egress of 192\.168\.3\.3 \(no endpoint\)\n {2}enforced: ALLOW not an endpoint brindle polices/);
  assert.match(r.out, /enforced: DENY by GlobalNetworkPolicy\/security\.pass-dev rule 1 \(tier security\)/);
  assert.match(r.out, /rule 1 DENY: Deny from \[nets 192\.168\.0\.0\/16\]/);
  assert.match(r.out, /Verdict: DENIED\n$/);
});

test('trace -o json carries the verdict, both sides and attribution', async () => {
  const r = await run(['policy', 'trace', '--from', '10.0.0.2', '--to', '10.0.0.1', '--port', '80/TCP', '-o', 'json']);
  const v = JSON.parse(r.out);
  assert.equal(v.allowed, true);
  assert.equal(v.from.name, 'b');
  assert.deepEqual(v.ingress.enforced.steps.map((s: { type: string; outcome: string }) => `${s.type}:${s.outcome}`), ['policy:pass', 'profile:allow']);
  assert.deepEqual(v.ingress.enforced.decision, { kind: 'profile-rule', profile: 'kns.dev', ruleIndex: 0, action: 'allow' });
  assert.deepEqual(v.packet, { ipVersion: 4, srcIp: '10.0.0.2', dstIp: '10.0.0.1', protocol: 6, dstPort: 80 });
});

test('bad arguments fail with a message naming the value', async () => {
  const badPort = await run(['policy', 'trace', '--from', 'dev/a', '--to', 'dev/b', '--port', '80/XTP']);
  assert.match(badPort.error?.message ?? '', /--port "80\/XTP": unknown protocol "XTP"/);
  const noPod = await run(['policy', 'trace', '--from', 'dev/zz', '--to', 'dev/b']);
  assert.match(noPod.error?.message ?? '', /workload "dev\/zz" not found/);
  const missing = await run(['policy', 'trace', '--to', 'dev/b']);
  assert.match(missing.err, /required option '--from <endpoint>' not specified/);
  const badOut = await run(['policy', 'trace', '--from', 'dev/a', '--to', 'dev/b', '-o', 'yaml']);
  assert.match(badOut.error?.message ?? '', /unknown output format "yaml"/);
});

test('parsePortSpec reads port/protocol and ICMP type/code', () => {
  assert.deepEqual(parsePortSpec('80'), { protocol: 'TCP', port: 80 });
  assert.deepEqual(parsePortSpec('53/udp'), { protocol: 'UDP', port: 53 });
  assert.deepEqual(parsePortSpec('ICMP/3/4'), { protocol: 'ICMP', icmpType: 3, icmpCode: 4 });
  assert.throws(() => parsePortSpec('0/TCP'), /out of range/);
  assert.throws(() => parsePortSpec('http'), /expected PORT\[\/PROTOCOL\]/);
});

test('the flow line names protocol, ports and ICMP type as evaluated', async () => {
  const icmp = await run(['policy', 'trace', '--from', 'dev/a', '--to', 'dev/b', '--port', 'ICMP/8/0']);
  assert.match(icmp.out, /^Flow dev\/a \(10\.0\.0\.1, node n1\) -> dev\/b \(10\.0\.0\.2, node n2\) ICMP type 8 code 0\n/);
  const udp = await run(['policy', 'trace', '--from', 'dev/a', '--to', 'dev/b', '--port', '53/udp', '--src-port', '4000']);
  assert.match(udp.out, /^Flow .* UDP from port 4000 port 53\n/);
});
