import { describe, expect, it } from 'vitest';
import { LEGAL_BASES, LEGAL_BASIS_LABELS } from '../../../src/core/consent.js';
import {
  CONSENTRY_PROPERTY_NAMES,
  CONTACT_ID_PROPERTY,
  PROPERTIES_THE_SYNC_ADDS,
  PROPERTY_GROUP_NAME,
  SYNCED_CHANNELS,
  TAGS_PROPERTY,
  channelPropertyNames,
  formatPlan,
  planChangeCount,
  planInstall,
  propertyDefinitions,
  tagOptionValue,
  type ExistingProperty,
  type InstallPlan,
} from '../../../connectors/hubspot/properties.js';

/** What the portal looks like after an install plan has been carried out, as HubSpot would list it. */
function applyPlan(existing: { groups: string[]; properties: ExistingProperty[] }, plan: InstallPlan) {
  const groups = plan.createGroup === null ? existing.groups : [...existing.groups, plan.createGroup.name];
  const properties = existing.properties.map((p) => {
    const update = plan.updateOptions.find((u) => u.propertyName === p.name);
    return update === undefined ? p : { ...p, options: update.options };
  });
  for (const created of plan.createProperties) {
    properties.push({ name: created.name, type: created.type, fieldType: created.fieldType, groupName: created.groupName, options: created.options ?? [] });
  }
  return { groups, properties };
}

const EMPTY_PORTAL = { groups: ['contactinformation'], properties: [] as ExistingProperty[] };

describe('property definitions', () => {
  it('defines status, legal basis, explanation, updated-at and source for each synced channel, plus privacy and tags', () => {
    expect(SYNCED_CHANNELS).toEqual(['whatsapp', 'sms', 'messenger', 'webchat', 'email']);
    const names = new Set(CONSENTRY_PROPERTY_NAMES);
    for (const channel of SYNCED_CHANNELS) {
      for (const name of Object.values(channelPropertyNames(channel))) expect(names.has(name)).toBe(true);
    }
    expect(names.has('consentry_whatsapp_status')).toBe(true);
    expect(names.has('consentry_sms_legal_basis')).toBe(true);
    expect(names.has('consentry_privacy_status')).toBe(true);
    expect(names.has('consentry_privacy_date')).toBe(true);
    expect(names.has(TAGS_PROPERTY)).toBe(true);
    // Five per channel, privacy status and date, tags, and the contact id records are created by.
    expect(CONSENTRY_PROPERTY_NAMES).toHaveLength(SYNCED_CHANNELS.length * 5 + 4);
    expect(names.size).toBe(CONSENTRY_PROPERTY_NAMES.length);
  });

  it('puts every property in the consentry group with HubSpot types', () => {
    const byName = new Map(propertyDefinitions().map((d) => [d.name, d]));
    for (const definition of byName.values()) expect(definition.groupName).toBe(PROPERTY_GROUP_NAME);
    expect(byName.get('consentry_email_updated_at')).toMatchObject({ type: 'datetime', fieldType: 'date' });
    expect(byName.get('consentry_email_explanation')).toMatchObject({ type: 'string', fieldType: 'textarea' });
    expect(byName.get(TAGS_PROPERTY)).toMatchObject({ type: 'enumeration', fieldType: 'checkbox', options: [] });
    expect(byName.get('consentry_webchat_status')?.options?.map((o) => o.value)).toEqual(['opted_in', 'opted_out', 'not_specified']);
  });

  it('labels legal bases as HubSpot does', () => {
    const options = propertyDefinitions().find((d) => d.name === 'consentry_whatsapp_legal_basis')?.options ?? [];
    expect(options.map((o) => o.value)).toEqual([...LEGAL_BASES]);
    expect(options.find((o) => o.value === 'CONSENT_WITH_NOTICE')?.label).toBe(LEGAL_BASIS_LABELS.CONSENT_WITH_NOTICE);
  });

  it('keeps tags with ";" from splitting into two checkbox values', () => {
    expect(tagOptionValue(' VIP; Gold ')).toBe('VIP, Gold');
  });
});

