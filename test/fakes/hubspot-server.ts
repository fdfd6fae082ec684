import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';

/**
 * A small local HubSpot: the contact, property, email-subscription and workflow-callback
 * endpoints the connector calls, answering with HubSpot's documented shapes, plus HubSpot's
 * rate limits (429 body with policyName, X-HubSpot-RateLimit-* headers) and injectable 5xx and
 * latency. https://developers.hubspot.com/docs/api/usage-details
 */

export interface WindowLimit {
  max: number;
  intervalMs: number;
}

export interface FakeHubSpotOptions {
  /** Bearer token requests must carry; null accepts any. */
  accessToken?: string | null;
  /** TEN_SECONDLY_ROLLING: a rolling window over every request. */
  rateLimit?: WindowLimit | null;
  /** SECONDLY: the search endpoints' own limit (5 / s at HubSpot). */
  searchLimit?: WindowLimit | null;
  /** DAILY: requests allowed before every request is refused. */
  dailyLimit?: number | null;
  /** The fake's clock in ms: rate windows and record timestamps follow it. */
  now?: () => number;
  latencyMs?: number;
  /** How latency is waited for; tests pass one that records the wait. */
  delay?: (ms: number) => Promise<void>;
  /** Share of requests answered 500 at random. */
  serverErrorRate?: number;
  random?: () => number;
  /** The portal's email subscription types. */
  subscriptions?: { id: string; name: string }[];
  /** v4 batch write needs Marketing Hub Enterprise; false answers it like a portal without it. */
  v4BatchWrite?: boolean;
  /**
   * Where a v4 batch write error names the input it refuses. HubSpot documents an error's `context`
   * as an object of no set shape and a separate `id`: `id` (the default) answers `context: {}` and
   * the address in `id`; `context` puts it in `context.subscriberIdString`; `nothing` names it nowhere.
   */
  v4ErrorsName?: 'id' | 'context' | 'nothing';
  /**
   * An OAuth app installed in the portal: POST /oauth/2026-03/token issues access tokens for
   * `refreshToken` that live `accessTokenTtlMs` (30 minutes, as HubSpot's, unless told) on the
   * fake's clock; requests carrying one that has not expired are accepted besides `accessToken`.
   * https://developers.hubspot.com/docs/api-reference/auth-oauth-v3/guide
   */
  oauth?: {
    clientId: string;
    clientSecret: string;
    refreshToken: string;
    accessTokenTtlMs?: number;
    /**
     * Codes HubSpot sent to the app's redirect URL after an install: each is exchanged once, with
     * the same redirect URI (grant_type authorization_code), for an access token and `refreshToken`.
     */
    authorizationCodes?: { code: string; redirectUri: string }[];
  };
  /** The account GET /account-info/v3/details answers for: its id (62515 unless told) and IANA time zone (UTC unless told). */
  account?: { portalId?: number; timeZone?: string };
}

/** An answer as the fake sends it: JSON `body`, or `html` as a gateway's page. */
export interface FakeAnswer {
  status: number;
  body?: unknown;
  html?: string;
}

export interface StoredProperty {
  name: string;
  label: string;
  description: string;
  groupName: string;
  type: string;
  fieldType: string;
  displayOrder: number;
  options: { label: string; value: string; displayOrder: number; hidden: boolean }[];
  hubspotDefined: boolean;
  hasUniqueValue: boolean;
}

export interface StoredContact {
  id: string;
  properties: Record<string, string>;
  createdAt: string;
  updatedAt: string;
}

export interface StoredSubscription {
  status: 'SUBSCRIBED' | 'NOT_SUBSCRIBED';
  legalBasis: string | null;
  legalBasisExplanation: string | null;
}

export interface FakeHubSpotState {
  groups: Map<string, { name: string; label: string; displayOrder: number }>;
  properties: Map<string, StoredProperty>;
  contacts: Map<string, StoredContact>;
  /** email → subscription id → status. */
  emailSubscriptions: Map<string, Map<string, StoredSubscription>>;
  callbacks: { callbackId: string; outputFields: Record<string, string> }[];
  /** Addresses whose subscription statuses HubSpot refuses to change (lower case). */
  refusedSubscribers: Set<string>;
}

export interface FakeHubSpotStats {
  requests: number;
  rateLimited: number;
  rateLimitedByPolicy: Record<string, number>;
  serverErrors: number;
  /** Requests per route, e.g. "POST /crm/v3/objects/contacts/batch/update". */
  byEndpoint: Record<string, number>;
  /** Contact records written by batch update, per contact id (a record written twice counts twice). */
  contactWrites: Map<string, number>;
}

export interface FakeHubSpot {
  url: string;
  state: FakeHubSpotState;
  stats: FakeHubSpotStats;
  /** The next `count` requests that pass the rate limit answer `status` (500 JSON; 502–504 as a gateway's HTML page). */
  failNext(count: number, status?: number): void;
  setLatency(ms: number): void;
  setRateLimit(limit: WindowLimit | null): void;
  setDailyLimit(limit: number | null): void;
  seedContact(properties: Record<string, string>): string;
  /**
   * The next `count` answers to any of `endpoints` (e.g. "POST /crm/v3/objects/contacts/batch/upsert",
   * route templates as in `stats.byEndpoint`) are what `rewrite` makes of them, after the request
   * was carried out: a gateway timing out after the write, a proxy changing the body.
   */
  rewriteNext(endpoints: string | readonly string[], rewrite: (answer: FakeAnswer) => FakeAnswer, count?: number): void;
  /** Holds the next answer to `endpoint`, after the request was carried out, until `release` is called; `reached` resolves once it is held. */
  holdNext(endpoint: string): { reached: Promise<void>; release(): void };
  resetStats(): void;
  /** The OAuth install is removed: its refresh token and the access tokens it issued are refused from now on. */
  revokeOAuth(): void;
  /** Each access token the token endpoint issued, in order. */
  issuedAccessTokens: readonly string[];
  close(): Promise<void>;
}

