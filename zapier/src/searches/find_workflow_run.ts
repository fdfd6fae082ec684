import type { Bundle, Search, ZObject } from 'zapier-platform-core';
import { z as zod } from 'zod';
import { apiPath, callApiOrFailure, throwForFailure, type WorkflowRunReportJson, WorkflowRunReportSchema } from '../api.js';
import { parseInputData, requiredText, workflowTemplateField, workflowTemplateInput } from '../inputs.js';
import type { Problem } from '../middleware.js';
import { timedStep } from '../step-deadline.js';

const InputSchema = zod.object({ template: workflowTemplateInput, runId: requiredText(200) });

/** Whether the server's refusal names `field` (its 404s name what the path got wrong). */
function names(problem: Problem, field: string): boolean {
  return (problem.errors ?? []).some((issue) => issue.path === field);
}

function runItem(run: WorkflowRunReportJson) {
  return { id: run.runId, ...run };
}

/**
 * A Zapier search answers an array, empty when nothing matches: Zapier asks an app whose API
 * answers 404 for "no result" to turn it into an empty array
 * (https://docs.zapier.com/platform/build/action, "Search actions"). So a run the server does not
 * have (its 404 names `runId`: never started, another workspace's or another template's, or
 * deleted by retention after it ended) is nothing found.
 *
 * Any other 404 stays an error, as Zapier asks for a step its user misconfigured and has to fix
 * (`z.errors.Error`, https://docs.zapier.com/platform/publish/integration-build-guidelines): a
 * template the server does not know (its 404 names `template`) is a wrong value in the Workflow
 * field, and every run ID looked up with it would otherwise read "not found", and a "Continue if
 * nothing found" Zap would go on as if the run had gone; a 404 that names neither (a server from
 * before this endpoint: no route) says the server needs updating.
 */
const perform = async (z: ZObject, bundle: Bundle) => {
  const input = parseInputData(z, InputSchema, bundle.inputData);
  const call = { path: apiPath('v1', 'workflows', input.template, 'runs', input.runId), schema: WorkflowRunReportSchema };
  const answer = await callApiOrFailure(z, bundle, call, [404]);
  if (answer.ok) return [runItem(answer.data)];
  if (names(answer.failure.problem, 'runId')) return [];
  return throwForFailure(z, bundle, call, answer.failure.response);
};

const search: Search = {
  key: 'find_workflow_run',
  noun: 'Workflow Run',
  display: {
    label: 'Find Workflow Run',
    description:
      "Finds a workflow run by its ID (the Workflow Run ID of Request Privacy Consent): whether it still waits for the contact's answer, or how it ended.",
  },
  operation: {
    inputFields: [
      workflowTemplateField('The workflow the run belongs to. Request Privacy Consent starts Request Consent: Privacy.'),
      {
        key: 'runId',
        label: 'Workflow Run ID',
        required: true,
        helpText:
          "The Workflow Run ID Request Privacy Consent returned. A run Consentry does not have finds nothing, nor does a finished one it has deleted (it keeps them for its retention period, 30 days unless set otherwise).",
      },
    ],
    perform: timedStep('Find Workflow Run', perform),
    outputFields: [
      { key: 'id', label: 'Workflow Run ID' },
      { key: 'template', label: 'Workflow' },
      { key: 'contactId', label: 'Contact ID' },
      { key: 'channel', label: 'Channel' },
      { key: 'conversationId', label: 'Conversation ID' },
      { key: 'status', label: 'Status (active, completed or cancelled)' },
      { key: 'outcome', label: "Outcome (empty while the run still waits for the contact's answer)" },
      { key: 'startedAt', label: 'Started At', type: 'datetime' },
      { key: 'endedAt', label: 'Ended At (empty while the run goes on)', type: 'datetime' },
      { key: 'waiting__step', label: 'Waiting at Step' },
      { key: 'waiting__kind', label: "Waiting For (answer: the contact's answer; wait: a pause)" },
      { key: 'waiting__dueAt', label: 'Waiting Until (an unanswered question is then asked again or fails)', type: 'datetime' },
      { key: 'waiting__timesAsked', label: 'Times Asked', type: 'integer' },
    ],
    sample: {
      id: '01JQ86M2NCPDQERSFTGVHWJXKY',
      runId: '01JQ86M2NCPDQERSFTGVHWJXKY',
      template: 'request-consent-privacy',
      contactId: '01JQ7ZK4C2V9N8M3T5R6W1XYZA',
      channel: 'whatsapp',
      conversationId: '01JQ86M2NCPDQERSFTGVHWJXKZ',
      status: 'active',
      outcome: null,
      startedAt: '2026-03-01T09:10:00.000Z',
      endedAt: null,
      waiting: { step: 'request_consent', kind: 'answer', dueAt: '2026-03-01T09:15:00.000Z', timesAsked: 1 },
    },
  },
};

export default search;
