import { z } from 'zod';
import type { Actor } from '../../../src/core/consent.js';
import { isConsentryError } from '../../../src/core/errors.js';
import type { Contact } from '../../../src/core/contact.js';
import type { WorkspaceEngine } from '../../../src/engine.js';
import type { Clock } from '../../../src/ports/clock.js';
import type { ResolvedHubSpotConfig } from '../config.js';
import { createContactOfRecord, findContactOfRecord } from '../record-contact.js';
import type { ActionDefinition, ActionKey } from './definition.js';

const Id = z.union([z.string().min(1), z.number().int().nonnegative()]).transform(String);

/**
 * What HubSpot POSTs to a custom action's URL (DESIGN §6):
 * `{callbackId, origin{portalId, actionDefinitionId, actionDefinitionVersion}, context{source,
 * workflowId}, object{objectId, objectType, properties}, inputFields}`. Unknown fields are
 * allowed: HubSpot adds some.
 */
export const ActionRequestSchema = z.object({
  callbackId: z.string().min(1).max(200),
  origin: z.object({ portalId: Id, actionDefinitionId: Id.optional(), actionDefinitionVersion: Id.optional() }),
  context: z.object({ source: z.string().optional(), workflowId: Id.optional() }).optional(),
  object: z.object({
    objectId: Id,
    objectType: z.string(),
    properties: z.record(z.string(), z.string().nullable()).optional(),
  }),
  inputFields: z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()])).default({}),
});
export type ActionRequest = z.infer<typeof ActionRequestSchema>;

/** The answer HubSpot reads: `{outputFields: {..., hs_execution_state}}` (DESIGN §6). */
export interface ActionAnswer {
  outputFields: Record<string, string>;
}

export interface ActionResult {
  answer: ActionAnswer;
  contactId: string | null;
  /** A blocked action's workflow run: its end completes the callback. */
  runId?: string;
}

export interface ActionContext {
  request: ActionRequest;
  workspace: WorkspaceEngine;
  config: ResolvedHubSpotConfig;
  clock: Clock;
  /** The portal acts: every decision recorded here names it as the actor. */
  actor: Actor;
}

export interface WorkflowAction {
  key: ActionKey;
  definition: ActionDefinition;
  handle(context: ActionContext): Promise<ActionResult>;
}

export const EXECUTION_STATE = 'hs_execution_state';

/**
 * FAIL_CONTINUE lets the HubSpot workflow go on and shows the action as failed; the reason goes
 * in an output field so the workflow history says why. A failure of ours is never answered
 * with 5xx: HubSpot would retry it for three days (DESIGN §6).
 */
export function failContinue(message: string): ActionAnswer {
  return { outputFields: { [EXECUTION_STATE]: 'FAIL_CONTINUE', error: message.slice(0, 500) } };
}

/** A refusal of the engine (a ConsentryError, code and message) fails the action; anything else is a bug and is thrown. */
export function failContinueOrThrow(error: unknown): ActionResult {
  if (isConsentryError(error)) return { answer: failContinue(`${error.code}: ${error.message}`), contactId: null };
  throw error;
}

/** An input field as text; HubSpot sends static values as strings, property values may be numbers. */
export function inputText(request: ActionRequest, name: string): string | null {
  const value = request.inputFields[name];
  if (value === undefined || value === null) return null;
  const text = String(value).trim();
  return text === '' ? null : text;
}

export { LOOKUP_OR_CREATE_PROPERTIES, LOOKUP_PROPERTIES } from '../record-contact.js';

/**
 * The Consentry contact of the enrolled HubSpot contact, from the properties the definition asks
 * HubSpot to send (record-contact.ts): linked to the record for next time when found by address.
 */
export async function findEnrolledContact(context: ActionContext): Promise<Contact | null> {
  return findContactOfRecord(context.workspace, context.request.object.objectId, context.request.object.properties ?? {});
}

/** As `findEnrolledContact`, creating the contact from the HubSpot record when Consentry has none. */
export async function findOrCreateEnrolledContact(context: ActionContext): Promise<Contact> {
  return (await findEnrolledContact(context)) ?? createEnrolledContact(context);
}

/** A Consentry contact made from the enrolled HubSpot record (its name, e-mail and phone), linked to it. */
export async function createEnrolledContact(context: ActionContext): Promise<Contact> {
  return createContactOfRecord(context.workspace, context.request.object.objectId, context.request.object.properties ?? {});
}
