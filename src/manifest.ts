import { z } from 'zod';

/** One configuration value a connector needs: where it comes from and whether it is secret. */
export const ConfigurationItemSchema = z
  .object({
    key: z.string().regex(/^[a-zA-Z][a-zA-Z0-9.]*$/),
    description: z.string().min(1),
    required: z.boolean(),
    secret: z.boolean().default(false),
    /** The environment variable that sets it for a single-workspace deployment. */
    env: z.string().regex(/^[A-Z][A-Z0-9_]*$/).optional(),
    /** The path under `PATCH /v1/settings` that sets it per workspace. */
    setting: z.string().optional(),
    default: z.union([z.string(), z.number(), z.boolean()]).optional(),
  })
  .strict();

export const ConnectorSchema = z
  .object({
    id: z.string().regex(/^[a-z][a-z0-9-]*$/),
    name: z.string().min(1),
    description: z.string().min(1),
    /** HTTP paths of the server this connector serves (webhooks, callbacks). */
    endpoints: z.array(z.string().startsWith('/')).default([]),
    configuration: z.array(ConfigurationItemSchema),
  })
  .passthrough();

export const ManifestSchema = z
  .object({
    name: z.literal('consentry'),
    version: z.string().regex(/^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?$/),
    description: z.string().min(1),
    server: z.object({ configuration: z.array(ConfigurationItemSchema) }).strict(),
    connectors: z.array(ConnectorSchema).min(1),
  })
  .strict()
  .superRefine((manifest, ctx) => {
    const seen = new Set<string>();
    manifest.connectors.forEach((connector, index) => {
      if (seen.has(connector.id)) ctx.addIssue({ code: 'custom', path: ['connectors', index, 'id'], message: `duplicate connector id "${connector.id}"` });
      seen.add(connector.id);
    });
  });
export type Manifest = z.infer<typeof ManifestSchema>;

export function parseManifest(json: unknown): Manifest {
  return ManifestSchema.parse(json);
}
