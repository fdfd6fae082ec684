import { lookup as systemLookup } from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { ConsentryError } from '../core/errors.js';

/** Address blocks as network and prefix length. */
type Blocks = readonly (readonly [network: string, prefix: number])[];

/*
 * A webhook target is chosen by a workspace, and the server POSTs to it and reports the
 * answer: a target inside the server's own network would make hooks a way to reach and probe
 * it (SSRF). Refused: every block of the IANA special-purpose registries whose "Globally
 * Reachable" is False (or N/A: a deprecated block), except the more specific blocks inside it
 * that the registries mark True; plus multicast, which is never a webhook receiver, and IPv6
 * outside 2000::/3, the only space IANA has allocated for global unicast (the rest is reserved:
 * IPv4-compatible ::a.b.c.d, the deprecated site-local fec0::/10, ...).
 * https://www.iana.org/assignments/iana-ipv4-special-registry/
 * https://www.iana.org/assignments/iana-ipv6-special-registry/
 * https://www.iana.org/assignments/ipv6-address-space/
 */
const NON_PUBLIC_IPV4: Blocks = [
  ['0.0.0.0', 8], // "this network"; 0.0.0.0 reaches the local host
  ['10.0.0.0', 8], // private-use (RFC 1918)
  ['100.64.0.0', 10], // shared address space (RFC 6598)
  ['127.0.0.0', 8], // loopback
  ['169.254.0.0', 16], // link-local, where cloud metadata services answer
  ['172.16.0.0', 12], // private-use (RFC 1918)
  ['192.0.0.0', 24], // IETF protocol assignments, but for GLOBAL_IPV4
  ['192.0.2.0', 24], // documentation (TEST-NET-1)
  ['192.88.99.0', 24], // deprecated 6to4 relay anycast (RFC 7526), with the 6a44 relay 192.88.99.2 (RFC 6751)
  ['192.168.0.0', 16], // private-use (RFC 1918)
  ['198.18.0.0', 15], // benchmarking
  ['198.51.100.0', 24], // documentation (TEST-NET-2)
  ['203.0.113.0', 24], // documentation (TEST-NET-3)
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, and the limited broadcast 255.255.255.255
];

/** Blocks inside NON_PUBLIC_IPV4 that the registry marks globally reachable. */
const GLOBAL_IPV4: Blocks = [
  ['192.0.0.9', 32], // Port Control Protocol anycast (RFC 7723)
  ['192.0.0.10', 32], // TURN anycast (RFC 8155)
];

const NON_PUBLIC_IPV6: Blocks = [
  ['::', 3], // outside 2000::/3: reserved by IETF or unallocated (IPv4-mapped and NAT64 forms are judged by their IPv4 address first)
  ['4000::', 2], // outside 2000::/3
  ['8000::', 1], // outside 2000::/3
  ['::', 128], // unspecified
  ['::1', 128], // loopback
  ['64:ff9b:1::', 48], // local-use IPv4/IPv6 translation (RFC 8215)
  ['100::', 64], // discard-only
  ['100:0:0:1::', 64], // dummy prefix (RFC 9780)
  ['2001::', 23], // IETF protocol assignments, but for GLOBAL_IPV6: Teredo 2001::/32, benchmarking 2001:2::/48, ORCHID 2001:10::/28 ...
  ['2001:db8::', 32], // documentation
  ['2002::', 16], // 6to4 (N/A: its relays are deprecated, RFC 7526; the address carries an IPv4 address of any kind)
  ['3fff::', 20], // documentation (RFC 9637)
  ['5f00::', 16], // segment routing SIDs (RFC 9602)
  ['fc00::', 7], // unique local
  ['fe80::', 10], // link-local
  ['ff00::', 8], // multicast
];

