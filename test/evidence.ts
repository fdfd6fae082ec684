import { expect } from 'vitest';
import type { Evidence } from '../src/core/consent.js';

/**
 * A record's evidence without its random `salt`, after checking the salt is there exactly when it
 * must be: in evidence that holds anything, and not in evidence that is empty or redacted.
 */
export function unsalted(evidence: Evidence | undefined): Omit<Evidence, 'salt'> | undefined {
  if (evidence === undefined || evidence.redacted === true) return evidence;
  const { salt, ...rest } = evidence;
  if (Object.keys(rest).length === 0) expect(salt).toBeUndefined();
  else expect(salt).toMatch(/^[A-Za-z0-9_-]{22}$/);
  return rest;
}
