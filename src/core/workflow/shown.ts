/**
 * What a workflow run showed the contact, kept for the evidence of the consents it records:
 * a controller must be able to show when, how and what the person was told (GDPR Art. 7(1)),
 * and a template or the policy message may change after the consent was given (DESIGN §2:
 * evidence holds the policy URL and a digest of the policy text shown).
 */
import { EVIDENCE_SHOWN_LIMITS } from '../consent.js';
import { sha256Hex } from '../ledger.js';

/**
 * A sent text as the contact saw it: a question's options follow its text, one line each, the
 * label in square brackets. Button ids are never shown to the contact, so they are left out.
 */
export function shownText(text: string, options?: readonly { label: string }[]): string {
  let shown = text;
  for (const option of options ?? []) shown += `\n[${option.label}]`;
  return shown;
}

/**
 * A run's shown texts after it sent `text`: each distinct text once, at the place it was last
 * sent (a question asked again moves to the end instead of being kept twice, so re-asks neither
 * grow the state nor change the digest), within EVIDENCE_SHOWN_LIMITS (see boundShown).
 */
export function rememberShown(shown: readonly string[], text: string): string[] {
  const kept = shownWithin(text);
  return boundShown([...shown.filter((earlier) => earlier !== kept), kept]);
}

/**
 * A text cut to EVIDENCE_SHOWN_LIMITS.textLength, a lone surrogate (an emoji cut in two by the cut
 * or by whoever sent it) written as U+FFFD: the digest is then taken over the texts the ledger
 * keeps (see validateDecision), and any JSON library writes them the same way.
 */
function shownWithin(text: string): string {
  return text.slice(0, EVIDENCE_SHOWN_LIMITS.textLength).toWellFormed();
}

/**
 * `shown` within EVIDENCE_SHOWN_LIMITS: each text cut to `textLength`, then the oldest dropped
 * while more than `texts` are left or they hold more than `totalLength` characters in all.
 */
export function boundShown(shown: readonly string[]): string[] {
  const texts = shown.map(shownWithin);
  let total = 0;
  for (const text of texts) total += text.length;
  let first = 0;
  while (texts.length - first > EVIDENCE_SHOWN_LIMITS.texts || total > EVIDENCE_SHOWN_LIMITS.totalLength) {
    total -= texts[first]?.length ?? 0;
    first += 1;
  }
  return first === 0 ? texts : texts.slice(first);
}

/**
 * The evidence's `policyDigest` of the shown texts: SHA-256, in lower-case hex, of the UTF-8
 * bytes of the texts as one JSON array in their order, written as `JSON.stringify` writes it (no
 * white space; only `"`, `\`, control characters and lone surrogates escaped). It depends on the
 * texts alone, so consents given under the same wording have the same digest.
 */
export function shownDigest(shown: readonly string[]): string {
  return sha256Hex(JSON.stringify(shown));
}
