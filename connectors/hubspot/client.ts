import { AsyncLocalStorage } from 'node:async_hooks';
import { Client } from '@hubspot/api-client';
import { FilterOperatorEnum } from '@hubspot/api-client/lib/codegen/crm/contacts/index.js';
import { PropertyCreateFieldTypeEnum, PropertyCreateTypeEnum } from '@hubspot/api-client/lib/codegen/crm/properties/index.js';
import { PublicUpdateSubscriptionStatusRequestLegalBasisEnum } from '@hubspot/api-client/lib/codegen/communication_preferences/index.js';
import { z } from 'zod';
import type { LegalBasis } from '../../src/core/consent.js';
import { ConsentryError } from '../../src/core/errors.js';
import { HUBSPOT_BATCH_LIMIT } from './coalesce.js';
import { HubSpotApiError, HubSpotResponseError } from './errors.js';
import type { EmailSubscriptionV3Body, EmailSubscriptionV4Input } from './mapping.js';
import {
  HUBSPOT_OBJECT_TYPE,
  type ExistingProperty,
  type FieldType,
  type OptionDefinition,
  type PropertyDefinition,
  type PropertyGroupDefinition,
  type PropertyType,
} from './properties.js';
import { isKnownTimeZone, type PortalRateLimiter, type RunOptions } from './rate-limiter.js';

// Only the fields the connector reads are validated; HubSpot adds fields freely.
const OptionSchema = z.object({
  label: z.string(),
  value: z.string(),
  displayOrder: z.number().optional(),
  hidden: z.boolean().optional(),
});
const PropertySchema = z.object({
  name: z.string(),
  type: z.string(),
  fieldType: z.string(),
  groupName: z.string(),
  options: z.array(OptionSchema).optional(),
  hasUniqueValue: z.boolean().optional(),
});
const PropertyListSchema = z.object({ results: z.array(PropertySchema) });
const PropertyGroupSchema = z.object({ name: z.string(), label: z.string() });
const PropertyGroupListSchema = z.object({ results: z.array(PropertyGroupSchema) });
const ContactSchema = z.object({ id: z.string(), properties: z.record(z.string(), z.string().nullable()) });
/** The SDK renames upsert's `new` flag to `_new`. */
const UpsertedContactSchema = ContactSchema.extend({ _new: z.boolean() });
/**
 * One failed record of a batch. HubSpot documents `context` as an object of no set shape and a
 * separate `id` (the v4 subscription batch answers show `context: {}`), so both are read and only
 * string values in `context` are kept.
 */
const BatchErrorSchema = z.object({
  status: z.string().optional(),
  category: z.string(),
  message: z.string(),
  context: z.record(z.string(), z.unknown()).nullish(),
  id: z.string().nullish(),
});
const batchSchema = <T extends z.ZodType>(result: T) =>
  z.object({ status: z.string(), results: z.array(result), errors: z.array(BatchErrorSchema).optional() });
const SearchSchema = z.object({ total: z.number(), results: z.array(ContactSchema) });
const SubscriptionStatusSchema = z.object({
  id: z.string(),
  status: z.enum(['SUBSCRIBED', 'NOT_SUBSCRIBED']),
  legalBasis: z.string().optional(),
  legalBasisExplanation: z.string().optional(),
});
const EmailStatusesSchema = z.object({ recipient: z.string(), subscriptionStatuses: z.array(SubscriptionStatusSchema) });
const V4WriteResultSchema = z.object({
  subscriberIdString: z.string(),
  subscriptionId: z.number(),
  status: z.string(),
});
const V4BatchWriteSchema = batchSchema(V4WriteResultSchema);
/**
 * https://developers.hubspot.com/docs/api/settings/account-information-api: `portalId` is the
 * account's numeric id, `timeZone` the IANA zone its daily API limit resets in. A zone the
 * runtime does not know reads as absent, so a rename in the tz database cannot fail the call.
 */
const AccountDetailsSchema = z.object({
  portalId: z.number().int().nonnegative(),
  timeZone: z
    .string()
    .optional()
    .catch(undefined)
    .transform((zone) => (zone !== undefined && isKnownTimeZone(zone) ? zone : null)),
});

export interface HubSpotContact {
  id: string;
  properties: Record<string, string | null>;
}

export interface UpsertedContact extends HubSpotContact {
  created: boolean;
}

