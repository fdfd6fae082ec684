import type { LookupAddress } from 'node:dns';
import type { LookupFunction } from 'node:net';
import { describe, expect, it } from 'vitest';
import { ConsentryError } from '../../src/core/errors.js';
import {
  assertPublicTargetUrl,
  assertTargetUrlAllowed,
  guardedLookup,
  hasNonPublicHost,
  hasRefusedTargetHost,
  isAllowedTargetAddress,
  isPrivateOrLoopbackAddress,
  isPublicAddress,
  TARGET_NOT_PUBLIC_CODE,
} from '../../src/worker/target-guard.js';

const PUBLIC_ADDRESSES = [
  '8.8.8.8',
  '1.1.1.1',
  '11.0.0.0',
  '9.255.255.255',
  '100.63.255.255',
  '100.128.0.0',
  '126.255.255.255',
  '128.0.0.0',
  '169.253.255.255',
  '169.255.0.0',
  '172.15.255.255',
  '172.32.0.0',
  '192.0.1.0',
  '192.0.3.0',
  '192.167.255.255',
  '192.169.0.0',
  '198.17.255.255',
  '198.20.0.0',
  '198.51.99.255',
  '203.0.114.0',
  '223.255.255.255',
  '2606:4700:4700::1111',
  '2001:4860:4860::8888',
  '2a00:1450:4001:80b::200e',
  '2001:db9::1',
  '::ffff:8.8.8.8',
  '::ffff:808:808',
  '64:ff9b::8.8.8.8',
  '64:ff9b::101:101',
  '[2606:4700:4700::1111]',
];

/** [address, the range it falls in] */
const REFUSED_ADDRESSES: [string, string][] = [
  ['0.0.0.0', '0.0.0.0/8'],
  ['0.255.255.255', '0.0.0.0/8'],
  ['10.0.0.0', '10.0.0.0/8'],
  ['10.255.255.255', '10.0.0.0/8'],
  ['100.64.0.0', '100.64.0.0/10'],
  ['100.127.255.255', '100.64.0.0/10'],
  ['127.0.0.1', '127.0.0.0/8'],
  ['127.255.255.254', '127.0.0.0/8'],
  ['169.254.0.0', '169.254.0.0/16'],
  ['169.254.169.254', '169.254.0.0/16'],
  ['172.16.0.0', '172.16.0.0/12'],
  ['172.31.255.255', '172.16.0.0/12'],
  ['192.0.0.8', '192.0.0.0/24'],
  ['192.0.2.1', '192.0.2.0/24'],
  ['192.168.0.0', '192.168.0.0/16'],
  ['192.168.255.255', '192.168.0.0/16'],
  ['198.18.0.0', '198.18.0.0/15'],
  ['198.19.255.255', '198.18.0.0/15'],
  ['198.51.100.7', '198.51.100.0/24'],
  ['203.0.113.9', '203.0.113.0/24'],
  ['224.0.0.1', '224.0.0.0/4'],
  ['239.255.255.250', '224.0.0.0/4'],
  ['240.0.0.1', '240.0.0.0/4'],
  ['255.255.255.255', '240.0.0.0/4'],
  ['::', '::/128'],
  ['::1', '::1/128'],
  ['0:0:0:0:0:0:0:1', '::1/128'],
  ['[::1]', '::1/128'],
  ['::ffff:127.0.0.1', '::ffff:0:0/96 carrying 127.0.0.0/8'],
  ['::ffff:7f00:1', '::ffff:0:0/96 carrying 127.0.0.0/8'],
  ['::ffff:10.1.2.3', '::ffff:0:0/96 carrying 10.0.0.0/8'],
  ['0:0:0:0:0:ffff:a9fe:a9fe', '::ffff:0:0/96 carrying 169.254.0.0/16'],
  ['::ffff:c0a8:101', '::ffff:0:0/96 carrying 192.168.0.0/16'],
  ['64:ff9b::127.0.0.1', '64:ff9b::/96 carrying 127.0.0.0/8'],
  ['64:ff9b::a9fe:a9fe', '64:ff9b::/96 carrying 169.254.0.0/16'],
  ['64:ff9b::a00:5', '64:ff9b::/96 carrying 10.0.0.0/8'],
  ['64:ff9b:1::1', '64:ff9b:1::/48'],
  ['100::1', '100::/64'],
  ['100::ffff:ffff:ffff:ffff', '100::/64'],
  ['2001:2::1', '2001:2::/48'],
  ['2001:db8::1', '2001:db8::/32'],
  ['2001:db8:ffff:ffff::1', '2001:db8::/32'],
  ['3fff::1', '3fff::/20'],
  ['5f00::1', '5f00::/16'],
  ['fc00::1', 'fc00::/7'],
  ['fd12:3456:789a::1', 'fc00::/7'],
  ['fe80::1', 'fe80::/10'],
  ['fe80::1%eth0', 'fe80::/10'],
  ['febf:ffff::1', 'fe80::/10'],
  ['ff02::1', 'ff00::/8'],
  ['ff05::1:3', 'ff00::/8'],
];

