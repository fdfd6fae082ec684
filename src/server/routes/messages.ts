import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import { foldTypedValue } from '../../core/contact.js';
import type { FieldIssue } from '../../core/errors.js';
import { contactValueIssues } from '../../engine/contacts.js';
import { unreadableSenderIdIssue } from '../../engine/handle-inbound.js';
import {
  IN_ANSWER_WITHOUT_WEBHOOK,
  InboundMessageSchema,
  readInboundMessage,
  SENDER_ADDRESS_MAX_LENGTH,
  SENDER_NAME_MAX_LENGTH,
  TIMESTAMP_MAX_LENGTH,
  timestampIssue,
  type ReadInboundMessage,
} from '../../engine/inputs.js';
import { authOf } from '../auth.js';
import { EventJsonSchema, FieldIssueJsonSchema, publicEventsJson, ReplyJsonSchema, repliesJson } from '../schemas.js';
import { API_KEY_SECURITY, type ApiRoutes } from '../types.js';

type Sender = ReadInboundMessage['from'];

/** The order `warnings` names the values a message was processed without. */
const WARNING_ORDER = ['from.id', 'from.name', 'from.email', 'from.phone', 'timestamp'];

/** What the caller hears a warned value meant for the message. */
function consequenceOf(path: string): string {
  if (path === 'timestamp') return 'ignored, the message is dated when it was received';
  if (path === 'from.id') return 'the message was processed, and its contact is known by this sender id alone (an opt-out it carries does not reach the number in E.164)';
  return 'ignored, the message was processed without it';
}

/**
 * A sender's e-mail and phone only help to find or complete the contact, so a message (a STOP
 * among them) is never refused for an invalid one: it is processed without it (the engine's
 * reading of e-mail and phone).
 */
async function invalidSenderAddresses(request: FastifyRequest, from: Sender): Promise<FieldIssue[]> {
  if (from.email === undefined && from.phone === undefined) return [];
  // Only a national number is read with the workspace's default country; an international one
  // (a leading "+") parses the same without it, so most messages need no settings read here.
  const national = from.phone !== undefined && !foldTypedValue(from.phone).startsWith('+');
  const defaultCountry = national ? (await authOf(request).workspace.get()).settings.defaultCountry : null;
  return contactValueIssues({ email: from.email, phone: from.phone }, { defaultCountry }).map((issue) => ({ ...issue, path: `from.${issue.path}` }));
}

/**
 * A WhatsApp or SMS sender id that is not read as a phone number (unreadableSenderIdIssue). An
 * international one reads the same in any country, so most messages need no settings read here.
 */
async function unreadableSenderId(request: FastifyRequest, message: ReadInboundMessage): Promise<FieldIssue[]> {
  if (unreadableSenderIdIssue(message, null) === null) return [];
  const { defaultCountry } = (await authOf(request).workspace.get()).settings;
  const issue = unreadableSenderIdIssue(message, defaultCountry);
  return issue === null ? [] : [{ path: 'from.id', message: issue }];
}

/**
 * What of the message was ignored, by field, so the caller can correct its data: a describing
 * value that is neither a string nor null, or too long (readInboundMessage), an invalid e-mail or
 * phone, a timestamp that cannot date the message. A null, or a blank name, is absent: not named.
 */
async function ignoredValues(request: FastifyRequest, body: z.output<typeof InboundMessageSchema>): Promise<FieldIssue[]> {
  const { message, ignored } = readInboundMessage(body);
  const issues = [...ignored, ...(await invalidSenderAddresses(request, message.from)), ...(await unreadableSenderId(request, message))];
  const timestampProblem = message.timestamp === undefined ? null : timestampIssue(message.timestamp);
  if (timestampProblem !== null) issues.push({ path: 'timestamp', message: timestampProblem });
  issues.sort((a, b) => WARNING_ORDER.indexOf(a.path) - WARNING_ORDER.indexOf(b.path));
  return issues.map((issue) => ({
    path: issue.path,
    message: `${issue.message}; ${consequenceOf(issue.path)}`,
  }));
}

const REUSED_MESSAGE_ID =
  'already used on this channel by a message with another sender, text or button: this is the answer to that first ' +
  'message, and this one was not processed';

const ERASED_MESSAGE_ID =
  'already used on this channel by a message of a contact since erased: nothing of that answer is sent again, and this ' +
  'message was not processed (whether it is the same message can no longer be told); a new message needs an id of its own';

/**
 * The message as this route reads it: a member it does not know, in the body or in `from`, is
 * dropped rather than refused, as adapters pass on fields of their own (Telegram's `username`, a
 * provider's extras), and a message that may carry a STOP is never refused for what only
 * describes it. `warnings` names each one (unknownMembers).
 */
const RouteMessageSchema = InboundMessageSchema.safeExtend({ from: InboundMessageSchema.shape.from.strip() }).strip();
const MESSAGE_MEMBERS: ReadonlySet<string> = new Set(Object.keys(InboundMessageSchema.shape));
const SENDER_MEMBERS: ReadonlySet<string> = new Set(Object.keys(InboundMessageSchema.shape.from.shape));
const UNKNOWN_MEMBER = 'is not a known field; ignored, the message was processed without it';

