// Tests for the CIDR/IP arithmetic in cidr.ts: parsing edge cases, canonical text (RFC 5952),
// containment/overlap and the block arithmetic IPAM relies on.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  addressIndex,
  addToIp,
  blockCount,
  blockOf,
  canonicalIp,
  cidrContains,
  cidrSize,
  cidrsOverlap,
  compareCidrs,
  hostCidr,
  ipInCidr,
  ipToString,
  isStrictlyMasked,
  lastAddress,
  maskCidr,
  normalizeCidr,
  nthAddress,
  nthBlock,
  overlapsLinkLocal,
  parseCidr,
  parseCidrOrIp,
  parseIp,
  tryParseIp,
} from './cidr.ts';
import { InvalidError } from './errors.ts';

test('parseIp reads IPv4 and rejects malformed or leading-zero octets', () => {
  assert.deepEqual(parseIp('10.1.2.3'), { family: 4, value: 0x0a010203n });
  assert.deepEqual(parseIp('0.0.0.0'), { family: 4, value: 0n });
  assert.deepEqual(parseIp('255.255.255.255'), { family: 4, value: 0xffffffffn });
  for (const bad of ['10.1.2', '10.1.2.3.4', '256.0.0.1', '010.0.0.1', '1.2.3.-1', '', 'a.b.c.d', '1.2.3.4 ']) {
    assert.equal(tryParseIp(bad), undefined, bad);
  }
  assert.throws(() => parseIp('300.1.1.1'), (e: unknown) => e instanceof InvalidError && /"300\.1\.1\.1" is not a valid IP address/.test(e.message));
});