/**
 * One failed record of a batch (HubSpot answers 207 Multi-Status). Nothing promises where the
 * record is named: `context.ids` for CRM objects, sometimes another `context` key, or `id`.
 */
export interface BatchError {
  status: string;
  category: string;
  message: string;
  /** The string values of HubSpot's `context`, each as a list. */
  context: Record<string, string[]>;
  id: string | null;
}

export interface BatchResult<T> {
  results: T[];
  errors: BatchError[];
}

export interface EmailSubscriptionStatus {
  subscriptionId: string;
  status: 'SUBSCRIBED' | 'NOT_SUBSCRIBED';
  legalBasis: string | null;
  legalBasisExplanation: string | null;
}

export interface V4WriteResult {
  subscriberIdString: string;
  subscriptionId: number;
  status: string;
}

/** The HubSpot account (portal) a token belongs to. */
export interface HubSpotAccountDetails {
  /** The account id, in the digits the settings keep it as. */
  portalId: string;
  /** The account's IANA time zone, where its daily limit resets; null when HubSpot names none the runtime knows. */
  timeZone: string | null;
}

export interface HubSpotClient {
  listPropertyGroups(): Promise<{ name: string; label: string }[]>;
  listProperties(): Promise<ExistingProperty[]>;
  /** One property as HubSpot holds it now (`GET /crm/v3/properties/contacts/{name}`). */
  getProperty(propertyName: string): Promise<ExistingProperty>;
  createPropertyGroup(group: PropertyGroupDefinition): Promise<{ name: string; label: string }>;
  createProperty(property: PropertyDefinition): Promise<ExistingProperty>;
  /** HubSpot replaces a property's options with the list sent: pass the full list. */
  updatePropertyOptions(propertyName: string, options: readonly OptionDefinition[]): Promise<ExistingProperty>;
  readContacts(ids: readonly string[], properties: readonly string[]): Promise<BatchResult<HubSpotContact>>;
  /** Batch read by the unique `email` property: one call finds up to 100 contacts, where search allows 5 calls a second. */
  readContactsByEmail(emails: readonly string[], properties: readonly string[]): Promise<BatchResult<HubSpotContact>>;
  findContactByEmail(email: string, properties: readonly string[]): Promise<HubSpotContact | null>;
  findContactByPhone(phone: string, properties: readonly string[]): Promise<HubSpotContact | null>;
  updateContacts(inputs: readonly { id: string; properties: Record<string, string> }[]): Promise<BatchResult<HubSpotContact>>;
  /** Not idempotent: sent again after an answer that never came, it makes a second record (the sync creates through upsertContacts). */
  createContacts(inputs: readonly { properties: Record<string, string> }[]): Promise<BatchResult<HubSpotContact>>;
  /**
   * Creates or updates by a unique property (`idProperty`): sent twice, it finds the record it
   * made the first time, so a retry after an unclear answer creates nothing more.
   */
  upsertContacts(inputs: readonly { id: string; idProperty: string; properties: Record<string, string> }[]): Promise<BatchResult<UpsertedContact>>;
  getEmailSubscriptions(emailAddress: string): Promise<EmailSubscriptionStatus[]>;
  subscribeEmail(body: EmailSubscriptionV3Body): Promise<EmailSubscriptionStatus>;
  unsubscribeEmail(body: EmailSubscriptionV3Body): Promise<EmailSubscriptionStatus>;
  /** v4 batch write; needs Marketing Hub Enterprise (DESIGN §6), otherwise HubSpot refuses it. */
  writeEmailSubscriptionsV4(inputs: readonly EmailSubscriptionV4Input[]): Promise<BatchResult<V4WriteResult>>;
  completeCallback(callbackId: string, outputFields: Record<string, string>): Promise<void>;
  /** The account the token belongs to, as HubSpot says: what proves that a token and a portal id go together. */
  getAccountDetails(): Promise<HubSpotAccountDetails>;
}

/**
 * Where an OAuth app's client gets its access token: asked before every request (a limiter's
 * wait or a retry can outlast a token), told of a token HubSpot answered 401 to.
 */
export interface HubSpotTokenSource {
  current(): Promise<string>;
  refused(accessToken: string): Promise<void>;
}

