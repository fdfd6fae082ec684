import { z } from 'zod';

/**
 * HubSpot's error body. A 429 carries `errorType: "RATE_LIMIT"` and a `policyName` naming the
 * limit that was hit (`TEN_SECONDLY_ROLLING`, `SECONDLY`, `DAILY`); other errors carry a
 * `category` (`VALIDATION_ERROR`, `OBJECT_NOT_FOUND`, ...). Every field is optional because
 * gateways in front of HubSpot answer 5xx with bodies that are not JSON at all.
 * https://developers.hubspot.com/docs/api/usage-details
 */
export const HubSpotErrorBodySchema = z.object({
  status: z.string().optional(),
  message: z.string().optional(),
  errorType: z.string().optional(),
  category: z.string().optional(),
  correlationId: z.string().optional(),
  policyName: z.string().optional(),
});
export type HubSpotErrorBody = z.infer<typeof HubSpotErrorBodySchema>;

function parseErrorBody(text: string): HubSpotErrorBody {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return {};
  }
  const parsed = HubSpotErrorBodySchema.safeParse(json);
  return parsed.success ? parsed.data : {};
}

/** An HTTP error answered by HubSpot (or whatever stands at its address). */
export class HubSpotApiError extends Error {
  readonly code = 'HUBSPOT_API_ERROR';
  readonly status: number;
  readonly category: string | null;
  readonly errorType: string | null;
  readonly policyName: string | null;
  readonly correlationId: string | null;
  /** Response headers, names lower-cased. */
  readonly headers: Readonly<Record<string, string>>;
  readonly responseText: string;

  constructor(status: number, headers: Readonly<Record<string, string>>, responseText: string) {
    const body = parseErrorBody(responseText);
    super(`HubSpot answered ${status}${body.message === undefined ? '' : `: ${body.message}`}`);
    this.name = 'HubSpotApiError';
    this.status = status;
    this.category = body.category ?? null;
    this.errorType = body.errorType ?? null;
    this.policyName = body.policyName ?? null;
    this.correlationId = body.correlationId ?? null;
    this.headers = headers;
    this.responseText = responseText;
  }
}

/** HubSpot answered 2xx with a body we cannot read: the connector must not guess. */
export class HubSpotResponseError extends Error {
  readonly code = 'HUBSPOT_BAD_RESPONSE';
  readonly operation: string;
  readonly issues: readonly string[];

  constructor(operation: string, issues: readonly string[]) {
    super(`unexpected HubSpot response to ${operation}: ${issues.join('; ')}`);
    this.name = 'HubSpotResponseError';
    this.operation = operation;
    this.issues = issues;
  }
}

/**
 * The portal's daily API limit is used up: nothing is sent to it until `until`. Changes waiting
 * for this portal stay pending (they are not dead-lettered); the dispatcher raises `sync.failed`.
 */
export class HubSpotPausedError extends Error {
  readonly code = 'HUBSPOT_PAUSED';
  readonly reason = 'DAILY';
  readonly until: Date;

  constructor(until: Date) {
    super(`HubSpot daily API limit reached; sync paused until ${until.toISOString()}`);
    this.name = 'HubSpotPausedError';
    this.until = until;
  }
}

export function isHubSpotApiError(value: unknown): value is HubSpotApiError {
  return value instanceof HubSpotApiError;
}

/** A property HubSpot refused a value for, as its 400 names it. */
export interface RefusedProperty {
  name: string;
  /** HubSpot's code for the refusal (`INVALID_OPTION`, `INVALID_DATETIME`, ...), when it gives one. */
  code: string | null;
}

const PropertyErrorDetailSchema = z.object({
  code: z.string().optional(),
  context: z.object({ propertyName: z.array(z.string()).optional() }).optional(),
});
const ValidationResultSchema = z.object({ name: z.string(), error: z.string().optional() });
const ValidationBodySchema = z.object({
  message: z.string().optional(),
  errors: z.array(PropertyErrorDetailSchema).optional(),
  validationResults: z.array(ValidationResultSchema).optional(),
});
const VALIDATION_MESSAGE_PREFIX = 'Property values were not valid: ';

/**
 * The properties a refused write names. HubSpot says it in more than one place: `errors[]` with
 * `context.propertyName` and a `code`, and the message `Property values were not valid: [...]`
 * whose JSON list has each refused value's `name` and `error`
 * (https://developers.hubspot.com/docs/api/crm/properties, validation errors); older answers carry
 * the same list as `validationResults`. Empty when the answer names none.
 */
export function refusedProperties(error: HubSpotApiError): RefusedProperty[] {
  let json: unknown;
  try {
    json = JSON.parse(error.responseText);
  } catch {
    return [];
  }
  const body = ValidationBodySchema.safeParse(json);
  if (!body.success) return [];
  const found = new Map<string, string | null>();
  const add = (name: string, code: string | null | undefined): void => {
    if (!found.has(name) || found.get(name) === null) found.set(name, code ?? null);
  };
  for (const detail of body.data.errors ?? []) for (const name of detail.context?.propertyName ?? []) add(name, detail.code);
  for (const result of body.data.validationResults ?? []) add(result.name, result.error);
  const message = body.data.message ?? '';
  if (message.startsWith(VALIDATION_MESSAGE_PREFIX)) {
    try {
      const listed = z.array(ValidationResultSchema).safeParse(JSON.parse(message.slice(VALIDATION_MESSAGE_PREFIX.length)));
      if (listed.success) for (const result of listed.data) add(result.name, result.error);
    } catch {
      // A message cut short or not JSON names nothing more.
    }
  }
  return [...found].map(([name, code]) => ({ name, code }));
}

/**
 * The record HubSpot says already holds a unique value: a 409 `CONFLICT` answers
 * "Contact already exists. Existing ID: 12345" (https://developers.hubspot.com/docs/api/crm/contacts).
 */
export function existingRecordId(error: HubSpotApiError): string | null {
  if (error.status !== 409) return null;
  const match = /Existing ID: (\d{1,30})\b/.exec(error.message);
  return match?.[1] ?? null;
}
