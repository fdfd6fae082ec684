import type { Bundle, HttpResponse, ZObject } from 'zapier-platform-core';
import { z as zod } from 'zod';
import { throwForProblem } from './middleware.js';

/** What the connection stores: the server's base URL and an API key (`consentry keys create`). */
export const AuthDataSchema = zod.object({
  serverUrl: zod
    .url({ protocol: /^https?$/, error: 'must be an http(s) URL such as https://consent.example.com' })
    .transform((url) => url.replace(/\/+$/, '')),
  apiKey: zod.string().trim().min(1, 'is required'),
});

/** `path: message; path: message` for a failed zod parse. */
export function describeIssues(error: zod.ZodError): string {
  return error.issues
    .map((issue) => {
      const path = issue.path.map(String).join('.');
      return path ? `${path}: ${issue.message}` : issue.message;
    })
    .join('; ');
}

export function serverUrlOf(z: ZObject, bundle: Bundle): string {
  const parsed = AuthDataSchema.safeParse(bundle.authData);
  if (!parsed.success) {
    throw new z.errors.Error(`The Consentry connection is incomplete: ${describeIssues(parsed.error)}`, 'INVALID_CONNECTION', 400);
  }
  return parsed.data.serverUrl;
}

/** `/v1/contacts/{id}/tags/{tag}` with every dynamic segment percent-encoded. */
export function apiPath(...segments: string[]): string {
  return `/${segments.map((segment) => encodeURIComponent(segment)).join('/')}`;
}

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface ApiCall<S extends zod.ZodType> {
  method?: Method;
  path: string;
  params?: Record<string, string | number | undefined>;
  body?: Record<string, unknown>;
  /** The fields this app reads from the answer (DESIGN: parse every response you read fields from). */
  schema: S;
}

function requestOptions(z: ZObject, bundle: Bundle, call: ApiCall<zod.ZodType>) {
  const params: Record<string, string> = {};
  for (const [key, value] of Object.entries(call.params ?? {})) {
    if (value !== undefined) params[key] = String(value);
  }
  return {
    url: `${serverUrlOf(z, bundle)}${call.path}`,
    method: call.method ?? 'GET',
    params,
    headers: { Accept: 'application/json' },
    ...(call.body !== undefined ? { body: call.body } : {}),
  };
}

function parseAnswer<S extends zod.ZodType>(z: ZObject, call: ApiCall<S>, response: HttpResponse): zod.output<S> {
  const parsed = call.schema.safeParse(response.data);
  if (!parsed.success) {
    throw new z.errors.Error(
      `Consentry answered ${call.method ?? 'GET'} ${call.path} with an unexpected body (${describeIssues(parsed.error)}). Is the server URL a Consentry server?`,
      'UNEXPECTED_RESPONSE',
      response.status,
    );
  }
  return parsed.data;
}

/** One call to the Consentry HTTP API; failures are mapped by the afterResponse middleware. */
export async function callApi<S extends zod.ZodType>(z: ZObject, bundle: Bundle, call: ApiCall<S>): Promise<zod.output<S>> {
  const response = await z.request(requestOptions(z, bundle, call));
  return parseAnswer(z, call, response);
}

/** Like `callApi`, but a 404 is an answer (`null`), not a failure: searches report "nothing found". */
export async function callApiOrNull<S extends zod.ZodType>(
  z: ZObject,
  bundle: Bundle,
  call: ApiCall<S>,
): Promise<zod.output<S> | null> {
  const response = await z.request({ ...requestOptions(z, bundle, call), skipThrowForStatus: true });
  if (response.status === 404) return null;
  if (response.status >= 400) throwForProblem(response, z);
  return parseAnswer(z, call, response);
}

// Response shapes of the Consentry HTTP API v1, limited to the fields this app reads.

const nullableText = zod.string().nullable().optional().transform((value) => value ?? null);

export const MeSchema = zod.object({ id: zod.string().min(1), name: zod.string() });

export const ContactSchema = zod.object({
  id: zod.string().min(1),
  name: nullableText,
  email: nullableText,
  phone: nullableText,
  tags: zod.array(zod.string()).default([]),
  fields: zod.record(zod.string(), zod.unknown()).default({}),
  createdAt: zod.string(),
  updatedAt: nullableText,
});
export type ContactJson = zod.infer<typeof ContactSchema>;

export const ContactListSchema = zod.object({ data: zod.array(ContactSchema), nextCursor: nullableText });

export const ConsentStateSchema = zod.object({
  purpose: zod.string(),
  channel: zod.string(),
  status: zod.string(),
  legalBasis: nullableText,
  explanation: nullableText,
  source: zod.string(),
  occurredAt: zod.string(),
  recordId: zod.string(),
});
export type ConsentStateJson = zod.infer<typeof ConsentStateSchema>;

export const ConsentListSchema = zod.object({ contactId: zod.string(), data: zod.array(ConsentStateSchema) });

export const ConsentRecordSchema = zod.object({
  id: zod.string().min(1),
  contactId: zod.string(),
  purpose: zod.string(),
  channel: zod.string(),
  status: zod.string(),
  legalBasis: nullableText,
  explanation: nullableText,
  source: zod.string(),
  occurredAt: zod.string(),
});

export const SetConsentAnswerSchema = zod.object({ record: ConsentRecordSchema, created: zod.boolean() });

export const PermissionSchema = zod.object({
  allowed: zod.boolean(),
  reason: zod.string(),
  status: zod.string(),
  since: nullableText,
});

const ReplySchema = zod.object({
  text: zod.string(),
  options: zod.array(zod.object({ label: zod.string(), buttonId: zod.string().optional() })).optional(),
});
export type ReplyJson = zod.infer<typeof ReplySchema>;

const EventRefSchema = zod.object({ id: zod.string(), type: zod.string() });

export const InboundAnswerSchema = zod.object({
  contactId: zod.string().min(1),
  conversationId: nullableText,
  replies: zod.array(ReplySchema),
  events: zod.array(EventRefSchema).default([]),
});

export const WorkflowRunAnswerSchema = zod.object({
  runId: zod.string().min(1),
  conversationId: nullableText,
  replies: zod.array(ReplySchema).default([]),
  events: zod.array(EventRefSchema).default([]),
});

/** An event as stored and delivered (the server's HTTP API contract: "Event JSON"). */
export const EventSchema = zod.object({
  id: zod.string().min(1),
  type: zod.string().min(1),
  workspaceId: zod.string().optional(),
  occurredAt: zod.string(),
  contactId: nullableText,
  data: zod.record(zod.string(), zod.unknown()),
});
export type EventJson = zod.infer<typeof EventSchema>;

export const EventListSchema = zod.object({ data: zod.array(EventSchema), nextCursor: nullableText });

export const HookSchema = zod.object({
  id: zod.string().min(1),
  targetUrl: zod.string(),
  event: zod.string(),
  filter: zod.record(zod.string(), zod.string()).nullable().optional(),
  createdAt: zod.string().optional(),
});

export const TagListSchema = zod.object({ data: zod.array(zod.string()) });

/** DELETE answers 204 with no body: nothing to read. */
export const NoContentSchema = zod.unknown();

/** The replies' texts, one per line, for later steps that only take text. */
export function repliesText(replies: readonly ReplyJson[]): string {
  return replies.map((reply) => reply.text).join('\n');
}