export interface HubSpotClientOptions {
  /** A private-app token, or the source of an OAuth app's short-lived access tokens. */
  accessToken: string | HubSpotTokenSource;
  /** Defaults to https://api.hubapi.com; tests point it at a local fake. */
  basePath?: string;
  /** The portal's limiter: every call goes through it and every response teaches it the limits. */
  limiter?: PortalRateLimiter;
}

const PROPERTY_TYPES: Record<PropertyType, PropertyCreateTypeEnum> = {
  string: PropertyCreateTypeEnum.String,
  datetime: PropertyCreateTypeEnum.Datetime,
  enumeration: PropertyCreateTypeEnum.Enumeration,
};
const FIELD_TYPES: Record<FieldType, PropertyCreateFieldTypeEnum> = {
  text: PropertyCreateFieldTypeEnum.Text,
  textarea: PropertyCreateFieldTypeEnum.Textarea,
  date: PropertyCreateFieldTypeEnum.Date,
  select: PropertyCreateFieldTypeEnum.Select,
  checkbox: PropertyCreateFieldTypeEnum.Checkbox,
};
const LEGAL_BASIS_VALUES: Record<LegalBasis, PublicUpdateSubscriptionStatusRequestLegalBasisEnum> = {
  CONSENT_WITH_NOTICE: PublicUpdateSubscriptionStatusRequestLegalBasisEnum.ConsentWithNotice,
  LEGITIMATE_INTEREST_PQL: PublicUpdateSubscriptionStatusRequestLegalBasisEnum.LegitimateInterestPql,
  LEGITIMATE_INTEREST_CLIENT: PublicUpdateSubscriptionStatusRequestLegalBasisEnum.LegitimateInterestClient,
  LEGITIMATE_INTEREST_OTHER: PublicUpdateSubscriptionStatusRequestLegalBasisEnum.LegitimateInterestOther,
  PERFORMANCE_OF_CONTRACT: PublicUpdateSubscriptionStatusRequestLegalBasisEnum.PerformanceOfContract,
  PROCESS_AND_STORE: PublicUpdateSubscriptionStatusRequestLegalBasisEnum.ProcessAndStore,
  NON_GDPR: PublicUpdateSubscriptionStatusRequestLegalBasisEnum.NonGdpr,
};

