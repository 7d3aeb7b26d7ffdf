// Small Node programs the lab cluster runs inside pod namespaces (through nsenter; Node never switches
// namespaces itself): a server answering on chosen TCP and UDP ports, and a client that runs a batch of
// probes at once and prints one JSON array. A probe that is dropped shows up as a timeout.
//
//   LabCluster.startServer(pod) ──nsenter node -e SERVER_JS──► "ready"
//   LabCluster.probe(from, [...]) ──nsenter node -e CLIENT_JS──► [{to, proto, port, ok, error?}]

export interface ClusterProbe {
  /** Destination pod name or address. */
  to: string;
  proto: 'tcp' | 'udp';
  port: number;
}

export interface ClusterProbeResult {
  to: string;
  /** The address probed. */
  address: string;
  proto: 'tcp' | 'udp';
  port: number;
  ok: boolean;
  error?: string;
}

export const DEFAULT_SERVER_PORTS = { tcp: [80, 8080], udp: [53, 5353] } as const;

// Prints "ready" once every port is bound; answers each TCP connection with "ok" and echoes datagrams.
export const SERVER_JS = `
const net = require('node:net'); const dgram = require('node:dgram');
const { tcp, udp } = JSON.parse(process.argv[1]);
let pending = tcp.length + udp.length;
const up = () => { if (--pending === 0) process.stdout.write('ready\\n'); };
for (const p of tcp) {
  const s = net.createServer((c) => { c.on('error', () => {}); c.end('ok'); });
  s.on('error', (e) => { console.error('tcp ' + p + ': ' + e.message); process.exit(1); });
  s.listen(p, '0.0.0.0', up);
}
for (const p of udp) {
  const s = dgram.createSocket('udp4');
  s.on('error', (e) => { console.error('udp ' + p + ': ' + e.message); process.exit(1); });
  s.on('message', (m, r) => s.send(m, r.port, r.address));
  s.bind(p, '0.0.0.0', up);
}
setInterval(() => {}, 1 << 30);
`;

// Each probe succeeds when a TCP answer or a UDP echo arrives before the timeout.
export const CLIENT_JS = `
const net = require('node:net'); const dgram = require('node:dgram');
const probes = JSON.parse(process.argv[1]); const timeout = Number(process.argv[2]);
const one = (p) => new Promise((resolve) => {
  let done = false; let sock;
  const finish = (ok, error) => { if (done) return; done = true; clearTimeout(t); try { sock.destroy ? sock.destroy() : sock.close(); } catch {} resolve({ ...p, ok, ...(error ? { error } : {}) }); };
  const t = setTimeout(() => finish(false, 'timeout'), timeout);
  if (p.proto === 'tcp') {
    sock = net.connect({ host: p.address, port: p.port });
    sock.on('data', () => finish(true)); sock.on('error', (e) => finish(false, e.code || String(e)));
  } else {
    sock = dgram.createSocket('udp4');
    sock.on('message', () => finish(true)); sock.on('error', (e) => finish(false, e.code || String(e)));
    sock.send('x', p.port, p.address, (e) => { if (e) finish(false, e.code || String(e)); });
  }
});
Promise.all(probes.map(one)).then((r) => process.stdout.write(JSON.stringify(r)));
`;