describe('isPublicAddress', () => {
  it.each(PUBLIC_ADDRESSES)('allows %s', (address) => {
    expect(isPublicAddress(address)).toBe(true);
  });

  it.each(REFUSED_ADDRESSES)('refuses %s (%s)', (address) => {
    expect(isPublicAddress(address)).toBe(false);
  });

  it.each(['example.com', '', '256.1.1.1', '::ffff:zz'])('does not count %j, which is no IP address, as public', (text) => {
    expect(isPublicAddress(text)).toBe(false);
  });
});

/**
 * The edges of each block of the IANA special-purpose registries
 * (https://www.iana.org/assignments/iana-ipv4-special-registry/,
 * https://www.iana.org/assignments/iana-ipv6-special-registry/): [block, [address, public?]...],
 * the first and last address of the block and its neighbours on either side.
 */
const REGISTRY_EDGES: [string, [string, boolean][]][] = [
  ['0.0.0.0/8', [['0.0.0.0', false], ['0.255.255.255', false], ['1.0.0.0', true]]],
  ['10.0.0.0/8', [['9.255.255.255', true], ['10.0.0.0', false], ['10.255.255.255', false], ['11.0.0.0', true]]],
  ['100.64.0.0/10', [['100.63.255.255', true], ['100.64.0.0', false], ['100.127.255.255', false], ['100.128.0.0', true]]],
  ['127.0.0.0/8', [['126.255.255.255', true], ['127.0.0.0', false], ['127.255.255.255', false], ['128.0.0.0', true]]],
  ['169.254.0.0/16', [['169.253.255.255', true], ['169.254.0.0', false], ['169.254.255.255', false], ['169.255.0.0', true]]],
  ['172.16.0.0/12', [['172.15.255.255', true], ['172.16.0.0', false], ['172.31.255.255', false], ['172.32.0.0', true]]],
  ['192.0.0.0/24', [['191.255.255.255', true], ['192.0.0.0', false], ['192.0.0.255', false], ['192.0.1.0', true]]],
  ['192.0.0.8/32 (dummy), 192.0.0.170/31 (NAT64 discovery)', [['192.0.0.8', false], ['192.0.0.170', false], ['192.0.0.171', false]]],
  ['192.0.0.9/32, 192.0.0.10/32 (globally reachable)', [['192.0.0.9', true], ['192.0.0.10', true], ['192.0.0.11', false]]],
  ['192.0.2.0/24', [['192.0.1.255', true], ['192.0.2.0', false], ['192.0.2.255', false], ['192.0.3.0', true]]],
  ['192.88.99.0/24 (deprecated), 192.88.99.2/32', [['192.88.98.255', true], ['192.88.99.0', false], ['192.88.99.2', false], ['192.88.99.255', false], ['192.88.100.0', true]]],
  ['192.168.0.0/16', [['192.167.255.255', true], ['192.168.0.0', false], ['192.168.255.255', false], ['192.169.0.0', true]]],
  ['198.18.0.0/15', [['198.17.255.255', true], ['198.18.0.0', false], ['198.19.255.255', false], ['198.20.0.0', true]]],
  ['198.51.100.0/24', [['198.51.99.255', true], ['198.51.100.0', false], ['198.51.100.255', false], ['198.51.101.0', true]]],
  ['203.0.113.0/24', [['203.0.112.255', true], ['203.0.113.0', false], ['203.0.113.255', false], ['203.0.114.0', true]]],
  ['224.0.0.0/4 (multicast), 240.0.0.0/4, 255.255.255.255/32', [['223.255.255.255', true], ['224.0.0.0', false], ['239.255.255.255', false], ['240.0.0.0', false], ['255.255.255.255', false]]],
  ['globally reachable IPv4 blocks', [['192.31.196.1', true], ['192.52.193.1', true], ['192.175.48.1', true]]],
  ['::ffff:0:0/96 (judged by its IPv4 address)', [['::ffff:0.0.0.0', false], ['::ffff:1.0.0.0', true], ['::ffff:255.255.255.255', false], ['::fffe:ffff:ffff', false], ['::1:0:0:0', false]]],
  ['64:ff9b::/96 (judged by its IPv4 address)', [['64:ff9b::', false], ['64:ff9b::100:0', true], ['64:ff9b::ffff:ffff', false], ['64:ff9a:ffff:ffff:ffff:ffff:ffff:ffff', false]]],
  ['64:ff9b:1::/48', [['64:ff9b:1::', false], ['64:ff9b:1:ffff:ffff:ffff:ffff:ffff', false], ['64:ff9b:2::', false]]],
  ['100::/64, 100:0:0:1::/64', [['100::', false], ['100::ffff:ffff:ffff:ffff', false], ['100:0:0:1::', false], ['100:0:0:1:ffff:ffff:ffff:ffff', false]]],
  ['2000::/3 (global unicast) and what lies outside it', [['1fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', false], ['2000::', true], ['3fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', true], ['4000::', false], ['::7f00:1', false], ['::808:808', false], ['fec0::1', false], ['8000::1', false]]],
  ['2001::/23', [['2000:ffff:ffff:ffff:ffff:ffff:ffff:ffff', true], ['2001::', false], ['2001::1', false], ['2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff', false], ['2001:200::', true]]],
  ['2001::/32 (Teredo)', [['2001:0:4136:e378:8000:63bf:80ff:fffe', false], ['2001:0:ffff:ffff:ffff:ffff:ffff:ffff', false]]],
  ['2001:1::1/128, 2001:1::2/128, 2001:1::3/128 (globally reachable)', [['2001:1::', false], ['2001:1::1', true], ['2001:1::2', true], ['2001:1::3', true], ['2001:1::4', false]]],
  ['2001:2::/48', [['2001:2::', false], ['2001:2:0:ffff:ffff:ffff:ffff:ffff', false], ['2001:2:1::', false]]],
  ['2001:3::/32 (globally reachable)', [['2001:2:ffff:ffff:ffff:ffff:ffff:ffff', false], ['2001:3::', true], ['2001:3:ffff:ffff:ffff:ffff:ffff:ffff', true], ['2001:4::', false]]],
  ['2001:4:112::/48 (globally reachable)', [['2001:4:111:ffff:ffff:ffff:ffff:ffff', false], ['2001:4:112::', true], ['2001:4:112:ffff:ffff:ffff:ffff:ffff', true], ['2001:4:113::', false]]],
  ['2001:10::/28 (deprecated ORCHID)', [['2001:10::', false], ['2001:10::1', false], ['2001:1f:ffff:ffff:ffff:ffff:ffff:ffff', false]]],
  ['2001:20::/28, 2001:30::/28 (globally reachable)', [['2001:20::', true], ['2001:2f:ffff:ffff:ffff:ffff:ffff:ffff', true], ['2001:30::', true], ['2001:3f:ffff:ffff:ffff:ffff:ffff:ffff', true], ['2001:40::', false]]],
  ['2001:db8::/32', [['2001:db7:ffff:ffff:ffff:ffff:ffff:ffff', true], ['2001:db8::', false], ['2001:db8:ffff:ffff:ffff:ffff:ffff:ffff', false], ['2001:db9::', true]]],
  ['2002::/16 (6to4)', [['2001:ffff:ffff:ffff:ffff:ffff:ffff:ffff', true], ['2002::', false], ['2002:7f00:1::1', false], ['2002:ffff:ffff:ffff:ffff:ffff:ffff:ffff', false], ['2003::', true]]],
  ['2620:4f:8000::/48 (globally reachable)', [['2620:4f:8000::1', true]]],
  ['3fff::/20', [['3ffe:ffff:ffff:ffff:ffff:ffff:ffff:ffff', true], ['3fff::', false], ['3fff:fff:ffff:ffff:ffff:ffff:ffff:ffff', false], ['3fff:1000::', true]]],
  ['5f00::/16', [['5eff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', false], ['5f00::', false], ['5f00:ffff:ffff:ffff:ffff:ffff:ffff:ffff', false]]],
  ['fc00::/7, fe80::/10, ff00::/8', [['fc00::', false], ['fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', false], ['fe80::', false], ['febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff', false], ['ff00::', false], ['ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', false]]],
];

