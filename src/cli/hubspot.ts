import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { z } from 'zod';
import { createHubSpotDeveloperClient } from '../../connectors/hubspot/client.js';
import { resolveHubSpotConfig } from '../../connectors/hubspot/config.js';
import { HubSpotConnections } from '../../connectors/hubspot/connections.js';
import { installProperties } from '../../connectors/hubspot/install.js';
import { HubSpotAccessTokens, type HubSpotOAuthCredentials } from '../../connectors/hubspot/oauth.js';
import { HubSpotOutcomeUnknownError } from '../../connectors/hubspot/rate-limiter.js';
import { manifestActions, registerActions } from '../../connectors/hubspot/register-actions.js';
import { baseUrlProblem } from '../config.js';
import { isConsentryError } from '../core/errors.js';
import { HubSpotSettingsSchema, type Workspace } from '../core/settings.js';
import { systemClock } from '../ports/clock.js';
import { environmentConfig, readExistingWorkspace } from './connector-setup.js';
import { openStore } from './database.js';
import type { CliIo } from './io.js';
import { CliFailure, CliRefusal, nonBlankOption, writeLine } from './io.js';

interface InstallOptions {
  token?: string;
  dryRun?: boolean;
  db?: string;
  workspace?: string;
  apiBase?: string;
}

interface RegisterOptions {
  appId: string;
  developerKey?: string;
  publicUrl?: string;
  manifest?: string;
  apiBase?: string;
}

const HttpUrlSchema = z.url({ protocol: /^https?$/ });

/**
 * A URL option, checked when the command line is read, by the rule PUBLIC_URL follows in the
 * configuration: every action definition's URL is built from `--public-url`, and every API call
 * from `--api-base`, so a bad value is one error about the option before any call is made.
 */
function httpUrlOption(flag: string, example: string): (value: string) => string {
  return (value) => {
    if (!HttpUrlSchema.safeParse(value).success) throw new CliRefusal(`${flag} must be an http(s) URL such as ${example}, not "${value}"`);
    return value;
  };
}

const apiBaseOption = httpUrlOption('--api-base', 'https://api.hubapi.com');

/** `--public-url` stands in for PUBLIC_URL, and is the base of the URLs HubSpot signs: it follows PUBLIC_URL's rules in full. */
function publicUrlOption(value: string): string {
  const url = httpUrlOption('--public-url', 'https://consent.example.com')(value);
  const problem = baseUrlProblem(url);
  // The value is not repeated: it may hold a password.
  if (problem !== undefined) throw new CliRefusal(`--public-url ${problem}`);
  return url;
}
/** The longest token the workspace settings keep (`hubspot.accessToken`). */
const TOKEN_MAX_LENGTH = HubSpotSettingsSchema.shape.accessToken.maxLength ?? Number.MAX_SAFE_INTEGER;

/**
 * A call to HubSpot whose failure is told as one line: a connection that fails names the address
 * and the reason (a stack trace says nothing more to whoever runs the command), and what HubSpot
 * answered is quoted. Both commands can run again: what a failed run made is found, not made twice.
 */
async function callingHubSpot<T>(apiBase: string | undefined, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof CliFailure || isConsentryError(error)) throw error;
    if (error instanceof HubSpotOutcomeUnknownError) throw new CliFailure(`${error.message}; run the command again: it makes only what HubSpot does not have`);
    const base = apiBase ?? 'https://api.hubapi.com';
    const code: unknown = error instanceof Error ? Reflect.get(error, 'code') : undefined;
    const reason = error instanceof Error ? error.message : String(error);
    // The HubSpot client fetches with node-fetch: a request that got no answer is its FetchError,
    // with the system error's code when there is one (https://github.com/node-fetch/node-fetch/blob/2.x/ERROR-HANDLING.md).
    const systemCode = typeof code === 'string' && /^(E[A-Z]+|UND_ERR_[A-Z_]+)$/.test(code) ? code : undefined;
    if (systemCode !== undefined || (error instanceof Error && error.name === 'FetchError')) {
      throw new CliFailure(`cannot reach HubSpot at ${base} (${systemCode ?? 'no answer'}): check the network or --api-base, then run the command again`);
    }
    throw new CliFailure(`HubSpot refused the request: ${reason}; run the command again once it is fixed`);
  }
}

/** The workspace and its tags, read only when the database exists: installing must not create one. */
async function workspaceAndTags(options: InstallOptions, io: CliIo): Promise<{ workspace: Workspace | null; isDefault: boolean; tags: string[] }> {
  const found = await readExistingWorkspace(options, io, async (tx, { workspace, isDefault }) => ({
    workspace,
    isDefault,
    tags: await tx.listTags(workspace.id),
  }));
  return found ?? { workspace: null, isDefault: true, tags: [] };
}

/**
 * The token of an OAuth install, as the server gets it (HubSpotAccessTokens): the one kept in the
 * database while it is valid, or one HubSpot issues now, kept there for the server in turn (a
 * refresh token HubSpot rotates in its answer must not be lost).
 */