/** Blocks inside NON_PUBLIC_IPV6 (all inside 2001::/23) that the registry marks globally reachable. */
const GLOBAL_IPV6: Blocks = [
  ['2001:1::1', 128], // Port Control Protocol anycast (RFC 7723)
  ['2001:1::2', 128], // TURN anycast (RFC 8155)
  ['2001:1::3', 128], // DNS-SD service registration protocol anycast (RFC 9665)
  ['2001:3::', 32], // AMT (RFC 7450)
  ['2001:4:112::', 48], // AS112-v6 (RFC 7535)
  ['2001:20::', 28], // ORCHIDv2 (RFC 7343)
  ['2001:30::', 28], // drone remote ID entity tags (RFC 9374)
];

/**
 * One list per family: a BlockList also matches an IPv4 address against its IPv6 subnets, as
 * the IPv4-mapped ::ffff:a.b.c.d, which the IPv6 list refuses as a whole (it lies outside 2000::/3).
 */
function blockList(blocks: Blocks, family: 'ipv4' | 'ipv6'): BlockList {
  const list = new BlockList();
  for (const [network, prefix] of blocks) list.addSubnet(network, prefix, family);
  return list;
}

const REFUSED = {
  ipv4: { blocks: blockList(NON_PUBLIC_IPV4, 'ipv4'), exceptions: blockList(GLOBAL_IPV4, 'ipv4') },
  ipv6: { blocks: blockList(NON_PUBLIC_IPV6, 'ipv6'), exceptions: blockList(GLOBAL_IPV6, 'ipv6') },
} as const;

function isRefused(address: string, family: 'ipv4' | 'ipv6'): boolean {
  const { blocks, exceptions } = REFUSED[family];
  return blocks.check(address, family) && !exceptions.check(address, family);
}

/** The eight 16-bit groups of a valid IPv6 address (zone id removed), a trailing dotted quad included. */
function ipv6Groups(address: string): number[] {
  let text = address;
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number);
    text = `${text.slice(0, dotted.index)}${(((a ?? 0) << 8) | (b ?? 0)).toString(16)}:${(((c ?? 0) << 8) | (d ?? 0)).toString(16)}`;
  }
  const groupsOf = (part: string | undefined): number[] => (part ? part.split(':').map((group) => Number.parseInt(group, 16)) : []);
  const [head, tail] = text.split('::');
  const headGroups = groupsOf(head);
  if (tail === undefined) return headGroups;
  const tailGroups = groupsOf(tail);
  return [...headGroups, ...new Array<number>(8 - headGroups.length - tailGroups.length).fill(0), ...tailGroups];
}

/**
 * The IPv4 address an IPv6 address carries when a packet to it ends up at that IPv4 address:
 * IPv4-mapped ::ffff:0:0/96 (RFC 4291 §2.5.5.2) and the NAT64 well-known prefix 64:ff9b::/96
 * (RFC 6052 §2.1). Such an address is judged by the IPv4 address it carries.
 */
function embeddedIpv4(address: string): string | null {
  const groups = ipv6Groups(address);
  const [g0, g1, g2, g3, g4, g5, g6, g7] = groups;
  if (groups.length !== 8 || g6 === undefined || g7 === undefined) return null;
  const mapped = g0 === 0 && g1 === 0 && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0xffff;
  const nat64 = g0 === 0x64 && g1 === 0xff9b && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0;
  if (!mapped && !nat64) return null;
  return [g6 >> 8, g6 & 0xff, g7 >> 8, g7 & 0xff].join('.');
}

/**
 * An IP address as the guard judges it: the IPv4 address an IPv6 address carries, when it carries
 * one; null when `address` is no IP address.
 */
function judgedAddress(address: string): { address: string; family: 'ipv4' | 'ipv6' } | null {
  const unbracketed = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address;
  // A zone id (fe80::1%eth0) names an interface, not part of the address.
  const bare = unbracketed.split('%')[0] ?? '';
  const family = isIP(bare);
  if (family === 4) return { address: bare, family: 'ipv4' };
  if (family !== 6) return null;
  const carried = embeddedIpv4(bare);
  return carried === null ? { address: bare, family: 'ipv6' } : { address: carried, family: 'ipv4' };
}

/** Whether `address` is an IP address a webhook may be sent to; anything that is not an IP address is not. */
export function isPublicAddress(address: string): boolean {
  const judged = judgedAddress(address);
  return judged !== null && !isRefused(judged.address, judged.family);
}