describe('isPublicAddress against the IANA special-purpose registries', () => {
  it.each(REGISTRY_EDGES)('%s', (_block, edges) => {
    const judged = edges.map(([address]) => [address, isPublicAddress(address)]);
    expect(judged).toEqual(edges);
  });
});

describe('hasNonPublicHost', () => {
  it.each([
    'http://127.0.0.1:3000/',
    'http://[::1]/',
    'http://10.1.2.3/',
    'http://169.254.169.254/latest/meta-data/',
    'http://localhost:8080/',
    'http://LOCALHOST./hook',
    'https://api.localhost/hook',
    // The URL parser reads these as 127.0.0.1 and 0.0.0.0, and so does the sender.
    'http://0x7f.1/',
    'http://2130706433/',
    'http://0/',
    'http://[::ffff:127.0.0.1]/',
    'http://[64:ff9b::169.254.169.254]/',
    'https://[fd00::1]:8443/hook',
  ])('refuses %s', (url) => {
    expect(hasNonPublicHost(url)).toBe(true);
  });

  it.each([
    'https://hooks.zapier.com/hooks/standard/1/abc/',
    'https://example.com/hook',
    'http://8.8.8.8/',
    'http://[2606:4700:4700::1111]/',
    'https://localhost.example.com/hook',
    'https://mylocalhost/hook',
    // Names are not resolved: delivery checks what they resolve to.
    'http://intranet.example/hook',
    'not a url',
  ])('does not refuse %s', (url) => {
    expect(hasNonPublicHost(url)).toBe(false);
  });
});

