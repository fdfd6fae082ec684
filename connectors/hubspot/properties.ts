import { CONSENT_SOURCES, LEGAL_BASES, LEGAL_BASIS_LABELS, type ConsentSource, type EffectiveStatus } from '../../src/core/consent.js';

/**
 * The Communication Preferences API writes email subscriptions only; WhatsApp and SMS
 * subscriptions cannot be written by API (DESIGN §6). Per-channel consent therefore lives in
 * contact properties of the connector's own group.
 * https://developers.hubspot.com/docs/api/crm/properties
 */
export const HUBSPOT_OBJECT_TYPE = 'contacts';
export const PROPERTY_GROUP_NAME = 'consentry';

export const SYNCED_CHANNELS = ['whatsapp', 'sms', 'messenger', 'webchat', 'email'] as const;
export type SyncedChannel = (typeof SYNCED_CHANNELS)[number];

export function isSyncedChannel(value: string): value is SyncedChannel {
  return (SYNCED_CHANNELS as readonly string[]).includes(value);
}

export const SYNCED_CHANNEL_LABELS: Readonly<Record<SyncedChannel, string>> = {
  whatsapp: 'WhatsApp',
  sms: 'SMS',
  messenger: 'Messenger',
  webchat: 'Web chat',
  email: 'Email',
};

export const STATUS_VALUES = ['opted_in', 'opted_out', 'not_specified'] as const satisfies readonly EffectiveStatus[];
const STATUS_LABELS: Record<EffectiveStatus, string> = {
  opted_in: 'Opted in',
  opted_out: 'Opted out',
  not_specified: 'Not specified',
};

const SOURCE_LABELS: Record<ConsentSource, string> = {
  keyword: 'Keyword',
  workflow: 'Workflow',
  manual: 'Manual',
  bulk: 'Bulk update',
  api: 'API',
  hubspot: 'HubSpot',
  zapier: 'Zapier',
  slack: 'Slack',
};

export interface ChannelPropertyNames {
  status: string;
  legalBasis: string;
  explanation: string;
  updatedAt: string;
  source: string;
}

export function channelPropertyNames(channel: SyncedChannel): ChannelPropertyNames {
  const prefix = `${PROPERTY_GROUP_NAME}_${channel}`;
  return {
    status: `${prefix}_status`,
    legalBasis: `${prefix}_legal_basis`,
    explanation: `${prefix}_explanation`,
    updatedAt: `${prefix}_updated_at`,
    source: `${prefix}_source`,
  };
}

export const PRIVACY_STATUS_PROPERTY = `${PROPERTY_GROUP_NAME}_privacy_status`;
export const PRIVACY_DATE_PROPERTY = `${PROPERTY_GROUP_NAME}_privacy_date`;
export const TAGS_PROPERTY = `${PROPERTY_GROUP_NAME}_tags`;
/**
 * The Consentry contact id, unique in the portal: the key a contact without e-mail is created by
 * (batch upsert with `idProperty`), so a create sent again after an unclear answer finds the
 * record it made instead of making a second one (https://developers.hubspot.com/docs/api/crm/contacts).
 */
export const CONTACT_ID_PROPERTY = `${PROPERTY_GROUP_NAME}_contact_id`;

/**
 * Properties added after portals were first installed: the sync creates them itself when a portal
 * has every other property, so such a portal needs no new `consentry hubspot install`.
 */
export const PROPERTIES_THE_SYNC_ADDS: readonly string[] = [CONTACT_ID_PROPERTY];

/** The status properties: their webhooks become decisions (http/webhooks.ts), and their values are only STATUS_VALUES. */
const STATUS_PROPERTIES: ReadonlySet<string> = new Set([...SYNCED_CHANNELS.map((channel) => channelPropertyNames(channel).status), PRIVACY_STATUS_PROPERTY]);

export function isStatusProperty(name: string): boolean {
  return STATUS_PROPERTIES.has(name);
}