test('parseIp reads IPv6 forms: compressed, full, embedded IPv4', () => {
  assert.deepEqual(parseIp('::'), { family: 6, value: 0n });
  assert.deepEqual(parseIp('::1'), { family: 6, value: 1n });
  assert.equal(parseIp('fd00::1').value, (0xfd00n << 112n) | 1n);
  assert.equal(parseIp('2001:db8:0:0:0:0:0:1').value, parseIp('2001:db8::1').value);
  assert.equal(parseIp('::ffff:10.0.0.1').value, (0xffffn << 32n) | 0x0a000001n);
  assert.equal(parseIp('1:2:3:4:5:6:7::').value, parseIp('1:2:3:4:5:6:7:0').value);
  for (const bad of [':::', '1::2::3', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7:8::', 'fe80::1%eth0', '12345::', 'g::1', ':1::', '::1.2.3']) {
    assert.equal(tryParseIp(bad), undefined, bad);
  }
});

test('ipToString gives RFC 5952 text', () => {
  assert.equal(canonicalIp('2001:0DB8:0000:0000:0000:0000:0000:0001'), '2001:db8::1');
  assert.equal(canonicalIp('2001:db8:0:1:0:0:0:1'), '2001:db8:0:1::1');
  // Equal-length zero runs: the leftmost is compressed; a single zero group is not.
  assert.equal(canonicalIp('1:0:0:2:0:0:3:4'), '1::2:0:0:3:4');
  assert.equal(canonicalIp('1:0:2:3:4:5:6:7'), '1:0:2:3:4:5:6:7');
  assert.equal(canonicalIp('::'), '::');
  assert.equal(canonicalIp('::ffff:10.0.0.1'), '::ffff:10.0.0.1');
  assert.equal(ipToString(0x0a000001n, 4), '10.0.0.1');
  assert.throws(() => ipToString(1n << 32n, 4), RangeError);
});

test('parseCidr keeps the written address and the masked network', () => {
  const c = parseCidr('10.1.2.3/16');
  assert.equal(c.family, 4);
  assert.equal(c.prefixLength, 16);
  assert.equal(c.text, '10.1.0.0/16');
  assert.equal(ipToString(c.address, 4), '10.1.2.3');
  assert.equal(isStrictlyMasked(c), false);
  assert.equal(isStrictlyMasked('10.1.0.0/16'), true);
  assert.equal(parseCidr('FD00:0:0::/48').text, 'fd00::/48');
  assert.equal(parseCidr('0.0.0.0/0').text, '0.0.0.0/0');
  assert.throws(() => parseCidr('10.0.0.0'), /expected address\/prefix/);
  assert.throws(() => parseCidr('10.0.0.0/33'), /prefix length "33" must be 0–32/);
  assert.throws(() => parseCidr('fd00::/129'), /must be 0–128/);
  assert.throws(() => parseCidr('10.0.0.0/08'), /prefix length "08"/);
  assert.throws(() => parseCidr('10.0.0/8'), /"10\.0\.0" is not an IP address/);
});

test('parseCidrOrIp and normalizeCidr treat a bare address as a host route', () => {
  assert.equal(parseCidrOrIp('10.0.0.7').text, '10.0.0.7/32');
  assert.equal(normalizeCidr('fd00::7'), 'fd00::7/128');
  assert.equal(normalizeCidr('192.168.7.9/24'), '192.168.7.0/24');
  assert.equal(maskCidr('10.9.9.9/8').text, '10.0.0.0/8');
});

test('containment and overlap are family-aware', () => {
  assert.equal(cidrContains('10.0.0.0/8', '10.1.0.0/16'), true);
  assert.equal(cidrContains('10.1.0.0/16', '10.0.0.0/8'), false);
  assert.equal(cidrContains('10.0.0.0/8', '10.0.0.0/8'), true);
  assert.equal(cidrContains('10.0.0.0/8', '11.0.0.0/16'), false);
  assert.equal(cidrsOverlap('10.1.0.0/16', '10.0.0.0/8'), true);
  assert.equal(cidrsOverlap('10.1.0.0/16', '10.2.0.0/16'), false);
  assert.equal(cidrsOverlap('0.0.0.0/0', '::/0'), false);
  assert.equal(ipInCidr('10.1.255.255', '10.1.0.0/16'), true);
  assert.equal(ipInCidr('10.2.0.0', '10.1.0.0/16'), false);
  assert.equal(ipInCidr('fd00::5', '10.0.0.0/8'), false);
  assert.equal(overlapsLinkLocal('169.254.1.0/24'), true);
  assert.equal(overlapsLinkLocal('169.0.0.0/8'), true);
  assert.equal(overlapsLinkLocal('fe80::/64'), true);
  assert.equal(overlapsLinkLocal('fd00::/64'), false);
});

test('address arithmetic for IPAM blocks', () => {
  assert.equal(cidrSize('10.0.0.0/26'), 64n);
  assert.equal(cidrSize('fd00::/122'), 64n);
  assert.equal(ipToString(nthAddress('10.0.0.0/26', 63)), '10.0.0.63');
  assert.throws(() => nthAddress('10.0.0.0/26', 64), RangeError);
  assert.equal(ipToString(lastAddress('10.0.0.0/24'), 4), '10.0.0.255');
  assert.equal(addressIndex('10.0.0.0/24', '10.0.0.9'), 9n);
  assert.equal(addressIndex('10.0.0.0/24', '10.0.1.9'), undefined);
  assert.equal(blockCount('10.0.0.0/16', 26), 1024n);
  assert.equal(blockCount('fd00::/112', 122), 1024n);
  assert.throws(() => blockCount('10.0.0.0/26', 24), /does not fit/);
  assert.equal(nthBlock('10.0.0.0/16', 26, 1).text, '10.0.0.64/26');
  assert.equal(nthBlock('10.0.0.0/16', 26, 1023).text, '10.0.255.192/26');
  assert.equal(nthBlock('fd00::/112', 122, 2).text, 'fd00::80/122');
  assert.equal(blockOf('10.0.3.77', 26).text, '10.0.3.64/26');
  assert.equal(ipToString(addToIp(parseIp('10.0.0.255'), 1)), '10.0.1.0');
  assert.throws(() => addToIp(parseIp('255.255.255.255'), 1), RangeError);
  assert.equal(hostCidr('fd00::1').text, 'fd00::1/128');
  const sorted = ['10.0.0.0/16', 'fd00::/64', '10.0.0.0/8', '9.0.0.0/8'].map((t) => parseCidr(t)).sort(compareCidrs).map((c) => c.text);
  assert.deepEqual(sorted, ['9.0.0.0/8', '10.0.0.0/8', '10.0.0.0/16', 'fd00::/64']);
});