describe('assertPublicTargetUrl', () => {
  it('throws a validation error naming the field', () => {
    let thrown: unknown;
    try {
      assertPublicTargetUrl('http://169.254.169.254/latest/meta-data/', 'targetUrl', 'hook');
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ConsentryError);
    expect(thrown).toMatchObject({
      code: 'VALIDATION_FAILED',
      issues: [{ path: 'targetUrl', message: 'must not point to a private, loopback or link-local address' }],
    });
  });

  it('lets a public target through', () => {
    expect(() => assertPublicTargetUrl('https://example.com/hook', 'outboundWebhookUrl', 'settings')).not.toThrow();
  });
});

/** A resolver answering every name with `addresses`, recording the names asked. */
function resolver(addresses: LookupAddress[]): { lookup: LookupFunction; asked: string[] } {
  const asked: string[] = [];
  const lookup: LookupFunction = (hostname, options, callback) => {
    asked.push(hostname);
    const first = addresses[0];
    if (options.all) callback(null, addresses);
    else callback(null, first?.address ?? '', first?.family);
  };
  return { lookup, asked };
}

interface LookupAnswer {
  error: NodeJS.ErrnoException | null;
  address: string | LookupAddress[];
}

function resolve(lookup: LookupFunction, hostname: string, all: boolean): Promise<LookupAnswer> {
  return new Promise((done) => lookup(hostname, { all }, (error, address) => done({ error, address })));
}

describe('guardedLookup', () => {
  it('passes public answers through, single and all', async () => {
    const inner = resolver([
      { address: '93.184.215.14', family: 4 },
      { address: '2606:2800:21f:cb07:6820:80da:af6b:8b2c', family: 6 },
    ]);
    const lookup = guardedLookup(inner.lookup);
    expect(await resolve(lookup, 'example.com', false)).toEqual({ error: null, address: '93.184.215.14' });
    expect(await resolve(lookup, 'example.com', true)).toEqual({
      error: null,
      address: [
        { address: '93.184.215.14', family: 4 },
        { address: '2606:2800:21f:cb07:6820:80da:af6b:8b2c', family: 6 },
      ],
    });
    expect(inner.asked).toEqual(['example.com', 'example.com']);
  });

  // The setting that would open the address is named, except for a link-local one, which no setting opens.
  const OPENED = ' (a server started with HOOK_TARGETS_ALLOW_PRIVATE=true allows private-use and loopback targets)';
  it.each([
    ['a loopback address', [{ address: '127.0.0.1', family: 4 }], OPENED],
    ['a metadata address', [{ address: '169.254.169.254', family: 4 }], ''],
    ['a unique local IPv6 address', [{ address: 'fd00::5', family: 6 }], OPENED],
    ['a public address beside a private one', [{ address: '93.184.215.14', family: 4 }, { address: '10.0.0.5', family: 4 }], OPENED],
  ])('refuses a name resolving to %s, without naming the address', async (_label, addresses: LookupAddress[], hint: string) => {
    const lookup = guardedLookup(resolver(addresses).lookup);
    for (const all of [false, true]) {
      const answer = await resolve(lookup, 'hooks.example.com', all);
      if (!all && addresses[0]?.address === '93.184.215.14') {
        // Asked for one address, the resolver answers the public one: that is what gets connected to.
        expect(answer.error).toBeNull();
        continue;
      }
      expect(answer.error?.code).toBe(TARGET_NOT_PUBLIC_CODE);
      expect(answer.error?.message).toBe(`hooks.example.com resolves to a private or reserved address${hint}`);
      for (const { address } of addresses) expect(answer.error?.message).not.toContain(address);
    }
  });

  it('passes a resolver error through', async () => {
    const failing: LookupFunction = (hostname, _options, callback) => {
      const error: NodeJS.ErrnoException = new Error(`getaddrinfo ENOTFOUND ${hostname}`);
      error.code = 'ENOTFOUND';
      callback(error, '');
    };
    const answer = await resolve(guardedLookup(failing), 'missing.example.com', false);
    expect(answer.error?.code).toBe('ENOTFOUND');
  });
});