function parse<T extends z.ZodType>(schema: T, value: unknown, operation: string): z.infer<T> {
  const result = schema.safeParse(value);
  if (!result.success) {
    throw new HubSpotResponseError(
      operation,
      result.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`),
    );
  }
  return result.data;
}

function checkBatchSize(count: number, operation: string): void {
  if (count > HUBSPOT_BATCH_LIMIT) {
    throw new ConsentryError('VALIDATION_FAILED', `${operation}: at most ${HUBSPOT_BATCH_LIMIT} records a call, got ${count}`, [
      { path: 'inputs', message: `at most ${HUBSPOT_BATCH_LIMIT} records` },
    ]);
  }
}

function toExistingProperty(property: z.infer<typeof PropertySchema>): ExistingProperty {
  return {
    name: property.name,
    type: property.type,
    fieldType: property.fieldType,
    groupName: property.groupName,
    options: property.options ?? [],
    ...(property.hasUniqueValue === undefined ? {} : { hasUniqueValue: property.hasUniqueValue }),
  };
}

function contextStrings(context: Record<string, unknown> | null | undefined): Record<string, string[]> {
  const strings: Record<string, string[]> = {};
  for (const [key, value] of Object.entries(context ?? {})) {
    if (typeof value === 'string') strings[key] = [value];
    else if (Array.isArray(value)) strings[key] = value.filter((v): v is string => typeof v === 'string');
  }
  return strings;
}

function toBatch<T>(body: { results: T[]; errors?: z.infer<typeof BatchErrorSchema>[] | undefined }): BatchResult<T> {
  return {
    results: body.results,
    errors: (body.errors ?? []).map((e) => ({
      status: e.status ?? 'error',
      category: e.category,
      message: e.message,
      context: contextStrings(e.context),
      id: e.id ?? null,
    })),
  };
}

/** Whether a batch error names `key` (case-insensitively: e-mail addresses), in `id` or any `context` list. */
export function batchErrorNames(error: BatchError, key: string): boolean {
  const wanted = key.toLowerCase();
  if (error.id !== null && error.id.toLowerCase() === wanted) return true;
  return Object.values(error.context).some((values) => values.some((value) => value.toLowerCase() === wanted));
}

function toSubscriptionStatus(status: z.infer<typeof SubscriptionStatusSchema>): EmailSubscriptionStatus {
  return {
    subscriptionId: status.id,
    status: status.status,
    legalBasis: status.legalBasis ?? null,
    legalBasisExplanation: status.legalBasisExplanation ?? null,
  };
}

function headersOf(response: { headers: { forEach(callback: (value: string, name: string) => void): void } }): Record<string, string> {
  const headers: Record<string, string> = {};
  response.headers.forEach((value, name) => {
    headers[name.toLowerCase()] = value;
  });
  return headers;
}

interface SdkResponse {
  httpStatusCode: number;
  headers: Record<string, string>;
  body: { text(): Promise<string> };
}

function staticToken(accessToken: string): HubSpotTokenSource {
  return { current: () => Promise.resolve(accessToken), refused: () => Promise.resolve() };
}

/**
 * The only importer of @hubspot/api-client. The SDK's retry and Bottleneck settings are
 * process-wide (decorators on a singleton, set by every `new Client`) and `apiRequest` is never
 * retried (DESIGN §6), so the SDK is built with neither and the portal's limiter owns pacing and
 * retries. Its discovery objects are created here, at once, so a Client built later elsewhere
 * cannot decorate ours with its retries.
 */
export function createHubSpotClient(options: HubSpotClientOptions): HubSpotClient {
  const tokens: HubSpotTokenSource =
    typeof options.accessToken === 'string' ? staticToken(options.accessToken) : options.accessToken;
  const refreshable = typeof options.accessToken !== 'string';
  /** The token a call was given: every request and retry of the call carries it, and a 401 blames it. */
  const tokenOfCall = new AsyncLocalStorage<string>();
  // The SDK's own token is never sent: every request carries the one `tokens` gives at that moment.
  const sdk = new Client({
    numberOfApiCallRetries: 0,
    ...(options.basePath === undefined ? {} : { basePath: options.basePath.replace(/\/+$/, '') }),
  });
  const properties = sdk.crm.properties;
  const contacts = sdk.crm.contacts;
  const statusApi = sdk.communicationPreferences.statusApi;
  const callbacksApi = sdk.automation.actions.callbacksApi;
  const limiter = options.limiter;

  /**
   * The SDK turns error bodies into its own model and, on some endpoints, drops fields such as
   * `policyName`; reading the raw body here keeps HubSpot's answer whole. Every response's
   * rate-limit headers go to the limiter. Config-level middleware is only applied by the SDK
   * when call options are given, so each call passes this one with the "append" strategy.
   */
  const middleware = {
    pre: async <C extends { setHeaderParam(key: string, value: string): void }>(context: C): Promise<C> => {
      const token = tokenOfCall.getStore() ?? (await tokens.current());
      context.setHeaderParam('Authorization', `Bearer ${token}`);
      return context;
    },
    post: async <R extends SdkResponse>(context: R): Promise<R> => {
      limiter?.observe(context.headers);
      const sent = tokenOfCall.getStore();
      if (context.httpStatusCode === 401 && sent !== undefined) await tokens.refused(sent);
      if (context.httpStatusCode >= 400) {
        throw new HubSpotApiError(context.httpStatusCode, context.headers, await context.body.text());
      }
      return context;
    },
  };
  const callOptions = { middleware: [middleware], middlewareMergeStrategy: 'append' as const };

  const attempt = async <T>(operation: () => Promise<T>, options: RunOptions): Promise<T> => {
    // Asked before the limiter's slot: a token endpoint that fails is no failure of this request
    // (a create was not sent), and the request's own answers blame or keep exactly this token.
    const token = await tokens.current();
    return tokenOfCall.run(token, () => (limiter === undefined ? operation() : limiter.run(operation, options)));
  };
  const call = async <T>(operation: () => Promise<T>, options: RunOptions = {}): Promise<T> => {
    try {
      return await attempt(operation, options);
    } catch (error) {
      // A request HubSpot answered 401 was not carried out: an OAuth app's source issues another
      // token, and the request is sent once more with it (a second 401 is the install's problem).
      if (refreshable && error instanceof HubSpotApiError && error.status === 401) return attempt(operation, options);
      throw error;
    }
  };

  const search = async (filterGroups: { propertyName: string; value: string }[][], wanted: readonly string[], operation: string) => {
    const response = await call(
      () =>
        contacts.searchApi.doSearch(
          {
            filterGroups: filterGroups.map((filters) => ({
              filters: filters.map((f) => ({ propertyName: f.propertyName, operator: FilterOperatorEnum.Eq, value: f.value })),
            })),
            properties: [...wanted],
            limit: 1,
          },
          callOptions,
        ),
      { search: true },
    );
    return parse(SearchSchema, response, operation).results[0] ?? null;
  };

  /**
   * An endpoint the SDK has no method for, through `apiRequest`: the same token and base path,
   * the limiter's pacing and headers, and HubSpot's errors as HubSpotApiError.
   */
  const requestJson = (request: { method: 'GET' | 'POST'; path: string; body?: object }, operation: string): Promise<unknown> =>
    call(async () => {
      const token = tokenOfCall.getStore() ?? (await tokens.current());
      const response = await sdk.apiRequest({
        method: request.method,
        path: request.path,
        authType: 'none',
        headers: { Authorization: `Bearer ${token}` },
        ...(request.body === undefined ? {} : { body: request.body }),
      });
      const headers = headersOf(response);
      limiter?.observe(headers);
      if (response.status === 401) await tokens.refused(token);
      const text = await response.text();
      if (response.status >= 400) throw new HubSpotApiError(response.status, headers, text);
      try {
        const json: unknown = JSON.parse(text);
        return json;
      } catch {
        throw new HubSpotResponseError(operation, ['body is not JSON']);
      }
    });

  const subscriptionRequest = (body: EmailSubscriptionV3Body) => ({
    emailAddress: body.emailAddress,
    subscriptionId: body.subscriptionId,
    ...(body.legalBasis === undefined ? {} : { legalBasis: LEGAL_BASIS_VALUES[body.legalBasis] }),
    ...(body.legalBasisExplanation === undefined ? {} : { legalBasisExplanation: body.legalBasisExplanation }),
  });

  return {
    async listPropertyGroups() {
      const response = await call(() => properties.groupsApi.getAll(HUBSPOT_OBJECT_TYPE, callOptions));
      return parse(PropertyGroupListSchema, response, 'list property groups').results;
    },

    async listProperties() {
      const response = await call(() => properties.coreApi.getAll(HUBSPOT_OBJECT_TYPE, false, undefined, callOptions));
      return parse(PropertyListSchema, response, 'list properties').results.map(toExistingProperty);
    },

    async getProperty(propertyName) {
      const response = await call(() => properties.coreApi.getByName(HUBSPOT_OBJECT_TYPE, propertyName, false, undefined, callOptions));
      return toExistingProperty(parse(PropertySchema, response, 'get property'));
    },

    async createPropertyGroup(group) {
      const response = await call(
        () => properties.groupsApi.create(HUBSPOT_OBJECT_TYPE, { name: group.name, label: group.label, displayOrder: group.displayOrder }, callOptions),
        { repeatable: false },
      );
      return parse(PropertyGroupSchema, response, 'create property group');
    },

    async createProperty(property) {
      const response = await call(() =>
        properties.coreApi.create(
          HUBSPOT_OBJECT_TYPE,
          {
            name: property.name,
            label: property.label,
            description: property.description,
            groupName: property.groupName,
            type: PROPERTY_TYPES[property.type],
            fieldType: FIELD_TYPES[property.fieldType],
            displayOrder: property.displayOrder,
            formField: false,
            ...(property.options === undefined ? {} : { options: property.options.map((o) => ({ ...o })) }),
            ...(property.hasUniqueValue === undefined ? {} : { hasUniqueValue: property.hasUniqueValue }),
          },
          callOptions,
        ),
        { repeatable: false },
      );
      return toExistingProperty(parse(PropertySchema, response, 'create property'));
    },

    async updatePropertyOptions(propertyName, options) {
      const response = await call(() =>
        properties.coreApi.update(HUBSPOT_OBJECT_TYPE, propertyName, { options: options.map((o) => ({ ...o })) }, callOptions),
      );
      return toExistingProperty(parse(PropertySchema, response, 'update property options'));
    },

    async readContacts(ids, wanted) {
      checkBatchSize(ids.length, 'batch read');
      if (ids.length === 0) return { results: [], errors: [] };
      const response = await call(() =>
        contacts.batchApi.read({ inputs: ids.map((id) => ({ id })), properties: [...wanted], propertiesWithHistory: [] }, false, callOptions),
      );
      return toBatch(parse(batchSchema(ContactSchema), response, 'batch read contacts'));
    },

    async readContactsByEmail(emails, wanted) {
      checkBatchSize(emails.length, 'batch read by email');
      if (emails.length === 0) return { results: [], errors: [] };
      // https://developers.hubspot.com/docs/api/crm/contacts#retrieve-contacts (batch read with idProperty)
      const response = await call(() =>
        contacts.batchApi.read(
          { inputs: emails.map((id) => ({ id })), idProperty: 'email', properties: ['email', ...wanted], propertiesWithHistory: [] },
          false,
          callOptions,
        ),
      );
      return toBatch(parse(batchSchema(ContactSchema), response, 'batch read contacts by email'));
    },

    findContactByEmail(email, wanted) {
      return search([[{ propertyName: 'email', value: email }]], wanted, 'search contacts by email');
    },

    /** Filter groups are ORed: the number may sit in either of HubSpot's phone properties. */
    findContactByPhone(phone, wanted) {
      return search(
        [[{ propertyName: 'phone', value: phone }], [{ propertyName: 'mobilephone', value: phone }]],
        wanted,
        'search contacts by phone',
      );
    },

    async updateContacts(inputs) {
      checkBatchSize(inputs.length, 'batch update');
      if (inputs.length === 0) return { results: [], errors: [] };
      const response = await call(() =>
        contacts.batchApi.update({ inputs: inputs.map((i) => ({ id: i.id, properties: { ...i.properties } })) }, callOptions),
      );
      return toBatch(parse(batchSchema(ContactSchema), response, 'batch update contacts'));
    },

    async createContacts(inputs) {
      checkBatchSize(inputs.length, 'batch create');
      if (inputs.length === 0) return { results: [], errors: [] };
      const response = await call(() =>
        contacts.batchApi.create({ inputs: inputs.map((i) => ({ properties: { ...i.properties }, associations: [] })) }, callOptions),
        { repeatable: false },
      );
      return toBatch(parse(batchSchema(ContactSchema), response, 'batch create contacts'));
    },

    async upsertContacts(inputs) {
      checkBatchSize(inputs.length, 'batch upsert');
      if (inputs.length === 0) return { results: [], errors: [] };
      const response = await call(() =>
        contacts.batchApi.upsert(
          { inputs: inputs.map((i) => ({ id: i.id, idProperty: i.idProperty, properties: { ...i.properties } })) },
          callOptions,
        ),
      );
      const body = parse(batchSchema(UpsertedContactSchema), response, 'batch upsert contacts');
      return toBatch({
        results: body.results.map((r) => ({ id: r.id, properties: r.properties, created: r._new })),
        errors: body.errors,
      });
    },

    async getEmailSubscriptions(emailAddress) {
      const response = await call(() => statusApi.getEmailStatus(emailAddress, callOptions));
      return parse(EmailStatusesSchema, response, 'get email subscription statuses').subscriptionStatuses.map(toSubscriptionStatus);
    },

    async subscribeEmail(body) {
      const response = await call(() => statusApi.subscribe(subscriptionRequest(body), callOptions));
      return toSubscriptionStatus(parse(SubscriptionStatusSchema, response, 'subscribe email'));
    },

    async unsubscribeEmail(body) {
      const response = await call(() => statusApi.unsubscribe(subscriptionRequest(body), callOptions));
      return toSubscriptionStatus(parse(SubscriptionStatusSchema, response, 'unsubscribe email'));
    },

    async writeEmailSubscriptionsV4(inputs) {
      checkBatchSize(inputs.length, 'v4 batch write');
      if (inputs.length === 0) return { results: [], errors: [] };
      // Not in the SDK: https://developers.hubspot.com/docs/api-reference/communication-preferences-subscriptions-v4/subscription-status/post-communication-preferences-v4-statuses-batch-write
      const body = await requestJson(
        { method: 'POST', path: '/communication-preferences/v4/statuses/batch/write', body: { inputs: inputs.map((i) => ({ ...i })) } },
        'v4 batch write',
      );
      return toBatch(parse(V4BatchWriteSchema, body, 'v4 batch write email subscriptions'));
    },

    async completeCallback(callbackId, outputFields) {
      // https://developers.hubspot.com/docs/api-reference/legacy/automation/workflow-actions/callbacks/complete-callback
      await call(() => callbacksApi.complete(callbackId, { outputFields: { ...outputFields } }, callOptions));
    },

    async getAccountDetails() {
      // Not in the SDK: https://developers.hubspot.com/docs/api/settings/account-information-api
      const body = await requestJson({ method: 'GET', path: '/account-info/v3/details' }, 'account details');
      const details = parse(AccountDetailsSchema, body, 'account details');
      return { portalId: String(details.portalId), timeZone: details.timeZone };
    },
  };
}

const ActionDefinitionSummarySchema = z.object({ id: z.string(), actionUrl: z.string(), revisionId: z.string().optional() });
const ActionDefinitionPageSchema = z.object({
  results: z.array(ActionDefinitionSummarySchema),
  paging: z.object({ next: z.object({ after: z.string() }).optional() }).optional(),
});

export interface ActionDefinitionSummary {
  id: string;
  actionUrl: string;
}

/** The developer-account side: custom workflow action definitions of a public app. */
export interface HubSpotDeveloperClient {
  listActionDefinitions(appId: string): Promise<ActionDefinitionSummary[]>;
  createActionDefinition(appId: string, definition: object): Promise<ActionDefinitionSummary>;
  updateActionDefinition(appId: string, definitionId: string, definition: object): Promise<ActionDefinitionSummary>;
}

export interface HubSpotDeveloperClientOptions {
  /** The developer account's API key; HubSpot takes it as the `hapikey` query parameter. */
  developerApiKey: string;
  basePath?: string;
}

/**
 * https://developers.hubspot.com/docs/api/automation/custom-workflow-actions — definitions are
 * sent exactly as manifest.json holds them (through `apiRequest`, which adds `hapikey`); the
 * SDK's typed models would add option fields the documentation does not use.
 */
export function createHubSpotDeveloperClient(options: HubSpotDeveloperClientOptions): HubSpotDeveloperClient {
  const sdk = new Client({
    developerApiKey: options.developerApiKey,
    numberOfApiCallRetries: 0,
    ...(options.basePath === undefined ? {} : { basePath: options.basePath.replace(/\/+$/, '') }),
  });
  const send = async (method: 'GET' | 'POST' | 'PATCH', path: string, operation: string, body?: object, qs?: Record<string, string>): Promise<unknown> => {
    const response = await sdk.apiRequest({ method, path, ...(body === undefined ? {} : { body }), ...(qs === undefined ? {} : { qs }) });
    const headers = headersOf(response);
    const text = await response.text();
    if (response.status >= 400) throw new HubSpotApiError(response.status, headers, text);
    try {
      return JSON.parse(text);
    } catch {
      throw new HubSpotResponseError(operation, ['body is not JSON']);
    }
  };
  const appPath = (appId: string): string => `/automation/v4/actions/${encodeURIComponent(appId)}`;
  const summary = (value: unknown, operation: string): ActionDefinitionSummary => {
    const parsed = parse(ActionDefinitionSummarySchema, value, operation);
    return { id: parsed.id, actionUrl: parsed.actionUrl };
  };

  return {
    async listActionDefinitions(appId) {
      const found: ActionDefinitionSummary[] = [];
      let after: string | undefined;
      for (;;) {
        const page = parse(
          ActionDefinitionPageSchema,
          await send('GET', appPath(appId), 'list action definitions', undefined, { limit: '100', ...(after === undefined ? {} : { after }) }),
          'list action definitions',
        );
        found.push(...page.results.map((r) => ({ id: r.id, actionUrl: r.actionUrl })));
        after = page.paging?.next?.after;
        if (after === undefined) return found;
      }
    },
    async createActionDefinition(appId, definition) {
      return summary(await send('POST', appPath(appId), 'create action definition', definition), 'create action definition');
    },
    async updateActionDefinition(appId, definitionId, definition) {
      return summary(
        await send('PATCH', `${appPath(appId)}/${encodeURIComponent(definitionId)}`, 'update action definition', definition),
        'update action definition',
      );
    },
  };
}