async function oauthAccessToken(oauth: HubSpotOAuthCredentials, workspaceId: string, options: InstallOptions, io: CliIo): Promise<string> {
  const store = openStore(options, io, { mustExist: true });
  try {
    const tokens = new HubSpotAccessTokens({ store, clock: systemClock, ...(options.apiBase === undefined ? {} : { basePath: options.apiBase }) });
    return await callingHubSpot(options.apiBase, () => tokens.accessToken(workspaceId, oauth));
  } finally {
    await store.close();
  }
}

export async function hubspotInstallCommand(options: InstallOptions, io: CliIo): Promise<number> {
  const config = environmentConfig(io);
  const { workspace, isDefault, tags } = await workspaceAndTags(options, io);
  const resolved = workspace === null ? null : resolveHubSpotConfig(workspace, config, isDefault);
  const oauth = options.token === undefined ? (resolved?.oauth ?? null) : null;
  const accessToken =
    oauth !== null && workspace !== null
      ? await oauthAccessToken(oauth, workspace.id, options, io)
      : (options.token ?? resolved?.accessToken ?? config.HUBSPOT_ACCESS_TOKEN);
  if (accessToken === undefined) {
    throw new CliRefusal('No HubSpot token: pass --token, set HUBSPOT_ACCESS_TOKEN, or set hubspot.accessToken with PATCH /v1/settings');
  }
  const connections = new HubSpotConnections(options.apiBase === undefined ? {} : { basePath: options.apiBase });
  const { client } = connections.session({ accessToken, portalId: resolved?.portalId ?? config.HUBSPOT_PORTAL_ID ?? null });
  const result = await callingHubSpot(options.apiBase, () => installProperties(client, tags, { dryRun: options.dryRun === true }));
  writeLine(io.stdout, result.report);
  return result.plan.conflicts.length > 0 ? 1 : 0;
}

/** manifest.json ships at the package root: found by walking up from this file (src/cli or dist/src/cli). */
function findManifest(): string {
  let directory = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i += 1) {
    const candidate = join(directory, 'manifest.json');
    if (existsSync(candidate)) return candidate;
    directory = resolve(directory, '..');
  }
  throw new CliRefusal('manifest.json not found; pass --manifest <path>');
}

export async function hubspotRegisterActionsCommand(options: RegisterOptions, io: CliIo): Promise<void> {
  const config = environmentConfig(io);
  const developerApiKey = options.developerKey ?? config.HUBSPOT_DEVELOPER_API_KEY;
  if (developerApiKey === undefined) throw new CliRefusal('No developer API key: pass --developer-key or set HUBSPOT_DEVELOPER_API_KEY');
  const publicUrl = options.publicUrl ?? config.PUBLIC_URL;
  if (publicUrl === undefined) throw new CliRefusal('HubSpot calls the actions at PUBLIC_URL: pass --public-url or set PUBLIC_URL');
  let manifest: unknown;
  const path = options.manifest ?? findManifest();
  try {
    manifest = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new CliRefusal(`cannot read ${path}: ${error instanceof Error ? error.message : String(error)}`);
  }
  const client = createHubSpotDeveloperClient({ developerApiKey, ...(options.apiBase === undefined ? {} : { basePath: options.apiBase }) });
  const registered = await callingHubSpot(options.apiBase, () => registerActions(client, options.appId, manifestActions(manifest), publicUrl));
  for (const action of registered) writeLine(io.stdout, `${action.change} ${action.key} (definition ${action.definitionId}) -> ${action.actionUrl}`);
}

export function registerHubspotCommand(program: Command, io: CliIo, outcome: { exitCode: number }): void {
  const hubspot = program.command('hubspot').description('The HubSpot connector: properties, workflow actions');
  hubspot
    .command('install')
    .description(
      'Create the Consentry property group and properties in HubSpot (idempotent); token from --token, the workspace settings or HUBSPOT_ACCESS_TOKEN',
    )
    .option('--token <token>', 'a private-app token or an OAuth access token', nonBlankOption('--token', 'be a HubSpot token', TOKEN_MAX_LENGTH))
    .option('--dry-run', 'print the plan and change nothing')
    .option('--db <path>', 'SQLite database file, for the workspace settings and tags (default: $DATABASE_PATH or ./data/consentry.db)')
    .option('--workspace <id-or-name>', 'workspace to use (default: the first one)')
    .option('--api-base <url>', 'HubSpot API base URL (default https://api.hubapi.com)', apiBaseOption)
    .action(async (options: InstallOptions) => {
      outcome.exitCode = await hubspotInstallCommand(options, io);
    });
  hubspot
    .command('register-actions')
    .description("Register or update the workflow actions of manifest.json on a HubSpot app, with the developer account's API key")
    .requiredOption('--app-id <id>', 'the HubSpot app id')
    .option('--developer-key <key>', 'developer API key (default: $HUBSPOT_DEVELOPER_API_KEY)', nonBlankOption('--developer-key', 'be a developer API key', TOKEN_MAX_LENGTH))
    .option('--public-url <url>', 'where HubSpot reaches this server (default: $PUBLIC_URL)', publicUrlOption)
    .option('--manifest <path>', 'manifest.json to read the definitions from (default: the package one)')
    .option('--api-base <url>', 'HubSpot API base URL (default https://api.hubapi.com)', apiBaseOption)
    .action((options: RegisterOptions) => hubspotRegisterActionsCommand(options, io));
}
