import { describe, expect, it } from 'vitest';
import { branchFor, CONSENT_OUTCOMES, completionFields } from '../../../connectors/hubspot/callbacks.js';
import { RUN_OUTCOMES } from '../../../src/core/events.js';

describe('Request consent branches', () => {
  it('maps every way a run ends to one of the five branch values', () => {
    const mapped = Object.fromEntries(RUN_OUTCOMES.map((outcome) => [outcome, branchFor(outcome)]));
    expect(mapped).toEqual({
      given: 'given',
      failed_invalid: 'failed_invalid',
      failed_timeout: 'failed_timeout',
      opted_out: 'opted_out',
      skipped: 'given',
      done: 'cancelled',
      cancelled: 'cancelled',
    });
    for (const value of Object.values(mapped)) expect(CONSENT_OUTCOMES).toContain(value);
  });

  it('completes the callback with SUCCESS and the outcome output field', () => {
    expect(completionFields('failed_timeout')).toEqual({ hs_execution_state: 'SUCCESS', outcome: 'failed_timeout' });
  });
});