const LEGAL_BASES = [
  'LEGITIMATE_INTEREST_PQL',
  'LEGITIMATE_INTEREST_CLIENT',
  'PERFORMANCE_OF_CONTRACT',
  'CONSENT_WITH_NOTICE',
  'NON_GDPR',
  'PROCESS_AND_STORE',
  'LEGITIMATE_INTEREST_OTHER',
] as const;

const Properties = z.record(z.string(), z.string().nullable());
const BatchUpdateBody = z.object({ inputs: z.array(z.object({ id: z.string(), properties: Properties, idProperty: z.string().optional() })) });
const BatchCreateBody = z.object({ inputs: z.array(z.object({ properties: Properties })) });
const BatchUpsertBody = z.object({ inputs: z.array(z.object({ id: z.string(), idProperty: z.string(), properties: Properties })) });
const BatchReadBody = z.object({ inputs: z.array(z.object({ id: z.string() })), properties: z.array(z.string()).optional(), idProperty: z.string().optional() });
const SearchBody = z.object({
  filterGroups: z
    .array(z.object({ filters: z.array(z.object({ propertyName: z.string(), operator: z.string(), value: z.string().optional() })) }))
    .optional(),
  properties: z.array(z.string()).optional(),
  limit: z.number().int().optional(),
  after: z.string().optional(),
});
const OptionBody = z.object({ label: z.string(), value: z.string(), displayOrder: z.number().optional(), hidden: z.boolean().optional() });
const PropertyCreateBody = z.object({
  name: z.string().regex(/^[a-z][a-z0-9_]*$/),
  label: z.string(),
  description: z.string().optional(),
  groupName: z.string(),
  type: z.enum(['string', 'number', 'date', 'datetime', 'enumeration', 'bool']),
  fieldType: z.string(),
  displayOrder: z.number().optional(),
  options: z.array(OptionBody).optional(),
  hasUniqueValue: z.boolean().optional(),
});
const PropertyUpdateBody = z.object({ label: z.string().optional(), options: z.array(OptionBody).optional() });
const GroupCreateBody = z.object({ name: z.string(), label: z.string(), displayOrder: z.number().optional() });
const SubscriptionBody = z.object({
  emailAddress: z.string(),
  subscriptionId: z.string(),
  legalBasis: z.enum(LEGAL_BASES).optional(),
  legalBasisExplanation: z.string().optional(),
});
const V4WriteBody = z.object({
  inputs: z.array(
    z.object({
      subscriberIdString: z.string(),
      subscriptionId: z.number(),
      channel: z.string(),
      statusState: z.enum(['SUBSCRIBED', 'NOT_SUBSCRIBED', 'NOT_SPECIFIED']),
      legalBasis: z.enum(LEGAL_BASES).optional(),
      legalBasisExplanation: z.string().optional(),
    }),
  ),
});
const CallbackBody = z.object({ outputFields: z.record(z.string(), z.string()) });
const CallbackBatchBody = z.object({ inputs: z.array(z.object({ callbackId: z.string(), outputFields: z.record(z.string(), z.string()) })) });

class HttpFailure extends Error {
  constructor(
    readonly status: number,
    readonly body: Record<string, unknown>,
  ) {
    super(String(body.message ?? status));
  }
}

function errorBody(category: string, message: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { status: 'error', message, correlationId: randomUUID(), category, ...extra };
}

function builtInProperties(): StoredProperty[] {
  const text = (name: string, label: string, fieldType = 'text'): StoredProperty => ({
    name,
    label,
    description: '',
    groupName: 'contactinformation',
    type: 'string',
    fieldType,
    displayOrder: -1,
    options: [],
    hubspotDefined: true,
    hasUniqueValue: false,
  });
  return [
    text('email', 'Email'),
    // Further addresses of one record, joined by ";": HubSpot refuses a second record with one of them.
    text('hs_additional_emails', 'Additional email addresses'),
    text('firstname', 'First Name'),
    text('lastname', 'Last Name'),
    text('phone', 'Phone Number', 'phonenumber'),
    text('mobilephone', 'Mobile Phone Number', 'phonenumber'),
  ];
}