/** What HOOK_TARGETS_ALLOW_PRIVATE opens: [address, the block it falls in]. */
const OPENED_BY_ALLOW_PRIVATE: [string, string][] = [
  ['10.0.0.0', '10.0.0.0/8'],
  ['10.255.255.255', '10.0.0.0/8'],
  ['100.64.0.1', '100.64.0.0/10'],
  ['100.127.255.255', '100.64.0.0/10'],
  ['127.0.0.1', '127.0.0.0/8'],
  ['127.255.255.254', '127.0.0.0/8'],
  ['172.16.0.1', '172.16.0.0/12'],
  ['172.31.255.255', '172.16.0.0/12'],
  ['192.168.1.10', '192.168.0.0/16'],
  ['::1', '::1/128'],
  ['[::1]', '::1/128'],
  ['fc00::1', 'fc00::/7'],
  ['fd12:3456:789a::1', 'fc00::/7'],
  ['::ffff:10.1.2.3', '::ffff:0:0/96 carrying 10.0.0.0/8'],
  ['::ffff:7f00:1', '::ffff:0:0/96 carrying 127.0.0.0/8'],
];

/** What stays refused with HOOK_TARGETS_ALLOW_PRIVATE: [address, why]. */
const CLOSED_DESPITE_ALLOW_PRIVATE: [string, string][] = [
  ['169.254.169.254', 'link-local: AWS, GCP, Azure and Oracle metadata'],
  ['169.254.0.0', 'link-local'],
  ['169.254.255.255', 'link-local'],
  ['fe80::1', 'link-local'],
  ['fe80::1%eth0', 'link-local'],
  ['febf:ffff::1', 'link-local'],
  ['::ffff:169.254.169.254', '::ffff:0:0/96 carrying link-local'],
  ['0:0:0:0:0:ffff:a9fe:a9fe', '::ffff:0:0/96 carrying link-local'],
  ['64:ff9b::a9fe:a9fe', '64:ff9b::/96 carrying link-local'],
  ['100.100.100.200', 'Alibaba Cloud metadata, inside 100.64.0.0/10'],
  ['fd00:ec2::254', 'AWS metadata over IPv6, inside fc00::/7'],
  ['0.0.0.0', '0.0.0.0/8'],
  ['192.0.0.192', '192.0.0.0/24'],
  ['192.0.2.1', 'documentation'],
  ['198.18.0.1', 'benchmarking'],
  ['224.0.0.1', 'multicast'],
  ['255.255.255.255', 'limited broadcast'],
  ['::', 'unspecified'],
  ['2001::1', '2001::/23'],
  ['2001:db8::1', 'documentation'],
  ['ff02::1', 'multicast'],
  ['example.com', 'no IP address'],
];