export type PropertyType = 'string' | 'datetime' | 'enumeration';
export type FieldType = 'text' | 'textarea' | 'date' | 'select' | 'checkbox';

export interface OptionDefinition {
  label: string;
  value: string;
  displayOrder: number;
  hidden: boolean;
}

export interface PropertyGroupDefinition {
  name: string;
  label: string;
  displayOrder: number;
}

/** The fields of HubSpot's PropertyCreate that the connector sets. */
export interface PropertyDefinition {
  name: string;
  label: string;
  description: string;
  groupName: string;
  type: PropertyType;
  fieldType: FieldType;
  displayOrder: number;
  /** Enumerations only. */
  options?: OptionDefinition[];
  /** HubSpot refuses a second record with the same value; it can be an upsert's `idProperty`. */
  hasUniqueValue?: boolean;
}

export interface ExistingOption {
  label: string;
  value: string;
  displayOrder?: number;
  hidden?: boolean;
}

/** What `GET /crm/v3/properties/contacts` tells about one property. */
export interface ExistingProperty {
  name: string;
  type: string;
  fieldType: string;
  groupName: string;
  options: ExistingOption[];
  /** Unknown when HubSpot's answer leaves it out. */
  hasUniqueValue?: boolean;
}

export const PROPERTY_GROUP: PropertyGroupDefinition = {
  name: PROPERTY_GROUP_NAME,
  label: 'Consentry consent',
  displayOrder: -1,
};

function options(entries: ReadonlyArray<readonly [value: string, label: string]>): OptionDefinition[] {
  return entries.map(([value, label], index) => ({ value, label, displayOrder: index, hidden: false }));
}

const statusOptions = (): OptionDefinition[] => options(STATUS_VALUES.map((s) => [s, STATUS_LABELS[s]] as const));
const legalBasisOptions = (): OptionDefinition[] => options(LEGAL_BASES.map((b) => [b, LEGAL_BASIS_LABELS[b]] as const));
const sourceOptions = (): OptionDefinition[] => options(CONSENT_SOURCES.map((s) => [s, SOURCE_LABELS[s]] as const));

/**
 * Multi-checkbox values travel as one string joined by ";"
 * (https://developers.hubspot.com/docs/api/crm/properties), so a
 * tag's own ";" would split it: it becomes ",".
 */
export function tagOptionValue(tag: string): string {
  return tag.trim().replace(/;/g, ',');
}

/** Every property the connector owns, in display order (without tag options: those grow with use). */
export function propertyDefinitions(): PropertyDefinition[] {
  const definitions: PropertyDefinition[] = [];
  const add = (definition: Omit<PropertyDefinition, 'groupName' | 'displayOrder'>): void => {
    definitions.push({ ...definition, groupName: PROPERTY_GROUP_NAME, displayOrder: definitions.length });
  };
  for (const channel of SYNCED_CHANNELS) {
    const names = channelPropertyNames(channel);
    const label = SYNCED_CHANNEL_LABELS[channel];
    add({
      name: names.status,
      label: `${label} consent status`,
      description: `Marketing consent on ${label} as recorded by Consentry.`,
      type: 'enumeration',
      fieldType: 'select',
      options: statusOptions(),
    });
    add({
      name: names.legalBasis,
      label: `${label} consent legal basis`,
      description: `Legal basis (GDPR Art. 6) of the latest ${label} consent decision.`,
      type: 'enumeration',
      fieldType: 'select',
      options: legalBasisOptions(),
    });
    add({
      name: names.explanation,
      label: `${label} consent explanation`,
      description: `Why the latest ${label} consent decision was made.`,
      type: 'string',
      fieldType: 'textarea',
    });
    add({
      name: names.updatedAt,
      label: `${label} consent updated at`,
      description: `When the latest ${label} consent decision was made.`,
      type: 'datetime',
      fieldType: 'date',
    });
    add({
      name: names.source,
      label: `${label} consent source`,
      description: `Where the latest ${label} consent decision came from.`,
      type: 'enumeration',
      fieldType: 'select',
      options: sourceOptions(),
    });
  }
  add({
    name: PRIVACY_STATUS_PROPERTY,
    label: 'Privacy consent status',
    description: 'Consent to the processing of personal data, as recorded by Consentry.',
    type: 'enumeration',
    fieldType: 'select',
    options: statusOptions(),
  });
  add({
    name: PRIVACY_DATE_PROPERTY,
    label: 'Privacy consent date',
    description: 'When the latest privacy consent decision was made.',
    type: 'datetime',
    fieldType: 'date',
  });
  add({
    name: TAGS_PROPERTY,
    label: 'Consentry tags',
    description: 'Tags the contact carries in Consentry.',
    type: 'enumeration',
    fieldType: 'checkbox',
    options: [],
  });
  add({
    name: CONTACT_ID_PROPERTY,
    label: 'Consentry contact id',
    description: 'The contact in Consentry; set when Consentry creates the record.',
    type: 'string',
    fieldType: 'text',
    hasUniqueValue: true,
  });
  return definitions;
}

