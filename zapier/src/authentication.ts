import type { Authentication, Bundle, ZObject } from 'zapier-platform-core';
import { AuthDataSchema, callApi, describeIssues, MeSchema } from './api.js';
import { timedStep } from './step-deadline.js';

/** Checks the connection by asking the server whose key this is: `GET /v1/me` answers the workspace. */
const test = async (z: ZObject, bundle: Bundle) => {
  const auth = AuthDataSchema.safeParse(bundle.authData);
  if (!auth.success) throw new z.errors.Error(`Check the connection fields: ${describeIssues(auth.error)}`, 'INVALID_CONNECTION', 400);
  // Zapier shows a failed test in the connection dialog and replays nothing.
  const me = await callApi(z, bundle, { path: '/v1/me', schema: MeSchema, neverReplayed: true });
  return { id: me.id, name: me.name };
};

/**
 * Names the connection "<workspace> (<host>)": the label must tell which instance of the app the
 * user is connected to (CLI README, Connection Label), and every self-hosted server starts with a
 * workspace of the same name, so two connections to two servers would otherwise read alike. A
 * connectionLabel function gets the test's answer as `bundle.inputData`, not hoisted to the top level
 * (https://github.com/zapier/zapier-platform/blob/main/packages/cli/README.md#connection-label).
 */
const connectionLabel = async (_z: ZObject, bundle: Bundle) => {
  const me = MeSchema.safeParse(bundle.inputData);
  const workspace = me.success ? me.data.name : 'Consentry';
  const auth = AuthDataSchema.safeParse(bundle.authData);
  return auth.success ? `${workspace} (${new URL(auth.data.serverUrl).host})` : workspace;
};

export const authentication: Authentication = {
  type: 'custom',
  fields: [
    {
      key: 'serverUrl',
      label: 'Server URL',
      type: 'string',
      required: true,
      helpText:
        'The address of your Consentry server, starting with https://, e.g. `https://consent.example.com` (without `/v1`). Your Consentry administrator knows it.',
    },
    {
      key: 'apiKey',
      label: 'API Key',
      type: 'password',
      required: true,
      helpText:
        'Ask your Consentry administrator for an API key for your workspace (they create one on the server with `consentry keys create`).',
    },
  ],
  test: timedStep('The connection test', test),
  connectionLabel,
};
