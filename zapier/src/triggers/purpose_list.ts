import type { Bundle, ZObject } from 'zapier-platform-core';
import { z as zod } from 'zod';
import { callApi } from '../api.js';
import { BUILT_IN_PURPOSES, purposeLabel } from '../inputs.js';
import { dropdownTrigger } from './dropdown.js';

/** The part of `GET /v1/settings` read here: the workspace's own purposes, beside the built-in ones. */
const SettingsPurposesSchema = zod.object({ purposes: zod.array(zod.string()).default([]) });

/**
 * Every purpose the workspace records consent for: the built-in ones, then its own (core/settings.ts,
 * knownPurposes). `neverReplayed` for the dropdown, which Zapier does not replay.
 */
export async function knownPurposes(z: ZObject, bundle: Bundle, neverReplayed = false): Promise<string[]> {
  const settings = await callApi(z, bundle, { path: '/v1/settings', schema: SettingsPurposesSchema, neverReplayed });
  const builtIn: readonly string[] = BUILT_IN_PURPOSES;
  return [...BUILT_IN_PURPOSES, ...settings.purposes.filter((purpose) => !builtIn.includes(purpose))];
}

/**
 * A purpose outside the workspace's is a typo: the server refuses it for a known contact (422), and
 * a step that answers for an unknown contact without asking the server refuses it the same way.
 */
export async function assertKnownPurpose(z: ZObject, bundle: Bundle, purpose: string): Promise<void> {
  const builtIn: readonly string[] = BUILT_IN_PURPOSES;
  if (builtIn.includes(purpose)) return;
  const known = await knownPurposes(z, bundle);
  if (known.includes(purpose)) return;
  throw new z.errors.Error(
    `purpose: unknown purpose "${purpose}": this workspace knows ${known.join(', ')} (add its own purposes in Consentry's settings)`,
    'VALIDATION_FAILED',
    422,
  );
}

/** Powers the Purpose dropdowns (`dynamic: 'purpose_list.id.name'`). */
export default dropdownTrigger({
  key: 'purpose_list',
  noun: 'Purpose',
  description: 'Lists the consent purposes of the workspace, for dropdowns.',
  choiceLabel: 'Purpose',
  list: async (z, bundle) => (await knownPurposes(z, bundle, true)).map((purpose) => ({ id: purpose, name: purposeLabel(purpose) })),
  sample: { id: 'marketing', name: 'Marketing (channel subscription)' },
});