/**
 * Unknown members named one by one; past them, one warning counts the rest, so that a body of a
 * megabyte of one-letter members is not answered with a dozen megabytes of warnings.
 */
const UNKNOWN_MEMBERS_NAMED = 20;

/** The members of the body as sent that the message has no place for, by path; read before the schema drops them. */
function unknownMembers(body: unknown): FieldIssue[] {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return [];
  const unknown = Object.keys(body).filter((key) => !MESSAGE_MEMBERS.has(key));
  const from: unknown = Reflect.get(body, 'from');
  const unknownInFrom =
    typeof from === 'object' && from !== null && !Array.isArray(from) ? Object.keys(from).filter((key) => !SENDER_MEMBERS.has(key)).map((key) => `from.${key}`) : [];
  const paths = [...unknown, ...unknownInFrom];
  const named = paths.slice(0, UNKNOWN_MEMBERS_NAMED).map((path) => ({ path, message: UNKNOWN_MEMBER }));
  const more = paths.length - named.length;
  if (more === 0) return named;
  return [...named, { path: 'body', message: `${more.toLocaleString('en-US')} more ${more === 1 ? 'member' : 'members'} not known, in the body or in from, ignored as well` }];
}

const unknownMembersOf = new WeakMap<FastifyRequest, FieldIssue[]>();

export const messageRoutes: ApiRoutes = (v1, { metrics }) => {
  v1.post(
    '/messages',
    {
      preValidation: (request, _reply, done) => {
        const unknown = unknownMembers(request.body);
        if (unknown.length > 0) unknownMembersOf.set(request, unknown);
        done();
      },
      schema: {
        tags: ['messages'],
        summary: 'An inbound message from a contact: keywords, then the conversation\'s workflows',
        description:
          'The same channel + messageId again returns the first answer and changes nothing; when its sender, text or ' +
          'button differ from the first message\'s, `warnings` names messageId (the new message was not processed). ' +
          'A value that only describes the message (from.name, from.email, from.phone, timestamp) never refuses it, since it may ' +
          'carry a STOP: one that is invalid, too long or not a string is ignored, the message is processed without it, and ' +
          '`warnings` names it. A null one is read as absent, without a warning, as is a blank from.name. On WhatsApp and SMS, a ' +
          'from.id that is not read as a phone number (a national number without the workspace\'s defaultCountry) is named too: ' +
          'the message is processed, and its contact is known by that sender id alone. A message needs a text or a button: one ' +
          'with neither, or with only an empty or blank text (a media-only message without a caption), is 422 naming text. ' +
          `A member this route does not know, in the body or in from (an adapter's own field), is ignored and named in \`warnings\`, where every other route refuses it; past the first ${UNKNOWN_MEMBERS_NAMED}, one warning on body counts the rest.`,
        security: API_KEY_SECURITY,
        body: RouteMessageSchema,
        response: {
          200: z.object({
            contactId: z.string(),
            conversationId: z.string().nullable(),
            replies: z.array(ReplyJsonSchema),
            events: z.array(EventJsonSchema),
            warnings: z.array(FieldIssueJsonSchema).describe(
              `What of the message was ignored, by field: an invalid from.email or from.phone, or one longer than ${SENDER_ADDRESS_MAX_LENGTH} ` +
                `characters; a from.name longer than ${SENDER_NAME_MAX_LENGTH} characters; a timestamp without a zone, unreadable, before 1970 ` +
                `or longer than ${TIMESTAMP_MAX_LENGTH} characters; any of them that is neither a string nor null (a numeric timestamp ` +
                `among them); a member the route does not know, in the body or in from (the first ${UNKNOWN_MEMBERS_NAMED}, then on body how many more); ` +
                '(messageId) a message that reuses the id of an earlier, different one; or (inAnswer) inAnswer false with replies ' +
                'in a workspace without an outbound webhook, whose replies then reach no one',
            ),
          }),
        },
      },
    },
    async (request) => {
      const result = await authOf(request).workspace.handleInbound(request.body);
      metrics.countInbound(request.body.channel, result.duplicate, result.keyword);
      const warnings = await ignoredValues(request, request.body);
      if (result.differsFromFirst) {
        request.log.warn({ channel: request.body.channel, messageId: request.body.messageId }, 'a message reused the id of an earlier, different message');
        warnings.unshift({ path: 'messageId', message: REUSED_MESSAGE_ID });
      } else if (result.firstContactErased) {
        warnings.unshift({ path: 'messageId', message: ERASED_MESSAGE_ID });
      }
      warnings.push(...(unknownMembersOf.get(request) ?? []));
      if (request.body.inAnswer === false && result.replies.length > 0 && (await authOf(request).workspace.get()).settings.outboundWebhookUrl === null) {
        warnings.push({ path: 'inAnswer', message: `${IN_ANSWER_WITHOUT_WEBHOOK}; the message was processed` });
      }
      return {
        contactId: result.contactId,
        conversationId: result.conversationId,
        replies: repliesJson(result.replies),
        events: publicEventsJson(result.events),
        warnings,
      };
    },
  );
};
