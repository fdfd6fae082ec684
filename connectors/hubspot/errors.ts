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
