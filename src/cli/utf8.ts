/**
 * The offset of the first byte that does not start a well-formed UTF-8 sequence, undefined when
 * every byte does. The WHATWG decoder writes U+FFFD in place of each ill-formed sequence
 * (https://encoding.spec.whatwg.org/#utf-8-decoder), so the first U+FFFD the bytes do not spell as
 * EF BF BD is where the fatal decoder stopped. `import` (CSV) and `simulate` (JSON) name it.
 */
export function firstInvalidUtf8Offset(bytes: Uint8Array): number | undefined {
  const text = new TextDecoder('utf-8', { ignoreBOM: true }).decode(bytes);
  let offset = 0;
  let decodedUpTo = 0;
  for (let at = text.indexOf('\uFFFD'); at >= 0; at = text.indexOf('\uFFFD', at + 1)) {
    offset += Buffer.byteLength(text.slice(decodedUpTo, at));
    if (bytes[offset] !== 0xef || bytes[offset + 1] !== 0xbf || bytes[offset + 2] !== 0xbd) return offset;
    offset += 3;
    decodedUpTo = at + 1;
  }
  return undefined;
}