export async function startFakeHubSpot(options: FakeHubSpotOptions = {}): Promise<FakeHubSpot> {
  const now = options.now ?? (() => Date.now());
  const random = options.random ?? Math.random;
  const delay = options.delay ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const accessToken = options.accessToken === undefined ? 'fake-token' : options.accessToken;
  const subscriptions = options.subscriptions ?? [{ id: '1001', name: 'Marketing Information' }];
  let rateLimit = options.rateLimit === undefined ? { max: 100, intervalMs: 10_000 } : options.rateLimit;
  const searchLimit = options.searchLimit === undefined ? { max: 5, intervalMs: 1_000 } : options.searchLimit;
  let dailyLimit = options.dailyLimit ?? null;
  let latencyMs = options.latencyMs ?? 0;
  let failures: { remaining: number; status: number } = { remaining: 0, status: 500 };
  let arrivals: number[] = [];
  let searchArrivals: number[] = [];
  let dailyCount = 0;
  let nextId = 1000;

  const state: FakeHubSpotState = {
    groups: new Map([['contactinformation', { name: 'contactinformation', label: 'Contact information', displayOrder: 0 }]]),
    properties: new Map(builtInProperties().map((p) => [p.name, p])),
    contacts: new Map(),
    emailSubscriptions: new Map(),
    callbacks: [],
    refusedSubscribers: new Set(),
  };
  let rewrites: { endpoints: readonly string[]; rewrite: (answer: FakeAnswer) => FakeAnswer; remaining: number }[] = [];
  const holds = new Map<string, { reached: () => void; released: Promise<void> }>();
  const freshStats = (): FakeHubSpotStats => ({ requests: 0, rateLimited: 0, rateLimitedByPolicy: {}, serverErrors: 0, byEndpoint: {}, contactWrites: new Map() });
  const stats = freshStats();

  const iso = (): string => new Date(now()).toISOString();

  function rateHeaders(): Record<string, string> {
    const headers: Record<string, string> = {};
    if (rateLimit !== null) {
      headers['X-HubSpot-RateLimit-Max'] = String(rateLimit.max);
      headers['X-HubSpot-RateLimit-Remaining'] = String(Math.max(0, rateLimit.max - arrivals.length));
      headers['X-HubSpot-RateLimit-Interval-Milliseconds'] = String(rateLimit.intervalMs);
    }
    if (dailyLimit !== null) {
      headers['X-HubSpot-RateLimit-Daily'] = String(dailyLimit);
      headers['X-HubSpot-RateLimit-Daily-Remaining'] = String(Math.max(0, dailyLimit - dailyCount));
    }
    return headers;
  }

  /** Counts the request against every limit it is subject to, or names the policy that refuses it. */
  function admit(search: boolean): 'TEN_SECONDLY_ROLLING' | 'SECONDLY' | 'DAILY' | null {
    const at = now();
    if (dailyLimit !== null && dailyCount >= dailyLimit) return 'DAILY';
    if (rateLimit !== null) {
      const windowStart = at - rateLimit.intervalMs;
      arrivals = arrivals.filter((t) => t > windowStart);
      if (arrivals.length >= rateLimit.max) return 'TEN_SECONDLY_ROLLING';
    }
    if (search && searchLimit !== null) {
      const windowStart = at - searchLimit.intervalMs;
      searchArrivals = searchArrivals.filter((t) => t > windowStart);
      if (searchArrivals.length >= searchLimit.max) return 'SECONDLY';
      searchArrivals.push(at);
    }
    if (rateLimit !== null) arrivals.push(at);
    dailyCount += 1;
    return null;
  }

  const RATE_LIMIT_MESSAGES: Record<string, string> = {
    TEN_SECONDLY_ROLLING: 'You have reached your ten_secondly_rolling limit.',
    SECONDLY: 'You have reached your secondly limit.',
    DAILY: 'You have reached your daily limit.',
  };

  function parseBody<T extends z.ZodType>(schema: T, raw: unknown): z.infer<T> {
    const result = schema.safeParse(raw);
    if (!result.success) {
      throw new HttpFailure(400, errorBody('VALIDATION_ERROR', `Invalid input JSON: ${result.error.issues.map((i) => `${i.path.join('.')} ${i.message}`).join('; ')}`));
    }
    return result.data;
  }

  function propertyView(p: StoredProperty): Record<string, unknown> {
    return {
      name: p.name,
      label: p.label,
      description: p.description,
      groupName: p.groupName,
      type: p.type,
      fieldType: p.fieldType,
      displayOrder: p.displayOrder,
      options: p.options,
      hidden: false,
      formField: false,
      calculated: false,
      externalOptions: false,
      hasUniqueValue: p.hasUniqueValue,
      hubspotDefined: p.hubspotDefined,
      archived: false,
      createdAt: '2026-01-01T00:00:00.000Z',
      updatedAt: '2026-01-01T00:00:00.000Z',
      modificationMetadata: { archivable: !p.hubspotDefined, readOnlyDefinition: p.hubspotDefined, readOnlyValue: false },
    };
  }

  function contactView(contact: StoredContact, wanted: readonly string[] | null): Record<string, unknown> {
    const properties: Record<string, string | null> = {
      hs_object_id: contact.id,
      createdate: contact.createdAt,
      lastmodifieddate: contact.updatedAt,
    };
    const names = wanted ?? Object.keys(contact.properties);
    for (const name of names) properties[name] = contact.properties[name] ?? null;
    return { id: contact.id, properties, createdAt: contact.createdAt, updatedAt: contact.updatedAt, archived: false };
  }

  /** HubSpot refuses the whole batch when a value does not fit its property. */
  function validateValues(values: Record<string, string | null>): Record<string, string> {
    const problems: { message: string; code: string; name: string }[] = [];
    const clean: Record<string, string> = {};
    for (const [name, raw] of Object.entries(values)) {
      const value = raw ?? '';
      const property = state.properties.get(name);
      if (property === undefined) {
        problems.push({ name, code: 'PROPERTY_DOESNT_EXIST', message: `Property "${name}" does not exist` });
        continue;
      }
      if (value !== '' && property.type === 'enumeration') {
        const allowed = new Set(property.options.map((o) => o.value));
        const chosen = property.fieldType === 'checkbox' ? value.split(';') : [value];
        const bad = chosen.filter((v) => !allowed.has(v));
        if (bad.length > 0) {
          problems.push({ name, code: 'INVALID_OPTION', message: `${JSON.stringify(bad[0])} was not one of the allowed options` });
          continue;
        }
      }
      if (value !== '' && property.type === 'datetime' && !/^\d+$/.test(value) && Number.isNaN(Date.parse(value))) {
        problems.push({ name, code: 'INVALID_DATETIME', message: `${JSON.stringify(value)} is not a valid datetime` });
        continue;
      }
      clean[name] = value;
    }
    if (problems.length > 0) {
      throw new HttpFailure(
        400,
        errorBody('VALIDATION_ERROR', `Property values were not valid: ${JSON.stringify(problems.map((p) => ({ isValid: false, ...p, error: p.code })))}`, {
          errors: problems.map((p) => ({ message: p.message, code: p.code, context: { propertyName: [p.name] } })),
        }),
      );
    }
    return clean;
  }

  function assertBatchSize(count: number): void {
    if (count > 100) throw new HttpFailure(400, errorBody('VALIDATION_ERROR', `Batch inputs may not exceed 100; got ${count}`));
  }

  function emailOwner(email: string, except?: string): StoredContact | undefined {
    const wanted = email.toLowerCase();
    for (const contact of state.contacts.values()) {
      if (contact.id !== except && contact.properties.email?.toLowerCase() === wanted) return contact;
    }
    return undefined;
  }

  /** The record with `email` among its additional addresses. */
  function secondaryEmailOwner(email: string): StoredContact | undefined {
    const wanted = email.toLowerCase();
    for (const contact of state.contacts.values()) {
      const additional = (contact.properties.hs_additional_emails ?? '').split(';').map((e) => e.trim().toLowerCase());
      if (additional.includes(wanted)) return contact;
    }
    return undefined;
  }

  function conflict(owner: StoredContact): HttpFailure {
    return new HttpFailure(409, errorBody('CONFLICT', `Contact already exists. Existing ID: ${owner.id}`));
  }

  function createContact(values: Record<string, string>): StoredContact {
    if (values.email !== undefined && values.email !== '') {
      const owner = emailOwner(values.email) ?? secondaryEmailOwner(values.email);
      if (owner !== undefined) throw conflict(owner);
    }
    const at = iso();
    const contact: StoredContact = { id: String(++nextId), properties: { ...values }, createdAt: at, updatedAt: at };
    state.contacts.set(contact.id, contact);
    return contact;
  }

  function batchEnvelope(results: unknown[], errors: Record<string, unknown>[]): Record<string, unknown> {
    const at = iso();
    return {
      status: 'COMPLETE',
      results,
      ...(errors.length > 0 ? { errors, numErrors: errors.length } : {}),
      requestedAt: at,
      startedAt: at,
      completedAt: at,
    };
  }

  function notFound(ids: string[]): Record<string, unknown> {
    return {
      status: 'error',
      category: 'OBJECT_NOT_FOUND',
      message: 'Could not get some CONTACT objects, they may be deleted or not exist. Check that ids are valid.',
      context: { ids },
      errors: [],
      links: {},
    };
  }

  function subscriptionView(email: string, id: string): Record<string, unknown> {
    const definition = subscriptions.find((s) => s.id === id);
    const stored = state.emailSubscriptions.get(email.toLowerCase())?.get(id);
    return {
      id,
      name: definition?.name ?? id,
      description: '',
      status: stored?.status ?? 'NOT_SUBSCRIBED',
      sourceOfStatus: 'SUBSCRIPTION_STATUS',
      ...(stored?.legalBasis == null ? {} : { legalBasis: stored.legalBasis }),
      ...(stored?.legalBasisExplanation == null ? {} : { legalBasisExplanation: stored.legalBasisExplanation }),
    };
  }

  function setSubscription(email: string, id: string, value: StoredSubscription): void {
    const key = email.toLowerCase();
    const byId = state.emailSubscriptions.get(key) ?? new Map<string, StoredSubscription>();
    byId.set(id, value);
    state.emailSubscriptions.set(key, byId);
  }

  type Handler = (params: Record<string, string>, body: unknown) => { status: number; body?: unknown };
  interface Route {
    method: string;
    template: string;
    pattern: RegExp;
    keys: string[];
    search: boolean;
    handle: Handler;
  }
  const routes: Route[] = [];
  function route(method: string, template: string, handle: Handler, search = false): void {
    const keys: string[] = [];
    const pattern = new RegExp(
      `^${template.replace(/\{(\w+)\}/g, (_, key: string) => {
        keys.push(key);
        return '([^/]+)';
      })}$`,
    );
    routes.push({ method, template, pattern, keys, search, handle });
  }

  route('GET', '/crm/v3/properties/contacts/groups', () => ({
    status: 200,
    body: { results: [...state.groups.values()].map((g) => ({ ...g, archived: false })) },
  }));
  route('POST', '/crm/v3/properties/contacts/groups', (_, raw) => {
    const body = parseBody(GroupCreateBody, raw);
    if (state.groups.has(body.name)) throw new HttpFailure(409, errorBody('OBJECT_ALREADY_EXISTS', `A property group named ${body.name} already exists`));
    const group = { name: body.name, label: body.label, displayOrder: body.displayOrder ?? -1 };
    state.groups.set(group.name, group);
    return { status: 201, body: { ...group, archived: false } };
  });
  route('GET', '/crm/v3/properties/contacts', () => ({ status: 200, body: { results: [...state.properties.values()].map(propertyView) } }));
  route('GET', '/crm/v3/properties/contacts/{name}', (params) => {
    const property = state.properties.get(params.name ?? '');
    if (property === undefined) throw new HttpFailure(404, errorBody('OBJECT_NOT_FOUND', `Unable to find property ${params.name}`));
    return { status: 200, body: propertyView(property) };
  });
  route('POST', '/crm/v3/properties/contacts', (_, raw) => {
    const body = parseBody(PropertyCreateBody, raw);
    if (state.properties.has(body.name)) throw new HttpFailure(409, errorBody('OBJECT_ALREADY_EXISTS', `Property named ${body.name} already exists`));
    if (!state.groups.has(body.groupName)) throw new HttpFailure(400, errorBody('VALIDATION_ERROR', `Property group ${body.groupName} does not exist`));
    const property: StoredProperty = {
      name: body.name,
      label: body.label,
      description: body.description ?? '',
      groupName: body.groupName,
      type: body.type,
      fieldType: body.fieldType,
      displayOrder: body.displayOrder ?? -1,
      options: (body.options ?? []).map((o, i) => ({ label: o.label, value: o.value, displayOrder: o.displayOrder ?? i, hidden: o.hidden ?? false })),
      hubspotDefined: false,
      hasUniqueValue: body.hasUniqueValue ?? false,
    };
    state.properties.set(property.name, property);
    return { status: 201, body: propertyView(property) };
  });
  route('PATCH', '/crm/v3/properties/contacts/{name}', (params, raw) => {
    const property = state.properties.get(params.name ?? '');
    if (property === undefined) throw new HttpFailure(404, errorBody('OBJECT_NOT_FOUND', `Unable to find property ${params.name}`));
    const body = parseBody(PropertyUpdateBody, raw);
    if (body.label !== undefined) property.label = body.label;
    // The options sent replace the property's options.
    if (body.options !== undefined) {
      property.options = body.options.map((o, i) => ({ label: o.label, value: o.value, displayOrder: o.displayOrder ?? i, hidden: o.hidden ?? false }));
    }
    return { status: 200, body: propertyView(property) };
  });

  route('POST', '/crm/v3/objects/contacts/batch/read', (_, raw) => {
    const body = parseBody(BatchReadBody, raw);
    assertBatchSize(body.inputs.length);
    const results: unknown[] = [];
    const missing: string[] = [];
    // idProperty reads by a unique property (email) instead of the record id.
    const find = (id: string): StoredContact | undefined =>
      body.idProperty === undefined || body.idProperty === 'hs_object_id'
        ? state.contacts.get(id)
        : body.idProperty === 'email'
          ? emailOwner(id)
          : [...state.contacts.values()].find((c) => c.properties[body.idProperty ?? ''] === id);
    for (const { id } of body.inputs) {
      const contact = find(id);
      if (contact === undefined) missing.push(id);
      else results.push(contactView(contact, body.properties ?? []));
    }
    return { status: missing.length > 0 ? 207 : 200, body: batchEnvelope(results, missing.length > 0 ? [notFound(missing)] : []) };
  });
  route('POST', '/crm/v3/objects/contacts/batch/update', (_, raw) => {
    const body = parseBody(BatchUpdateBody, raw);
    assertBatchSize(body.inputs.length);
    const ids = body.inputs.map((i) => i.id);
    if (new Set(ids).size !== ids.length) throw new HttpFailure(400, errorBody('VALIDATION_ERROR', 'Duplicate IDs found in batch input'));
    const checked = body.inputs.map((input) => ({ id: input.id, values: validateValues(input.properties) }));
    const results: unknown[] = [];
    const missing: string[] = [];
    for (const { id, values } of checked) {
      const contact = state.contacts.get(id);
      if (contact === undefined) {
        missing.push(id);
        continue;
      }
      if (values.email !== undefined && values.email !== '' && emailOwner(values.email, id) !== undefined) {
        throw new HttpFailure(409, errorBody('CONFLICT', `A contact with the email ${values.email} already exists`));
      }
      Object.assign(contact.properties, values);
      contact.updatedAt = iso();
      stats.contactWrites.set(id, (stats.contactWrites.get(id) ?? 0) + 1);
      results.push(contactView(contact, Object.keys(values)));
    }
    return { status: missing.length > 0 ? 207 : 200, body: batchEnvelope(results, missing.length > 0 ? [notFound(missing)] : []) };
  });
  route('POST', '/crm/v3/objects/contacts/batch/create', (_, raw) => {
    const body = parseBody(BatchCreateBody, raw);
    assertBatchSize(body.inputs.length);
    const checked = body.inputs.map((input) => validateValues(input.properties));
    const results = checked.map((values) => contactView(createContact(values), Object.keys(values)));
    return { status: 201, body: batchEnvelope(results, []) };
  });
  route('POST', '/crm/v3/objects/contacts/batch/upsert', (_, raw) => {
    const body = parseBody(BatchUpsertBody, raw);
    assertBatchSize(body.inputs.length);
    // HubSpot upserts by `email` or by a property that keeps its values unique, and refuses the batch otherwise.
    for (const input of body.inputs) {
      if (input.idProperty !== 'email' && state.properties.get(input.idProperty)?.hasUniqueValue !== true) {
        throw new HttpFailure(400, errorBody('VALIDATION_ERROR', `Unable to perform update/upsert by non-unique 0-1 property ${input.idProperty}`));
      }
    }
    const checked = body.inputs.map((input) => {
      const values = validateValues(input.properties);
      const existing =
        input.idProperty === 'email'
          ? emailOwner(input.id)
          : [...state.contacts.values()].find((c) => c.properties[input.idProperty] === input.id);
      if (existing === undefined && input.idProperty === 'email') {
        const secondary = secondaryEmailOwner(input.id);
        if (secondary !== undefined) throw conflict(secondary);
      }
      return { input, values, existing };
    });
    const results = checked.map(({ input, values, existing }) => {
      if (existing === undefined) {
        const created = createContact({ ...values, [input.idProperty]: input.id });
        return { ...contactView(created, Object.keys(values)), new: true };
      }
      Object.assign(existing.properties, values);
      existing.updatedAt = iso();
      return { ...contactView(existing, Object.keys(values)), new: false };
    });
    return { status: 200, body: batchEnvelope(results, []) };
  });
  route(
    'POST',
    '/crm/v3/objects/contacts/search',
    (_, raw) => {
      const body = parseBody(SearchBody, raw);
      const groups = body.filterGroups ?? [];
      const matches = [...state.contacts.values()].filter(
        (contact) =>
          groups.length === 0 ||
          groups.some((group) =>
            group.filters.every((f) => {
              if (f.operator !== 'EQ') throw new HttpFailure(400, errorBody('VALIDATION_ERROR', `The fake supports operator EQ only, got ${f.operator}`));
              return (contact.properties[f.propertyName] ?? '').toLowerCase() === (f.value ?? '').toLowerCase();
            }),
          ),
      );
      const limit = Math.min(body.limit ?? 10, 200);
      const offset = Number(body.after ?? '0');
      const page = matches.slice(offset, offset + limit);
      const wanted = body.properties ?? ['email', 'firstname', 'lastname'];
      return {
        status: 200,
        body: {
          total: matches.length,
          results: page.map((c) => contactView(c, wanted)),
          ...(offset + limit < matches.length ? { paging: { next: { after: String(offset + limit) } } } : {}),
        },
      };
    },
    true,
  );

  route('GET', '/communication-preferences/v3/status/email/{email}', (params) => {
    const email = params.email ?? '';
    return { status: 200, body: { recipient: email, subscriptionStatuses: subscriptions.map((s) => subscriptionView(email, s.id)) } };
  });
  const changeSubscription = (status: StoredSubscription['status']): Handler => (_, raw) => {
    const body = parseBody(SubscriptionBody, raw);
    if (!subscriptions.some((s) => s.id === body.subscriptionId)) {
      throw new HttpFailure(400, errorBody('VALIDATION_ERROR', `Subscription ${body.subscriptionId} does not exist`));
    }
    setSubscription(body.emailAddress, body.subscriptionId, {
      status,
      legalBasis: body.legalBasis ?? null,
      legalBasisExplanation: body.legalBasisExplanation ?? null,
    });
    return { status: 200, body: subscriptionView(body.emailAddress, body.subscriptionId) };
  };
  route('POST', '/communication-preferences/v3/subscribe', changeSubscription('SUBSCRIBED'));
  route('POST', '/communication-preferences/v3/unsubscribe', changeSubscription('NOT_SUBSCRIBED'));
  route('POST', '/communication-preferences/v4/statuses/batch/write', (_, raw) => {
    if (options.v4BatchWrite === false) {
      throw new HttpFailure(403, errorBody('MISSING_SCOPES', 'This endpoint requires Marketing Hub Enterprise.'));
    }
    const body = parseBody(V4WriteBody, raw);
    assertBatchSize(body.inputs.length);
    const results: unknown[] = [];
    const errors: Record<string, unknown>[] = [];
    const refuse = (input: (typeof body.inputs)[number], message: string): void => {
      const named = options.v4ErrorsName ?? 'id';
      errors.push({
        status: 'error',
        category: 'VALIDATION_ERROR',
        message,
        context: named === 'context' ? { subscriberIdString: [input.subscriberIdString] } : {},
        errors: [],
        links: {},
        ...(named === 'id' ? { id: input.subscriberIdString } : {}),
      });
    };
    for (const input of body.inputs) {
      const id = String(input.subscriptionId);
      if (input.channel !== 'EMAIL' || !subscriptions.some((s) => s.id === id) || input.statusState === 'NOT_SPECIFIED') {
        refuse(input, `Cannot set ${input.channel} ${id} to ${input.statusState}`);
        continue;
      }
      if (state.refusedSubscribers.has(input.subscriberIdString.toLowerCase())) {
        refuse(input, `Cannot change the subscription status of ${input.subscriberIdString}`);
        continue;
      }
      setSubscription(input.subscriberIdString, id, {
        status: input.statusState,
        legalBasis: input.legalBasis ?? null,
        legalBasisExplanation: input.legalBasisExplanation ?? null,
      });
      results.push({
        subscriberIdString: input.subscriberIdString,
        subscriptionId: input.subscriptionId,
        channel: 'EMAIL',
        status: input.statusState,
        source: 'PUBLIC_API',
        timestamp: iso(),
        ...(input.legalBasis === undefined ? {} : { legalBasis: input.legalBasis }),
        ...(input.legalBasisExplanation === undefined ? {} : { legalBasisExplanation: input.legalBasisExplanation }),
      });
    }
    return { status: errors.length > 0 ? 207 : 200, body: batchEnvelope(results, errors) };
  });

  route('POST', '/automation/v4/actions/callbacks/{callbackId}/complete', (params, raw) => {
    const body = parseBody(CallbackBody, raw);
    state.callbacks.push({ callbackId: params.callbackId ?? '', outputFields: body.outputFields });
    return { status: 204 };
  });
  // https://developers.hubspot.com/docs/api/settings/account-information-api: the token's account;
  // `timeZone` is where the portal's daily API limit resets (https://developers.hubspot.com/docs/api/usage-details).
  route('GET', '/account-info/v3/details', () => {
    const timeZone = options.account?.timeZone ?? 'UTC';
    const at = now();
    const parts = Object.fromEntries(
      new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric' })
        .formatToParts(new Date(at))
        .map((part) => [part.type, Number(part.value)]),
    );
    const offsetMs = Date.UTC(parts.year ?? 1970, (parts.month ?? 1) - 1, parts.day ?? 1, parts.hour ?? 0, parts.minute ?? 0) - (at - (at % 60_000));
    const minutes = Math.abs(offsetMs) / 60_000;
    const utcOffset = `${offsetMs < 0 ? '-' : '+'}${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}`;
    return {
      status: 200,
      body: {
        portalId: options.account?.portalId ?? 62515,
        accountType: 'STANDARD',
        timeZone,
        companyCurrency: 'USD',
        additionalCurrencies: [],
        utcOffset,
        utcOffsetMilliseconds: offsetMs,
        uiDomain: 'app.hubspot.com',
        dataHostingLocation: 'na1',
      },
    };
  });
  route('POST', '/automation/v4/actions/callbacks/complete', (_, raw) => {
    const body = parseBody(CallbackBatchBody, raw);
    for (const input of body.inputs) state.callbacks.push(input);
    return { status: 204 };
  });

  function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string>): void {
    if (body === undefined) {
      res.writeHead(status, headers);
      res.end();
      return;
    }
    res.writeHead(status, { ...headers, 'Content-Type': 'application/json;charset=utf-8' });
    res.end(JSON.stringify(body));
  }

  const issued = new Map<string, number>();
  const issuedAccessTokens: string[] = [];
  let oauthRevoked = false;
  const spentCodes = new Set<string>();
  /** RFC 6749 §5.1 / §5.2 answers, with HubSpot's `status` beside `error` as its token endpoint sends them. */
  function issueTokens(form: URLSearchParams): { status: number; body: unknown } {
    const app = options.oauth;
    if (app === undefined || form.get('client_id') !== app.clientId || form.get('client_secret') !== app.clientSecret) {
      return { status: 400, body: { error: 'invalid_client', error_description: 'missing or unknown client id', status: 'BAD_CLIENT_ID', message: 'missing or unknown client id' } };
    }
    if (form.get('grant_type') === 'authorization_code') {
      const code = form.get('code');
      const granted = app.authorizationCodes?.find((candidate) => candidate.code === code && !spentCodes.has(candidate.code));
      if (granted === undefined || form.get('redirect_uri') !== granted.redirectUri || oauthRevoked) {
        return { status: 400, body: { error: 'invalid_grant', error_description: 'authorization code is invalid, expired or used', status: 'BAD_AUTH_CODE', message: 'authorization code is invalid, expired or used' } };
      }
      spentCodes.add(granted.code);
    } else if (form.get('grant_type') !== 'refresh_token' || form.get('refresh_token') !== app.refreshToken || oauthRevoked) {
      return { status: 400, body: { error: 'invalid_grant', error_description: 'refresh token is invalid, expired or revoked', status: 'BAD_REFRESH_TOKEN', message: 'refresh token is invalid, expired or revoked' } };
    }
    const ttlMs = app.accessTokenTtlMs ?? 30 * 60 * 1000;
    const token = `fake-oauth-${issuedAccessTokens.length + 1}`;
    issued.set(token, now() + ttlMs);
    issuedAccessTokens.push(token);
    return { status: 200, body: { access_token: token, refresh_token: app.refreshToken, expires_in: Math.floor(ttlMs / 1000), token_type: 'bearer' } };
  }
  function issuedTokenValid(authorization: string | undefined): boolean {
    const token = authorization?.startsWith('Bearer ') === true ? authorization.slice('Bearer '.length) : null;
    const until = token === null ? undefined : issued.get(token);
    return !oauthRevoked && until !== undefined && now() < until;
  }

  async function handle(req: IncomingMessage, res: ServerResponse, rawBody: string): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const method = req.method ?? 'GET';
    const path = url.pathname.replace(/\/+$/, '');
    let params: Record<string, string> = {};
    const matched = routes.find((r) => {
      if (r.method !== method) return false;
      const m = r.pattern.exec(path);
      if (m === null) return false;
      params = Object.fromEntries(r.keys.map((key, i) => [key, decodeURIComponent(m[i + 1] ?? '')]));
      return true;
    });
    stats.requests += 1;
    const endpoint = `${method} ${matched?.template ?? path}`;
    stats.byEndpoint[endpoint] = (stats.byEndpoint[endpoint] ?? 0) + 1;

    if (method === 'POST' && path === '/oauth/2026-03/token') {
      const answer = issueTokens(new URLSearchParams(rawBody));
      send(res, answer.status, answer.body, {});
      return;
    }
    if (accessToken !== null && req.headers.authorization !== `Bearer ${accessToken}` && !issuedTokenValid(req.headers.authorization)) {
      send(res, 401, errorBody('INVALID_AUTHENTICATION', 'Authentication credentials not found. This API supports OAuth 2.0 authentication.'), {});
      return;
    }
    const refused = admit(matched?.search ?? false);
    if (refused !== null) {
      stats.rateLimited += 1;
      stats.rateLimitedByPolicy[refused] = (stats.rateLimitedByPolicy[refused] ?? 0) + 1;
      send(
        res,
        429,
        { status: 'error', message: RATE_LIMIT_MESSAGES[refused], errorType: 'RATE_LIMIT', correlationId: randomUUID(), policyName: refused },
        rateHeaders(),
      );
      return;
    }
    const headers = rateHeaders();
    if (latencyMs > 0) await delay(latencyMs);

    const injected = failures.remaining > 0 ? failures.status : (options.serverErrorRate ?? 0) > 0 && random() < (options.serverErrorRate ?? 0) ? 500 : null;
    if (injected !== null) {
      if (failures.remaining > 0) failures = { ...failures, remaining: failures.remaining - 1 };
      stats.serverErrors += 1;
      if (injected >= 502 && injected <= 504) {
        res.writeHead(injected, { ...headers, 'Content-Type': 'text/html' });
        res.end(`<html><body><h1>${injected}</h1>The server is temporarily unavailable.</body></html>`);
      } else {
        send(res, injected, errorBody('INTERNAL_ERROR', 'internal error'), headers);
      }
      return;
    }

    if (matched === undefined) {
      send(res, 404, errorBody('OBJECT_NOT_FOUND', `No route for ${method} ${path}`), headers);
      return;
    }
    let body: unknown = undefined;
    if (rawBody !== '') {
      try {
        body = JSON.parse(rawBody);
      } catch {
        send(res, 400, errorBody('VALIDATION_ERROR', 'Invalid input JSON'), headers);
        return;
      }
    }
    let answer: FakeAnswer;
    try {
      const result = matched.handle(params, body);
      answer = { status: result.status, body: result.body };
    } catch (error) {
      answer =
        error instanceof HttpFailure
          ? { status: error.status, body: error.body }
          : { status: 500, body: errorBody('INTERNAL_ERROR', error instanceof Error ? error.message : 'internal error') };
    }
    const rewrite = rewrites.find((r) => r.remaining > 0 && r.endpoints.includes(endpoint));
    if (rewrite !== undefined) {
      rewrite.remaining -= 1;
      rewrites = rewrites.filter((r) => r.remaining > 0);
      answer = rewrite.rewrite(answer);
    }
    const hold = holds.get(endpoint);
    if (hold !== undefined) {
      holds.delete(endpoint);
      hold.reached();
      await hold.released;
    }
    if (answer.html !== undefined) {
      res.writeHead(answer.status, { ...headers, 'Content-Type': 'text/html' });
      res.end(answer.html);
      return;
    }
    send(res, answer.status, answer.body, headers);
  }

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      handle(req, res, Buffer.concat(chunks).toString('utf8')).catch((error: unknown) => {
        if (!res.headersSent) send(res, 500, errorBody('INTERNAL_ERROR', String(error)), {});
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    state,
    stats,
    failNext(count, status = 500) {
      failures = { remaining: count, status };
    },
    setLatency(ms) {
      latencyMs = ms;
    },
    setRateLimit(limit) {
      rateLimit = limit;
      arrivals = [];
    },
    setDailyLimit(limit) {
      dailyLimit = limit;
      dailyCount = 0;
    },
    seedContact(properties) {
      return createContact(validateValues(properties)).id;
    },
    rewriteNext(endpoints, rewrite, count = 1) {
      rewrites.push({ endpoints: typeof endpoints === 'string' ? [endpoints] : [...endpoints], rewrite, remaining: count });
    },
    holdNext(endpoint) {
      let reached = (): void => undefined;
      let release = (): void => undefined;
      const reachedPromise = new Promise<void>((resolve) => {
        reached = resolve;
      });
      const released = new Promise<void>((resolve) => {
        release = resolve;
      });
      holds.set(endpoint, { reached, released });
      return { reached: reachedPromise, release };
    },
    revokeOAuth() {
      oauthRevoked = true;
    },
    issuedAccessTokens,
    resetStats() {
      Object.assign(stats, freshStats());
    },
    close() {
      server.closeAllConnections();
      return new Promise<void>((resolve, reject) => server.close((error) => (error === undefined ? resolve() : reject(error))));
    },
  };
}
