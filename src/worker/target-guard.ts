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

/** Whether `address` is an IP address a webhook may be sent to; anything that is not an IP address is not. */
export function isPublicAddress(address: string): boolean {
  const unbracketed = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address;
  // A zone id (fe80::1%eth0) names an interface, not part of the address.
  const bare = unbracketed.split('%')[0] ?? '';
  const family = isIP(bare);
  if (family === 4) return !isRefused(bare, 'ipv4');
  if (family !== 6) return false;
  const carried = embeddedIpv4(bare);
  if (carried !== null) return !isRefused(carried, 'ipv4');
  return !isRefused(bare, 'ipv6');
}

/**
 * Whether the URL's host is known not to be public without resolving anything: an IP address
 * in a refused block, or `localhost` and its subdomains, which resolve to loopback
 * (RFC 6761 §6.3). A URL that does not parse is not judged here (its schema refuses it).
 */
export function hasNonPublicHost(url: string): boolean {
  let hostname: string;
  try {
    // WHATWG parsing canonicalises the host (0x7f.1 and 2130706433 become 127.0.0.1), as the sender's does.
    hostname = new URL(url).hostname;
  } catch {
    return false;
  }
  const host = hostname.startsWith('[') ? hostname.slice(1, -1) : hostname;
  if (isIP(host) !== 0) return !isPublicAddress(host);
  const name = host.toLowerCase().replace(/\.$/, '');
  return name === 'localhost' || name.endsWith('.localhost');
}

export const NON_PUBLIC_TARGET_MESSAGE = 'must not point to a private, loopback or link-local address';

/**
 * Refuses a target URL whose host is not public, as a validation error naming `field`; host
 * names are not resolved here (delivery checks the address it connects to).
 */
export function assertPublicTargetUrl(url: string, field: string, what: string): void {
  if (!hasNonPublicHost(url)) return;
  const message = `${field} ${NON_PUBLIC_TARGET_MESSAGE}`;
  throw new ConsentryError('VALIDATION_FAILED', `Invalid ${what}: ${field}: ${message}`, [{ path: field, message }]);
}

/** The error code a guarded lookup fails with; the sender turns it into a refused target. */
export const TARGET_NOT_PUBLIC_CODE = 'ETARGETNOTPUBLIC';

/**
 * A lookup for the HTTP client (Node's `lookup` socket option, got's `dnsLookup`) that fails
 * when `hostname` resolves to any address that is not public. The check is on the addresses
 * the socket is about to connect to, so a name that changes its answer between checks (DNS
 * rebinding) is caught too. The error names the host, not the address, so a delivery report
 * does not disclose what an internal name resolves to.
 */
export function guardedLookup(lookup: LookupFunction = systemLookup): LookupFunction {
  return (hostname, options, callback) => {
    lookup(hostname, options, (error, address, family) => {
      if (error) {
        callback(error, address, family);
        return;
      }
      const addresses = typeof address === 'string' ? [address] : address.map((entry) => entry.address);
      if (addresses.every(isPublicAddress)) {
        callback(null, address, family);
        return;
      }
      const refused: NodeJS.ErrnoException = new Error(`${hostname} resolves to a private or reserved address`);
      refused.code = TARGET_NOT_PUBLIC_CODE;
      callback(refused, typeof address === 'string' ? '' : [], family);
    });
  };
}