describe('isPrivateOrLoopbackAddress', () => {
  it.each(OPENED_BY_ALLOW_PRIVATE)('counts %s (%s)', (address) => {
    expect(isPrivateOrLoopbackAddress(address)).toBe(true);
    expect(isAllowedTargetAddress(address)).toBe(false);
    expect(isAllowedTargetAddress(address, { allowPrivate: true })).toBe(true);
  });

  it.each(CLOSED_DESPITE_ALLOW_PRIVATE)('does not count %s (%s)', (address) => {
    expect(isPrivateOrLoopbackAddress(address)).toBe(false);
    expect(isAllowedTargetAddress(address, { allowPrivate: true })).toBe(false);
  });

  it('leaves public addresses allowed either way, and does not count them as private', () => {
    for (const address of ['8.8.8.8', '2606:4700:4700::1111', '100.128.0.0', '::ffff:8.8.8.8']) {
      expect(isPrivateOrLoopbackAddress(address)).toBe(false);
      expect(isAllowedTargetAddress(address)).toBe(true);
      expect(isAllowedTargetAddress(address, { allowPrivate: true })).toBe(true);
    }
  });
});

describe('hasRefusedTargetHost with private targets allowed', () => {
  it.each([
    'http://169.254.169.254/latest/meta-data/',
    'http://[fe80::1]/hook',
    'http://[::ffff:169.254.169.254]/',
    'http://[64:ff9b::169.254.169.254]/',
    'http://100.100.100.200/latest/meta-data/',
    'http://[fd00:ec2::254]/latest/meta-data/',
    // The URL parser reads 0 as 0.0.0.0.
    'http://0/',
    'http://[2001::1]/x',
  ])('refuses %s', (url) => {
    expect(hasRefusedTargetHost(url, { allowPrivate: true })).toBe(true);
  });

  it.each(['http://127.0.0.1:3000/', 'http://[::1]/', 'http://10.1.2.3/', 'http://localhost:8080/', 'https://[fd00::1]:8443/hook', 'https://example.com/hook'])(
    'lets %s through',
    (url) => {
      expect(hasRefusedTargetHost(url, { allowPrivate: true })).toBe(false);
    },
  );

  it('is hasNonPublicHost without private targets', () => {
    for (const url of ['http://10.1.2.3/', 'http://localhost/', 'http://169.254.169.254/', 'https://example.com/']) {
      expect(hasRefusedTargetHost(url)).toBe(hasNonPublicHost(url));
    }
  });
});

describe('assertTargetUrlAllowed', () => {
  it('refuses a link-local target with private targets allowed, saying what stays closed', () => {
    expect(() => assertTargetUrlAllowed('http://169.254.169.254/latest/meta-data/', 'targetUrl', 'hook', { allowPrivate: true })).toThrow(
      expect.objectContaining({
        code: 'VALIDATION_FAILED',
        issues: [
          {
            path: 'targetUrl',
            message:
              'must not point to a link-local, cloud metadata or other reserved address (only public, private-use and loopback addresses are allowed)',
          },
        ],
      }),
    );
  });

  it('lets a private target through only when private targets are allowed', () => {
    expect(() => assertTargetUrlAllowed('http://10.1.2.3/hook', 'targetUrl', 'hook', { allowPrivate: true })).not.toThrow();
    expect(() => assertTargetUrlAllowed('http://10.1.2.3/hook', 'targetUrl', 'hook')).toThrow(ConsentryError);
  });
});

describe('guardedLookup with private targets allowed', () => {
  it.each([
    ['a link-local (metadata) address', [{ address: '169.254.169.254', family: 4 }]],
    ['an IPv6 link-local address', [{ address: 'fe80::1', family: 6 }]],
    ['the AWS IPv6 metadata address', [{ address: 'fd00:ec2::254', family: 6 }]],
    ['a private address beside a link-local one', [{ address: '10.0.0.5', family: 4 }, { address: '169.254.169.254', family: 4 }]],
  ])('refuses a name resolving to %s, without naming the address', async (_label, addresses: LookupAddress[]) => {
    const lookup = guardedLookup(resolver(addresses).lookup, { allowPrivate: true });
    const answer = await resolve(lookup, 'hooks.internal.example', true);
    expect(answer.error?.code).toBe(TARGET_NOT_PUBLIC_CODE);
    expect(answer.error?.message).toBe('hooks.internal.example resolves to a link-local or reserved address');
    for (const { address } of addresses) expect(answer.error?.message).not.toContain(address);
  });

  it('passes private, loopback and public answers through', async () => {
    const addresses: LookupAddress[] = [
      { address: '10.0.0.5', family: 4 },
      { address: '127.0.0.1', family: 4 },
      { address: 'fd12::5', family: 6 },
      { address: '93.184.215.14', family: 4 },
    ];
    const lookup = guardedLookup(resolver(addresses).lookup, { allowPrivate: true });
    expect(await resolve(lookup, 'hooks.internal.example', true)).toEqual({ error: null, address: addresses });
  });
});