/*
 * What HOOK_TARGETS_ALLOW_PRIVATE opens: the private-use and loopback blocks, where a self-hosted
 * set-up's own receivers live, and nothing else. Link-local stays refused (169.254.169.254 and
 * fe80::/10 are where cloud metadata services answer, with the instance's credentials), and so
 * do the metadata addresses that lie inside the opened blocks; multicast, documentation,
 * benchmarking and the other reserved blocks never hold a receiver.
 * https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/instancedata-data-retrieval.html (169.254.169.254, fd00:ec2::254)
 * https://www.alibabacloud.com/help/en/ecs/user-guide/overview-of-ecs-instance-metadata (100.100.100.200)
 */
const PRIVATE_IPV4: Blocks = [
  ['10.0.0.0', 8], // private-use (RFC 1918)
  ['100.64.0.0', 10], // shared address space (RFC 6598), which overlay networks use as their private range
  ['127.0.0.0', 8], // loopback
  ['172.16.0.0', 12], // private-use (RFC 1918)
  ['192.168.0.0', 16], // private-use (RFC 1918)
];

const PRIVATE_IPV6: Blocks = [
  ['::1', 128], // loopback
  ['fc00::', 7], // unique local (RFC 4193)
];

/** Cloud metadata services inside PRIVATE_IPV4 and PRIVATE_IPV6: refused all the same. */
const METADATA_IPV4: Blocks = [['100.100.100.200', 32]];
const METADATA_IPV6: Blocks = [['fd00:ec2::254', 128]];

const OPENED_BY_ALLOW_PRIVATE = {
  ipv4: { blocks: blockList(PRIVATE_IPV4, 'ipv4'), exceptions: blockList(METADATA_IPV4, 'ipv4') },
  ipv6: { blocks: blockList(PRIVATE_IPV6, 'ipv6'), exceptions: blockList(METADATA_IPV6, 'ipv6') },
} as const;

/**
 * Whether `address` is in a private-use or loopback block, the ones HOOK_TARGETS_ALLOW_PRIVATE
 * opens; never a link-local address or a cloud metadata service's.
 */
export function isPrivateOrLoopbackAddress(address: string): boolean {
  const judged = judgedAddress(address);
  if (judged === null) return false;
  const { blocks, exceptions } = OPENED_BY_ALLOW_PRIVATE[judged.family];
  return blocks.check(judged.address, judged.family) && !exceptions.check(judged.address, judged.family);
}

/** Which addresses webhook targets may have. */
export interface TargetPolicy {
  /** HOOK_TARGETS_ALLOW_PRIVATE: private-use and loopback addresses too (see isPrivateOrLoopbackAddress). */
  allowPrivate?: boolean;
}

/** Whether a webhook may be sent to `address` under `policy`. */
export function isAllowedTargetAddress(address: string, policy: TargetPolicy = {}): boolean {
  return isPublicAddress(address) || (policy.allowPrivate === true && isPrivateOrLoopbackAddress(address));
}

/**
 * Whether the URL's host is known to be refused under `policy` without resolving anything: an IP
 * address the policy does not allow, or `localhost` and its subdomains, which resolve to loopback
 * (RFC 6761 §6.3) and so are allowed only with private targets. A URL that does not parse is not
 * judged here (its schema refuses it).
 */
export function hasRefusedTargetHost(url: string, policy: TargetPolicy = {}): boolean {
  let hostname: string;
  try {
    // WHATWG parsing canonicalises the host (0x7f.1 and 2130706433 become 127.0.0.1), as the sender's does.
    hostname = new URL(url).hostname;
  } catch {
    return false;
  }
  const host = hostname.startsWith('[') ? hostname.slice(1, -1) : hostname;
  if (isIP(host) !== 0) return !isAllowedTargetAddress(host, policy);
  if (policy.allowPrivate === true) return false;
  const name = host.toLowerCase().replace(/\.$/, '');
  return name === 'localhost' || name.endsWith('.localhost');
}