export const CONSENTRY_PROPERTY_NAMES: readonly string[] = propertyDefinitions().map((d) => d.name);

export interface OptionsUpdate {
  propertyName: string;
  added: OptionDefinition[];
  /** The full list to PATCH: HubSpot replaces a property's options with the list it is sent. */
  options: OptionDefinition[];
}

export interface PropertyConflict {
  propertyName: string;
  expected: string;
  found: string;
}

export interface InstallPlan {
  objectType: typeof HUBSPOT_OBJECT_TYPE;
  createGroup: PropertyGroupDefinition | null;
  createProperties: PropertyDefinition[];
  updateOptions: OptionsUpdate[];
  /** A property of ours exists with a shape we cannot write to; a person has to resolve it. */
  conflicts: PropertyConflict[];
  /** Properties that exist and need nothing. */
  inPlace: string[];
}

function shape(type: string, fieldType: string): string {
  return `${type}/${fieldType}`;
}

/**
 * Only `type` decides whether values fit; a select shown as radio buttons holds the same values. A
 * set of tags needs a checkbox, and an upsert key a property HubSpot keeps unique (HubSpot does not
 * change `hasUniqueValue` on an existing property).
 */
function conflictOf(wanted: PropertyDefinition, found: ExistingProperty): PropertyConflict | null {
  const fits =
    found.type === wanted.type &&
    (wanted.fieldType !== 'checkbox' || found.fieldType === 'checkbox') &&
    (wanted.hasUniqueValue !== true || found.hasUniqueValue !== false);
  if (fits) return null;
  const unique = (value: boolean | undefined): string => (value === true ? ' unique' : '');
  return {
    propertyName: wanted.name,
    expected: `${shape(wanted.type, wanted.fieldType)}${unique(wanted.hasUniqueValue)}`,
    found: `${shape(found.type, found.fieldType)}${wanted.hasUniqueValue === true && found.hasUniqueValue === false ? ' not unique' : ''}`,
  };
}

function missingOptions(wanted: readonly OptionDefinition[], found: ExistingProperty): OptionsUpdate | null {
  const present = new Set(found.options.map((o) => o.value));
  const merged: OptionDefinition[] = found.options.map((o, index) => ({
    label: o.label,
    value: o.value,
    displayOrder: o.displayOrder ?? index,
    hidden: o.hidden ?? false,
  }));
  let nextOrder = merged.reduce((max, o) => Math.max(max, o.displayOrder + 1), 0);
  const added: OptionDefinition[] = [];
  for (const option of wanted) {
    if (present.has(option.value)) continue;
    present.add(option.value);
    const addition = { ...option, displayOrder: nextOrder++ };
    added.push(addition);
    merged.push(addition);
  }
  return added.length === 0 ? null : { propertyName: found.name, added, options: merged };
}