describe('planInstall', () => {
  it('plans the group and every property on an empty portal, tag options included', () => {
    const plan = planInstall(EMPTY_PORTAL, ['Consent: Privacy', 'VIP', 'VIP']);
    expect(plan.createGroup?.name).toBe('consentry');
    expect(plan.createProperties.map((p) => p.name)).toEqual(CONSENTRY_PROPERTY_NAMES);
    const tags = plan.createProperties.find((p) => p.name === TAGS_PROPERTY);
    expect(tags?.options?.map((o) => o.value)).toEqual(['Consent: Privacy', 'VIP']);
    expect(plan.updateOptions).toEqual([]);
    expect(plan.conflicts).toEqual([]);
    expect(planChangeCount(plan)).toBe(1 + CONSENTRY_PROPERTY_NAMES.length);
  });

  it('plans nothing on a rerun', () => {
    const first = planInstall(EMPTY_PORTAL, ['VIP']);
    const again = planInstall(applyPlan(EMPTY_PORTAL, first), ['VIP']);
    expect(planChangeCount(again)).toBe(0);
    expect(again.inPlace).toHaveLength(CONSENTRY_PROPERTY_NAMES.length);
    expect(formatPlan(again)).toMatch(/^Nothing to change/);
  });

  it('adds only the new tag options, keeping the existing ones and their order', () => {
    const installed = applyPlan(EMPTY_PORTAL, planInstall(EMPTY_PORTAL, ['VIP']));
    const plan = planInstall(installed, ['VIP', 'Consent: Privacy']);
    expect(plan.createGroup).toBeNull();
    expect(plan.createProperties).toEqual([]);
    expect(plan.updateOptions).toHaveLength(1);
    const [update] = plan.updateOptions;
    expect(update?.propertyName).toBe(TAGS_PROPERTY);
    expect(update?.added.map((o) => o.value)).toEqual(['Consent: Privacy']);
    expect(update?.options.map((o) => o.value)).toEqual(['VIP', 'Consent: Privacy']);
    expect(update?.options.map((o) => o.displayOrder)).toEqual([0, 1]);
    expect(planChangeCount(planInstall(applyPlan(installed, plan), ['VIP', 'Consent: Privacy']))).toBe(0);
  });

  it('never removes tag options that are no longer wanted', () => {
    const installed = applyPlan(EMPTY_PORTAL, planInstall(EMPTY_PORTAL, ['VIP', 'Old']));
    expect(planChangeCount(planInstall(installed, ['VIP']))).toBe(0);
  });

  it('restores a missing status option', () => {
    const installed = applyPlan(EMPTY_PORTAL, planInstall(EMPTY_PORTAL, []));
    const damaged = {
      ...installed,
      properties: installed.properties.map((p) =>
        p.name === 'consentry_sms_status' ? { ...p, options: p.options.filter((o) => o.value !== 'opted_out') } : p,
      ),
    };
    const plan = planInstall(damaged, []);
    expect(plan.updateOptions.map((u) => [u.propertyName, u.added.map((o) => o.value)])).toEqual([['consentry_sms_status', ['opted_out']]]);
  });

  it('reports a property of ours with the wrong type as a conflict and does not touch it', () => {
    const installed = applyPlan(EMPTY_PORTAL, planInstall(EMPTY_PORTAL, []));
    const broken = {
      ...installed,
      properties: installed.properties.map((p) => {
        if (p.name === 'consentry_sms_status') return { ...p, type: 'string', fieldType: 'text', options: [] };
        if (p.name === TAGS_PROPERTY) return { ...p, fieldType: 'select' };
        return p;
      }),
    };
    const plan = planInstall(broken, ['VIP']);
    expect(plan.conflicts).toEqual([
      { propertyName: 'consentry_sms_status', expected: 'enumeration/select', found: 'string/text' },
      { propertyName: TAGS_PROPERTY, expected: 'enumeration/checkbox', found: 'enumeration/select' },
    ]);
    expect(plan.updateOptions).toEqual([]);
    expect(formatPlan(plan)).toContain('! consentry_sms_status exists as string/text, expected enumeration/select');
  });

  it('adds the contact id property, kept unique, to a portal installed before it existed, and nothing else', () => {
    const installed = applyPlan(EMPTY_PORTAL, planInstall(EMPTY_PORTAL, ['VIP']));
    const before = { ...installed, properties: installed.properties.filter((p) => p.name !== CONTACT_ID_PROPERTY) };
    const plan = planInstall(before, ['VIP']);
    expect(plan.createGroup).toBeNull();
    expect(plan.createProperties).toEqual([expect.objectContaining({ name: CONTACT_ID_PROPERTY, type: 'string', fieldType: 'text', hasUniqueValue: true })]);
    expect(plan.updateOptions).toEqual([]);
    expect(formatPlan(plan)).toContain(`+ create property ${CONTACT_ID_PROPERTY} (string/text, unique)`);
    expect(PROPERTIES_THE_SYNC_ADDS).toEqual([CONTACT_ID_PROPERTY]);
  });

  it('reports a contact id property HubSpot does not keep unique as a conflict: an upsert cannot use it', () => {
    const installed = applyPlan(EMPTY_PORTAL, planInstall(EMPTY_PORTAL, []));
    const notUnique = { ...installed, properties: installed.properties.map((p) => (p.name === CONTACT_ID_PROPERTY ? { ...p, hasUniqueValue: false } : p)) };
    expect(planInstall(notUnique, []).conflicts).toEqual([{ propertyName: CONTACT_ID_PROPERTY, expected: 'string/text unique', found: 'string/text not unique' }]);
    const unique = { ...installed, properties: installed.properties.map((p) => (p.name === CONTACT_ID_PROPERTY ? { ...p, hasUniqueValue: true } : p)) };
    expect(planInstall(unique, []).conflicts).toEqual([]);
  });

  it('accepts a status select shown as radio buttons', () => {
    const installed = applyPlan(EMPTY_PORTAL, planInstall(EMPTY_PORTAL, []));
    const radio = { ...installed, properties: installed.properties.map((p) => (p.name === 'consentry_sms_status' ? { ...p, fieldType: 'radio' } : p)) };
    expect(planInstall(radio, []).conflicts).toEqual([]);
  });
});

describe('formatPlan', () => {
  it('lists what a dry run would do', () => {
    const text = formatPlan(planInstall(EMPTY_PORTAL, ['VIP']));
    expect(text).toContain('+ create group consentry');
    expect(text).toContain('+ create property consentry_whatsapp_status (enumeration/select, 3 options)');
    expect(text).toContain('+ create property consentry_tags (enumeration/checkbox, 1 option)');
    expect(text).toContain(`${1 + CONSENTRY_PROPERTY_NAMES.length} changes.`);
  });

  it('names added tag options', () => {
    const installed = applyPlan(EMPTY_PORTAL, planInstall(EMPTY_PORTAL, []));
    const text = formatPlan(planInstall(installed, ['Consent: Privacy']));
    expect(text).toContain('~ add 1 option to consentry_tags: "Consent: Privacy"');
    expect(text).toContain(`= ${CONSENTRY_PROPERTY_NAMES.length - 1} of ${CONSENTRY_PROPERTY_NAMES.length} properties already in place`);
    expect(text).toContain('1 change.');
  });
});