/** Whether the URL's host is known not to be public without resolving anything (see hasRefusedTargetHost). */
export function hasNonPublicHost(url: string): boolean {
  return hasRefusedTargetHost(url);
}

export const NON_PUBLIC_TARGET_MESSAGE = 'must not point to a private, loopback or link-local address';
/** The refusal when private targets are allowed: what stays closed. */
export const RESERVED_TARGET_MESSAGE =
  'must not point to a link-local, cloud metadata or other reserved address (only public, private-use and loopback addresses are allowed)';

/**
 * Names the switch that would allow a refused private-use or loopback target: a self-hoster whose
 * receivers run on the server's own network can then find it from the refusal. Saying so discloses
 * nothing, since such a server would accept the target. A link-local or reserved target stays
 * refused whatever the setting, so its refusal does not name it.
 */
export const ALLOW_PRIVATE_HINT = '(a server started with HOOK_TARGETS_ALLOW_PRIVATE=true allows private-use and loopback targets)';

function refusedTargetMessage(url: string, policy: TargetPolicy): string {
  if (policy.allowPrivate === true) return RESERVED_TARGET_MESSAGE;
  return hasRefusedTargetHost(url, { allowPrivate: true }) ? NON_PUBLIC_TARGET_MESSAGE : `${NON_PUBLIC_TARGET_MESSAGE} ${ALLOW_PRIVATE_HINT}`;
}

/**
 * Refuses a target URL whose host `policy` does not allow, as a validation error naming `field`
 * by its path (the issue's message does not repeat it: `targetUrl: must not point to ...`);
 * host names are not resolved here (delivery checks the address it connects to).
 */
export function assertTargetUrlAllowed(url: string, field: string, what: string, policy: TargetPolicy = {}): void {
  if (!hasRefusedTargetHost(url, policy)) return;
  const message = refusedTargetMessage(url, policy);
  throw new ConsentryError('VALIDATION_FAILED', `Invalid ${what}: ${field}: ${message}`, [{ path: field, message }]);
}

/** Refuses a target URL whose host is not public (assertTargetUrlAllowed without private targets). */
export function assertPublicTargetUrl(url: string, field: string, what: string): void {
  assertTargetUrlAllowed(url, field, what);
}

/** The error code a guarded lookup fails with; the sender turns it into a refused target. */
export const TARGET_NOT_PUBLIC_CODE = 'ETARGETNOTPUBLIC';

/**
 * A lookup for the HTTP client (Node's `lookup` socket option, got's `dnsLookup`) that fails
 * when `hostname` resolves to any address `policy` does not allow. The check is on the addresses
 * the socket is about to connect to, so a name that changes its answer between checks (DNS
 * rebinding) is caught too. The error names the host, not the address, so a delivery report
 * does not disclose what an internal name resolves to.
 */
export function guardedLookup(lookup: LookupFunction = systemLookup, policy: TargetPolicy = {}): LookupFunction {
  const refusedKind = policy.allowPrivate === true ? 'a link-local or reserved' : 'a private or reserved';
  return (hostname, options, callback) => {
    lookup(hostname, options, (error, address, family) => {
      if (error) {
        callback(error, address, family);
        return;
      }
      const addresses = typeof address === 'string' ? [address] : address.map((entry) => entry.address);
      if (addresses.every((entry) => isAllowedTargetAddress(entry, policy))) {
        callback(null, address, family);
        return;
      }
      // A server that takes over the workers of another started with the setting refuses what that
      // one sent: the message says which setting opens the address, as the refusal of a new hook does.
      const opened = policy.allowPrivate !== true && addresses.every((entry) => isAllowedTargetAddress(entry, { allowPrivate: true }));
      const refused: NodeJS.ErrnoException = new Error(`${hostname} resolves to ${refusedKind} address${opened ? ` ${ALLOW_PRIVATE_HINT}` : ''}`);
      refused.code = TARGET_NOT_PUBLIC_CODE;
      callback(refused, typeof address === 'string' ? '' : [], family);
    });
  };
}