function tagOptions(tags: readonly string[]): OptionDefinition[] {
  const seen = new Set<string>();
  const result: OptionDefinition[] = [];
  for (const tag of tags) {
    const value = tagOptionValue(tag);
    if (value === '' || seen.has(value)) continue;
    seen.add(value);
    result.push({ label: tag.trim(), value, displayOrder: result.length, hidden: false });
  }
  return result;
}

/** Pure: compares what the portal has with what the connector needs. Rerunning on its own result plans nothing. */
export function planInstall(existing: { groups: readonly string[]; properties: readonly ExistingProperty[] }, wantedTags: readonly string[]): InstallPlan {
  const byName = new Map(existing.properties.map((p) => [p.name, p]));
  const plan: InstallPlan = {
    objectType: HUBSPOT_OBJECT_TYPE,
    createGroup: existing.groups.includes(PROPERTY_GROUP_NAME) ? null : PROPERTY_GROUP,
    createProperties: [],
    updateOptions: [],
    conflicts: [],
    inPlace: [],
  };
  for (const definition of propertyDefinitions()) {
    const wantedOptions = definition.name === TAGS_PROPERTY ? tagOptions(wantedTags) : (definition.options ?? []);
    const found = byName.get(definition.name);
    if (found === undefined) {
      plan.createProperties.push(definition.type === 'enumeration' ? { ...definition, options: wantedOptions } : definition);
      continue;
    }
    const conflict = conflictOf(definition, found);
    if (conflict !== null) {
      plan.conflicts.push(conflict);
      continue;
    }
    const update = definition.type === 'enumeration' ? missingOptions(wantedOptions, found) : null;
    if (update === null) plan.inPlace.push(definition.name);
    else plan.updateOptions.push(update);
  }
  return plan;
}

export function planChangeCount(plan: InstallPlan): number {
  return (plan.createGroup === null ? 0 : 1) + plan.createProperties.length + plan.updateOptions.length;
}

function quoted(values: readonly string[]): string {
  return values.map((v) => JSON.stringify(v)).join(', ');
}

/** Human-readable plan, for `--dry-run` and for the rerun that finds nothing to do. */
export function formatPlan(plan: InstallPlan): string {
  const lines: string[] = [];
  const changes = planChangeCount(plan);
  const total = propertyDefinitions().length;
  if (changes === 0 && plan.conflicts.length === 0) {
    return `Nothing to change: HubSpot ${plan.objectType} property group "${PROPERTY_GROUP_NAME}" and its ${total} properties are already in place.`;
  }
  lines.push(`HubSpot ${plan.objectType} properties, group "${PROPERTY_GROUP_NAME}":`);
  if (plan.createGroup !== null) lines.push(`  + create group ${plan.createGroup.name} ("${plan.createGroup.label}")`);
  for (const property of plan.createProperties) {
    const count = property.options?.length;
    const optionCount = count === undefined ? '' : `, ${count} ${count === 1 ? 'option' : 'options'}`;
    const unique = property.hasUniqueValue === true ? ', unique' : '';
    lines.push(`  + create property ${property.name} (${shape(property.type, property.fieldType)}${optionCount}${unique})`);
  }
  for (const update of plan.updateOptions) {
    const noun = update.added.length === 1 ? 'option' : 'options';
    lines.push(`  ~ add ${update.added.length} ${noun} to ${update.propertyName}: ${quoted(update.added.map((o) => o.label))}`);
  }
  for (const conflict of plan.conflicts) {
    lines.push(
      `  ! ${conflict.propertyName} exists as ${conflict.found}, expected ${conflict.expected}: change or delete it in HubSpot, then rerun`,
    );
  }
  if (plan.inPlace.length > 0) lines.push(`  = ${plan.inPlace.length} of ${total} properties already in place`);
  lines.push(changes === 0 ? 'Nothing to change.' : `${changes} ${changes === 1 ? 'change' : 'changes'}.`);
  return lines.join('\n');
}
