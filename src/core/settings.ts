import { z } from 'zod';

/** Languages with built-in keywords and reply texts (DESIGN §3). */
export const LANGUAGES = ['en', 'es', 'fr', 'pt', 'de', 'ja'] as const;
export const LanguageSchema = z.enum(LANGUAGES);
export type Language = z.infer<typeof LanguageSchema>;

export const WORKFLOW_TRIGGERS = ['conversation_opened', 'tag_added', 'keyword', 'manual'] as const;
export const WorkflowTriggerSchema = z.enum(WORKFLOW_TRIGGERS);
export type WorkflowTrigger = z.infer<typeof WorkflowTriggerSchema>;

export const REPLY_KEYS = ['opt_in_confirmation', 'opt_out_confirmation', 'help'] as const;
export const ReplyKeySchema = z.enum(REPLY_KEYS);
export type ReplyKey = z.infer<typeof ReplyKeySchema>;

export const TriggerBindingSchema = z.object({
  trigger: WorkflowTriggerSchema,
  template: z.string().min(1).max(100),
  /** For `tag_added`: the tag; for `keyword`: the keyword. */
  match: z.string().min(1).max(200).optional(),
  enabled: z.boolean().default(true),
});
export type TriggerBinding = z.infer<typeof TriggerBindingSchema>;

const keywordList = z.array(z.string().trim().min(1).max(60)).max(50);

export const WorkspaceKeywordsSchema = z
  .object({
    opt_in: keywordList.default([]),
    opt_out: keywordList.default([]),
    help: keywordList.default([]),
    /** Built-in keywords this workspace switches off; STOP, START and HELP cannot be. */
    removed: keywordList.default([]),
  })
  .strict();

export const WorkspaceSettingsSchema = z
  .object({
    privacyPolicyUrl: z.url({ protocol: /^https?$/ }).nullable().default(null),
    /** ISO 3166-1 alpha-2 country used to read phone numbers without a + prefix. */
    defaultCountry: z
      .string()
      .regex(/^[A-Z]{2}$/, 'defaultCountry must be an ISO 3166-1 alpha-2 code such as "ES"')
      .nullable()
      .default(null),
    triggers: z.array(TriggerBindingSchema).max(50).default([{ trigger: 'conversation_opened', template: 'request-consent-privacy', enabled: true }]),
    /** Keywords the workspace adds (or switches off) per language. */
    keywords: z.partialRecord(LanguageSchema, WorkspaceKeywordsSchema).default({}),
    /** Reply texts per language; missing ones fall back to the built-in texts, then English. */
    replies: z.partialRecord(LanguageSchema, z.partialRecord(ReplyKeySchema, z.string().min(1).max(1000))).default({}),
    defaultLanguage: LanguageSchema.default('en'),
    /** A custom channel's outbound webhook: replies are POSTed there through the outbox. */
    outboundWebhookUrl: z.url({ protocol: /^https?$/ }).nullable().default(null),
  })
  .strict();
export type WorkspaceSettings = z.infer<typeof WorkspaceSettingsSchema>;
export type WorkspaceSettingsInput = z.input<typeof WorkspaceSettingsSchema>;

export function defaultSettings(): WorkspaceSettings {
  return WorkspaceSettingsSchema.parse({});
}

export interface Workspace {
  id: string;
  name: string;
  settings: WorkspaceSettings;
  createdAt: string;
  updatedAt: string;
}
