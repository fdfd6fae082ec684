import { createRequire } from 'node:module';
import { defineApp, version as platformVersion } from 'zapier-platform-core';
import { z as zod } from 'zod';
import { authentication } from './authentication.js';
import createContact from './creates/create_contact.js';
import recordConsent from './creates/record_consent.js';
import requestConsent from './creates/request_consent.js';
import sendInboundMessage from './creates/send_inbound_message.js';
import tagContact from './creates/tag_contact.js';
import untagContact from './creates/untag_contact.js';
import { addConsentryHeaders, mapProblemResponses } from './middleware.js';
import checkPermission from './searches/check_permission.js';
import findContact from './searches/find_contact.js';
import findWorkflowRun from './searches/find_workflow_run.js';
import addableTagList from './triggers/addable_tag_list.js';
import consentFailed from './triggers/consent_failed.js';
import consentGiven from './triggers/consent_given.js';
import consentWithdrawn from './triggers/consent_withdrawn.js';
import contactTagged from './triggers/contact_tagged.js';
import optoutReviewNeeded from './triggers/optout_review_needed.js';
import purposeList from './triggers/purpose_list.js';
import tagList from './triggers/tag_list.js';

// Both src/ and the compiled dist/ sit one level below the app's package.json.
const packageJson = zod.object({ version: zod.string() }).parse(createRequire(import.meta.url)('../package.json'));

const byKey = <T extends { key: string }>(...operations: T[]): Record<string, T> =>
  Object.fromEntries(operations.map((operation) => [operation.key, operation]));

const app = defineApp({
  version: packageJson.version,
  // zapier-platform-core sets `version` from its own package.json (index.mjs).
  platformVersion,
  authentication,
  beforeRequest: [addConsentryHeaders],
  afterResponse: [mapProblemResponses],
  flags: {
    // Since core 18 a 429 throws before afterResponse unless this is false; the app maps 429 itself
    // so the server's Retry-After and message reach the user (AppFlagsSchema, throwForThrottlingEarly).
    throwForThrottlingEarly: false,
    // Every call this app makes goes through z.request, which Zapier logs itself. The global patch
    // of node's http.request forwards only (options, callback) and so breaks clients that call
    // http.request(url, options, callback) in the same process (AppFlagsSchema, skipHttpPatch).
    skipHttpPatch: true,
  },
  triggers: byKey(consentGiven, consentWithdrawn, consentFailed, contactTagged, optoutReviewNeeded, tagList, addableTagList, purposeList),
  creates: byKey(recordConsent, tagContact, untagContact, sendInboundMessage, requestConsent, createContact),
  searches: byKey(findContact, checkPermission, findWorkflowRun),
  searchOrCreates: {
    find_contact: {
      key: 'find_contact',
      display: { label: 'Find or Create Contact', description: 'Finds a contact by email or phone, or creates it when missing.' },
      search: 'find_contact',
      create: 'create_contact',
    },
  },
});

export default app;
