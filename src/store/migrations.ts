import type { Database } from 'better-sqlite3';
import { ConsentryError } from '../core/errors.js';

export interface Migration {
  version: number;
  name: string;
  up: string;
}

/**
 * The SQLite schema, one forward-only step per version. A released migration is never edited:
 * a change is a new entry. Tables are STRICT (https://www.sqlite.org/stricttables.html) so a
 * column holds only its declared type, and the store can read rows without re-checking types.
 * A commit writes every B-tree page it touched to the WAL, so each index costs a page per
 * transaction: only indexes a query of the store needs exist, and tables keyed by text with small
 * rows and no other use for a rowid are WITHOUT ROWID (https://www.sqlite.org/withoutrowid.html:
 * their interior pages hold whole rows).
 */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'initial schema',
    up: `
-- number: the workspace's own small integer, fixed for its lifetime (an INTEGER PRIMARY KEY keeps
-- its value through VACUUM, https://www.sqlite.org/lang_vacuum.html); it places the workspace's
-- ledger in consent_records.
CREATE TABLE workspaces (
  number INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  settings TEXT NOT NULL,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
) STRICT;

CREATE TABLE contacts (
  workspace_id TEXT NOT NULL REFERENCES workspaces (id),
  id TEXT NOT NULL,
  name TEXT,
  email TEXT,
  phone TEXT,
  identities TEXT NOT NULL,
  fields TEXT NOT NULL,
  tags TEXT NOT NULL,
  hubspot_id TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  erased_at TEXT,
  PRIMARY KEY (workspace_id, id)
) STRICT;
-- A rowid table with id in each lookup index: without statistics the planner answers
-- "workspace_id = ? AND email = ? ORDER BY id" from these indexes, where a WITHOUT ROWID
-- table would walk the whole workspace by primary key (checked by EXPLAIN QUERY PLAN in tests).
CREATE INDEX contacts_email ON contacts (workspace_id, email, id) WHERE email IS NOT NULL;
CREATE INDEX contacts_phone ON contacts (workspace_id, phone, id) WHERE phone IS NOT NULL;
CREATE INDEX contacts_hubspot_id ON contacts (workspace_id, hubspot_id, id) WHERE hubspot_id IS NOT NULL;

-- Side tables: an identity belongs to one contact per workspace, and tag queries read an
-- index instead of scanning the contacts' JSON. They have no index by contact: contacts are
-- never deleted (erasure leaves a tombstone) and the store diffs a contact's own JSON to know
-- which side rows to change, so such an index would only add a page to every commit.
CREATE TABLE contact_identities (
  workspace_id TEXT NOT NULL,
  channel TEXT NOT NULL,
  external_id TEXT NOT NULL,
  contact_id TEXT NOT NULL,
  PRIMARY KEY (workspace_id, channel, external_id),
  FOREIGN KEY (workspace_id, contact_id) REFERENCES contacts (workspace_id, id)
) STRICT, WITHOUT ROWID;

CREATE TABLE contact_tags (
  workspace_id TEXT NOT NULL,
  tag TEXT NOT NULL,
  contact_id TEXT NOT NULL,
  PRIMARY KEY (workspace_id, tag, contact_id),
  FOREIGN KEY (workspace_id, contact_id) REFERENCES contacts (workspace_id, id)
) STRICT, WITHOUT ROWID;

-- A workspace's chain is one run of the rowid: position = (workspace number << 32) | seq. The table
-- itself then keeps seq unique per workspace and serves the chain in order, where a separate
-- UNIQUE (workspace_id, seq) index would cost another page on every append.
CREATE TABLE consent_records (
  position INTEGER PRIMARY KEY,
  id TEXT NOT NULL,
  workspace_id TEXT NOT NULL,
  seq INTEGER NOT NULL CHECK (seq BETWEEN 1 AND 4294967295),
  contact_id TEXT NOT NULL,
  purpose TEXT NOT NULL,
  channel TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('opted_in', 'opted_out')),
  legal_basis TEXT,
  explanation TEXT,
  source TEXT NOT NULL,
  actor_kind TEXT NOT NULL,
  actor_id TEXT NOT NULL,
  evidence TEXT NOT NULL,
  evidence_digest TEXT NOT NULL,
  occurred_at TEXT NOT NULL,
  recorded_at TEXT NOT NULL,
  idempotency_key TEXT,
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL,
  CHECK ((position & 4294967295) = seq),
  FOREIGN KEY (workspace_id, contact_id) REFERENCES contacts (workspace_id, id)
) STRICT;
CREATE UNIQUE INDEX consent_records_idempotency_key ON consent_records (workspace_id, idempotency_key)
  WHERE idempotency_key IS NOT NULL;
CREATE INDEX consent_records_contact ON consent_records (workspace_id, contact_id, seq);

-- The ledger is append-only (DESIGN §2): only the evidence may change, on erasure, and the
-- hash chain does not cover it directly (evidence_digest stays).
CREATE TRIGGER consent_records_append_only_update
BEFORE UPDATE OF position, id, workspace_id, seq, contact_id, purpose, channel, status, legal_basis, explanation,
  source, actor_kind, actor_id, evidence_digest, occurred_at, recorded_at, idempotency_key, prev_hash, hash
ON consent_records
BEGIN
  SELECT RAISE(ABORT, 'consent_records is append-only: only evidence can be redacted');
END;
CREATE TRIGGER consent_records_append_only_delete
BEFORE DELETE ON consent_records
BEGIN
  SELECT RAISE(ABORT, 'consent_records is append-only');
END;

CREATE TABLE consent_state (
  workspace_id TEXT NOT NULL,
  contact_id TEXT NOT NULL,
  purpose TEXT NOT NULL,
  channel TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('opted_in', 'opted_out')),
  legal_basis TEXT,
  explanation TEXT,
  source TEXT NOT NULL,
  occurred_at TEXT NOT NULL,
  record_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  PRIMARY KEY (workspace_id, contact_id, purpose, channel),
  FOREIGN KEY (workspace_id, contact_id) REFERENCES contacts (workspace_id, id)
) STRICT, WITHOUT ROWID;

CREATE TABLE conversations (
  id TEXT PRIMARY KEY,
  workspace_id TEXT NOT NULL,
  contact_id TEXT NOT NULL,
  channel TEXT NOT NULL CHECK (channel <> 'any'),
  status TEXT NOT NULL CHECK (status IN ('open', 'closed')),
  opened_at TEXT NOT NULL,
  closed_at TEXT,
  FOREIGN KEY (workspace_id, contact_id) REFERENCES contacts (workspace_id, id)
) STRICT, WITHOUT ROWID;
CREATE INDEX conversations_open ON conversations (workspace_id, contact_id, channel, opened_at)
  WHERE status = 'open';

-- A run's timer (at most one: DESIGN §4, a question's reply timeout or a wait) lives in the run's
-- own row: the engine sets it in the transaction that updates the run, so it costs no page of
-- its own. The scheduler reads due timers through workflow_runs_timer_due, never by scanning runs.
CREATE TABLE workflow_runs (
  id TEXT PRIMARY KEY,
  workspace_id TEXT NOT NULL,
  contact_id TEXT NOT NULL,
  conversation_id TEXT,
  channel TEXT NOT NULL CHECK (channel <> 'any'),
  template_id TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('active', 'completed', 'cancelled')),
  state TEXT NOT NULL,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  timer_id TEXT,
  timer_token TEXT,
  timer_due_at TEXT,
  CHECK ((timer_id IS NULL) = (timer_due_at IS NULL) AND (timer_token IS NULL) = (timer_due_at IS NULL)),
  FOREIGN KEY (workspace_id, contact_id) REFERENCES contacts (workspace_id, id)
) STRICT, WITHOUT ROWID;
CREATE INDEX workflow_runs_active ON workflow_runs (workspace_id, contact_id, channel, created_at)
  WHERE status = 'active';
CREATE INDEX workflow_runs_timer_due ON workflow_runs (timer_due_at, id) WHERE timer_due_at IS NOT NULL;

-- The answer to each inbound message, for its repeated deliveries. Answers are a few hundred
-- bytes: appended to a rowid table they fill its last page in order, and only the small key goes
-- into an index, where a WITHOUT ROWID table would carry whole answers in its interior pages and
-- split far more often.
CREATE TABLE processed_messages (
  workspace_id TEXT NOT NULL REFERENCES workspaces (id),
  channel TEXT NOT NULL,
  message_id TEXT NOT NULL,
  response TEXT NOT NULL,
  processed_at TEXT NOT NULL
) STRICT;
CREATE UNIQUE INDEX processed_messages_key ON processed_messages (workspace_id, channel, message_id);

-- The transactional outbox. The position is the rowid: SQLite gives a new row max(rowid) + 1
-- (https://www.sqlite.org/autoinc.html), so a rolled-back append leaves no gap and positions are
-- never reused as long as the newest event stays, which the trigger below guarantees. That is
-- what AUTOINCREMENT would promise here, without writing sqlite_sequence on every append.
-- Event ids are unique per workspace (every lookup names the workspace); the one index on
-- (workspace_id, id) serves uniqueness, getEvent and the newest-first listing.
CREATE TABLE events (
  position INTEGER PRIMARY KEY,
  id TEXT NOT NULL,
  workspace_id TEXT NOT NULL REFERENCES workspaces (id),
  type TEXT NOT NULL,
  contact_id TEXT,
  occurred_at TEXT NOT NULL,
  version INTEGER NOT NULL,
  data TEXT NOT NULL
) STRICT;
CREATE UNIQUE INDEX events_workspace_id ON events (workspace_id, id);
CREATE INDEX events_workspace_type_id ON events (workspace_id, type, id);
CREATE TRIGGER events_keep_newest
BEFORE DELETE ON events
WHEN old.position = (SELECT max(position) FROM events)
BEGIN
  SELECT RAISE(ABORT, 'the newest event cannot be deleted: its position would be handed out again');
END;

CREATE TABLE meta (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
) STRICT, WITHOUT ROWID;
`,
  },
  {
    version: 2,
    name: 'api keys, hooks and deliveries',
    up: `
-- A key names its workspace, so requests look it up by hash alone (UNIQUE); only the SHA-256
-- of the key is kept.
CREATE TABLE api_keys (
  id TEXT PRIMARY KEY,
  workspace_id TEXT NOT NULL REFERENCES workspaces (id),
  name TEXT,
  prefix TEXT NOT NULL,
  hash TEXT NOT NULL UNIQUE,
  created_at TEXT NOT NULL,
  last_used_at TEXT,
  revoked_at TEXT
) STRICT, WITHOUT ROWID;
CREATE INDEX api_keys_workspace ON api_keys (workspace_id, created_at, id);

-- Hooks are soft-deleted (deleted_at) so deleting one twice answers the same; only live ones
-- are listed, so only they are indexed. No CHECK on event: the public event types grow, and
-- a CHECK cannot be changed without rebuilding the table.
CREATE TABLE hooks (
  id TEXT PRIMARY KEY,
  workspace_id TEXT NOT NULL REFERENCES workspaces (id),
  target_url TEXT NOT NULL,
  event TEXT NOT NULL,
  event_filter TEXT,
  secret TEXT NOT NULL,
  created_at TEXT NOT NULL,
  deleted_at TEXT,
  deleted_reason TEXT CHECK (deleted_reason IN ('unsubscribed', 'gone'))
) STRICT, WITHOUT ROWID;
CREATE INDEX hooks_live ON hooks (workspace_id, created_at, id) WHERE deleted_at IS NULL;

-- One row per event and destination. hook_id has no foreign key: a workspace's outbound
-- webhook (hook id "outbound:<workspace id>") has no hooks row.
CREATE TABLE deliveries (
  id TEXT PRIMARY KEY,
  workspace_id TEXT NOT NULL REFERENCES workspaces (id),
  hook_id TEXT NOT NULL,
  event_id TEXT NOT NULL,
  event_position INTEGER NOT NULL CHECK (event_position >= 1),
  contact_id TEXT,
  status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'dead')),
  attempts INTEGER NOT NULL CHECK (attempts >= 0),
  next_attempt_at TEXT NOT NULL,
  last_error TEXT,
  last_status_code INTEGER,
  delivered_at TEXT,
  updated_at TEXT NOT NULL
) STRICT, WITHOUT ROWID;
-- An event reaches a hook once; a hook's deliveries are listed newest event (ULID) first from it.
CREATE UNIQUE INDEX deliveries_hook_event ON deliveries (hook_id, event_id);
-- The dispatcher reads due pending rows in send order from here, and counts rows per status.
CREATE INDEX deliveries_status_due ON deliveries (status, next_attempt_at, event_position, id);
-- Only pending rows: finds whether an earlier event of the same contact still waits for the
-- same hook (per-contact order), and the pending rows of a hook to abandon.
CREATE INDEX deliveries_pending_sequence ON deliveries (hook_id, contact_id, event_position)
  WHERE status = 'pending';
`,
  },
  {
    version: 3,
    name: 'hubspot sync state',
    up: `
-- Work for HubSpot (connectors/hubspot/state-sqlite.ts): one row per outbox event and target
-- (contact properties, email subscription, workflow callback), written in the transaction that
-- advances the connector's outbox cursor. Done rows are deleted; dead letters stay.
CREATE TABLE hubspot_sync_changes (
  position INTEGER NOT NULL,
  target TEXT NOT NULL CHECK (target IN ('contact', 'email', 'callback')),
  workspace_id TEXT NOT NULL REFERENCES workspaces (id),
  event_id TEXT NOT NULL,
  contact_id TEXT,
  payload TEXT NOT NULL,
  occurred_at TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('pending', 'dead')),
  attempts INTEGER NOT NULL CHECK (attempts >= 0),
  next_attempt_at TEXT NOT NULL,
  last_error TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  PRIMARY KEY (position, target)
) STRICT, WITHOUT ROWID;
-- The dispatcher reads due pending rows in outbox order; the status API counts per workspace.
CREATE INDEX hubspot_sync_changes_due ON hubspot_sync_changes (status, next_attempt_at, position);
CREATE INDEX hubspot_sync_changes_workspace ON hubspot_sync_changes (workspace_id, status, position);

-- Per contact: the stamp of each value HubSpot holds from us (never send an older one), the
-- values recently written (to recognise their echo in webhooks) and the last change heard.
CREATE TABLE hubspot_contact_state (
  workspace_id TEXT NOT NULL,
  contact_id TEXT NOT NULL,
  state TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  PRIMARY KEY (workspace_id, contact_id)
) STRICT, WITHOUT ROWID;

-- Workflow-action requests by callbackId (HubSpot's idempotency key): the answer given, and
-- for a blocked action the run whose end completes it.
CREATE TABLE hubspot_callbacks (
  callback_id TEXT PRIMARY KEY,
  workspace_id TEXT NOT NULL REFERENCES workspaces (id),
  action TEXT NOT NULL,
  contact_id TEXT,
  run_id TEXT,
  response TEXT,
  outcome TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX hubspot_callbacks_run ON hubspot_callbacks (workspace_id, run_id) WHERE run_id IS NOT NULL;
`,
  },
  {
    version: 4,
    name: 'slack alerts',
    up: `
-- One row per outbox event that became a Slack alert (connectors/slack/alert-store-sqlite.ts):
-- unique per event, so reading the outbox again creates no second alert and no second message.
-- claim and resolution are the button state (JSON); delivery says whether it was posted yet.
CREATE TABLE slack_alerts (
  workspace_id TEXT NOT NULL REFERENCES workspaces (id),
  id TEXT NOT NULL,
  event_id TEXT NOT NULL,
  event TEXT NOT NULL,
  contact_name TEXT,
  contact_url TEXT,
  slack_channel TEXT NOT NULL,
  created_at TEXT NOT NULL,
  delivery TEXT NOT NULL CHECK (delivery IN ('pending', 'posted', 'digested', 'failed')),
  message_channel TEXT,
  message_ts TEXT,
  last_error TEXT,
  claim TEXT,
  resolution TEXT,
  PRIMARY KEY (workspace_id, id)
) STRICT, WITHOUT ROWID;
CREATE UNIQUE INDEX slack_alerts_event ON slack_alerts (workspace_id, event_id);
-- Only pending rows: the dispatcher reads them oldest event (ULID) first.
CREATE INDEX slack_alerts_pending ON slack_alerts (workspace_id, event_id) WHERE delivery = 'pending';
`,
  },
  {
    version: 5,
    name: 'contact of processed messages',
    up: `
-- The contact each inbound message was resolved to, so erasure (GDPR Art. 17) can redact the
-- answers kept for repeated deliveries. No index on it: an index would cost a written page on
-- every inbound message, while erasure is rare and admin-initiated; it walks the workspace's rows
-- through the workspace_id prefix of processed_messages_key. No foreign key either: the column
-- is only ever read by erasure, and contacts are never deleted (erasure leaves a tombstone).
-- Runs get no index by contact of any status for the same reason: erasure reads every run of the
-- contact by scanning workflow_runs, where such an index would cost a written page per run started.
ALTER TABLE processed_messages ADD COLUMN contact_id TEXT;
-- Answers stored before this step name their contact in the JSON they keep.
UPDATE processed_messages SET contact_id = json_extract(response, '$.contactId')
  WHERE json_valid(response) AND json_type(response, '$.contactId') = 'text';
`,
  },
  {
    version: 6,
    name: 'workspace purposes',
    up: `
-- Consent is now recorded only for a purpose the workspace knows: privacy, marketing and those
-- listed in its settings.purposes. Settings are stored whole, so every workspace gets the list; a
-- workspace that recorded other purposes before has them listed, so nothing it did before is
-- refused after the upgrade.
UPDATE workspaces SET settings = json_set(settings, '$.purposes', json((
  SELECT json_group_array(purpose) FROM (
    SELECT DISTINCT purpose FROM consent_records
    WHERE consent_records.workspace_id = workspaces.id AND purpose NOT IN ('privacy', 'marketing')
    ORDER BY purpose
  )
)));
`,
  },
  {
    version: 7,
    name: 'pending deliveries by hook',
    up: `
-- The dispatcher shares its requests out hook by hook: it reads each hook's due pending rows in
-- send order from here, so a hook with a long backlog costs a few index steps, not a walk of its
-- backlog in front of every other hook's rows. Only pending rows, like the sequence index.
CREATE INDEX deliveries_pending_hook_due ON deliveries (hook_id, next_attempt_at, event_position, id)
  WHERE status = 'pending';
`,
  },
  {
    version: 8,
    name: 'dead letters sent again',
    up: `
-- A dead letter sent again (POST .../retry) gets a fresh retry window, measured from the request
-- rather than from its event's occurrence, which may be long past.
ALTER TABLE deliveries ADD COLUMN resent_at TEXT;
-- Only dead rows: a hook's dead letters are listed page by page, newest event first, and sent
-- again oldest first, without walking the hook's delivered rows. A row enters it only when it
-- is given up on, so sending and delivering write nothing here.
CREATE INDEX deliveries_dead ON deliveries (hook_id, event_id) WHERE status = 'dead';
`,
  },
  {
    version: 9,
    name: 'hooks remember their api key',
    up: `
-- A hook remembers the API key that created it, and revoking the key deletes it (deleted_reason
-- key_revoked): a leaked key must not leave behind subscriptions sending events to URLs it chose.
-- Hooks created before this step have no key recorded and are left as they are. No index on the
-- key: a revocation reads the key's workspace's live hooks through hooks_live, and hooks are few.
-- A CHECK cannot be altered, so the table is rebuilt as https://www.sqlite.org/lang_altertable.html#otheralter
-- says: create the new table, copy the rows, drop the old one, rename the new one, create its
-- indexes again. The foreign_keys pragma cannot change inside this transaction, and need not:
-- no table references hooks (deliveries.hook_id has no foreign key), so the DROP's implicit
-- DELETE checks nothing, and every copied row keeps the workspace it referenced. hooks has no
-- trigger or view to recreate.
CREATE TABLE hooks_rebuilt (
  id TEXT PRIMARY KEY,
  workspace_id TEXT NOT NULL REFERENCES workspaces (id),
  api_key_id TEXT REFERENCES api_keys (id),
  target_url TEXT NOT NULL,
  event TEXT NOT NULL,
  event_filter TEXT,
  secret TEXT NOT NULL,
  created_at TEXT NOT NULL,
  deleted_at TEXT,
  deleted_reason TEXT CHECK (deleted_reason IN ('unsubscribed', 'gone', 'key_revoked'))
) STRICT, WITHOUT ROWID;
INSERT INTO hooks_rebuilt (id, workspace_id, api_key_id, target_url, event, event_filter, secret, created_at, deleted_at, deleted_reason)
  SELECT id, workspace_id, NULL, target_url, event, event_filter, secret, created_at, deleted_at, deleted_reason FROM hooks;
DROP TABLE hooks;
ALTER TABLE hooks_rebuilt RENAME TO hooks;
CREATE INDEX hooks_live ON hooks (workspace_id, created_at, id) WHERE deleted_at IS NULL;
`,
  },
  {
    version: 10,
    name: 'workflow runs by contact',
    up: `
-- Erasing a contact reads all its workflow runs, finished ones too; workflow_runs_active holds
-- only active runs, so without this index the read scanned every run of every workspace. Runs
-- never change workspace or contact, so updating a run writes nothing here.
CREATE INDEX workflow_runs_contact ON workflow_runs (workspace_id, contact_id, created_at, id);
`,
  },
  {
    version: 11,
    name: 'hubspot callbacks per workspace',
    up: `
-- A workflow-action callback belongs to the workspace whose request created it: HubSpot's
-- callbackIds are unique per app and portal only, and are not secret, so keyed by the id alone a
-- workspace could read another's stored answer or claim its id first. The key cannot be altered,
-- so the table is rebuilt as https://www.sqlite.org/lang_altertable.html#otheralter says, every
-- row copied with the workspace it has. No table references hubspot_callbacks, and it has no
-- trigger or view; its index goes with the old table and is created again.
CREATE TABLE hubspot_callbacks_rebuilt (
  workspace_id TEXT NOT NULL REFERENCES workspaces (id),
  callback_id TEXT NOT NULL,
  action TEXT NOT NULL,
  contact_id TEXT,
  run_id TEXT,
  response TEXT,
  outcome TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  PRIMARY KEY (workspace_id, callback_id)
) STRICT, WITHOUT ROWID;
INSERT INTO hubspot_callbacks_rebuilt (workspace_id, callback_id, action, contact_id, run_id, response, outcome, created_at, updated_at)
  SELECT workspace_id, callback_id, action, contact_id, run_id, response, outcome, created_at, updated_at FROM hubspot_callbacks;
DROP TABLE hubspot_callbacks;
ALTER TABLE hubspot_callbacks_rebuilt RENAME TO hubspot_callbacks;
CREATE INDEX hubspot_callbacks_run ON hubspot_callbacks (workspace_id, run_id) WHERE run_id IS NOT NULL;
`,
  },
  {
    version: 12,
    name: 'no index of workflow runs by contact',
    up: `
-- workflow_runs_contact (version 10) cost every run started a write into one more index, about a
-- tenth of a workflow message's throughput measured side by side, for erasure alone: erasure,
-- rare and admin-initiated, reads a contact's runs by scanning workflow_runs again.
DROP INDEX workflow_runs_contact;
`,
  },
  {
    version: 13,
    name: 'erased addresses',
    up: `
-- Erasure removes a contact's e-mail and phone, and with them what would stop an old export
-- from bringing the person back with an opt-in. A digest of each address is kept (GDPR
-- Art. 17(3) and 21(3): what is needed to honour the erasure and an objection), and nothing
-- else: no contact id and no date, so an entry cannot be tied back to the erased records.
CREATE TABLE erased_addresses (
  workspace_id TEXT NOT NULL REFERENCES workspaces (id),
  digest TEXT NOT NULL,
  PRIMARY KEY (workspace_id, digest)
) STRICT, WITHOUT ROWID;
`,
  },
  {
    version: 14,
    name: 'slack alerts of erased contacts',
    up: `
-- A Slack alert whose contact was erased is closed (connectors/slack/erasure.ts): erasure is
-- 'redacting' while the Slack message that shows it (its own, or the digest it was folded into,
-- whose id digested alerts now keep in message_channel and message_ts) still names the contact
-- and waits to be edited, 'erased' once nothing in Slack does. The partial index holds only the
-- rows waiting, which the dispatcher looks for on every pass.
ALTER TABLE slack_alerts ADD COLUMN erasure TEXT CHECK (erasure IN ('redacting', 'erased'));
CREATE INDEX slack_alerts_redacting ON slack_alerts (workspace_id, message_channel, message_ts) WHERE erasure = 'redacting';
`,
  },
  {
    version: 15,
    name: 'hubspot paused contacts',
    up: `
-- While a workspace's HubSpot sync is paused or disconnected (connectors/hubspot/fan-out.ts), one
-- row per contact that changed meanwhile: which properties changed and when, never their values,
-- and the outbox position of the latest change. The sync sends the contact's current values of
-- them once it is on again, and deletes the row.
CREATE TABLE hubspot_paused_contacts (
  workspace_id TEXT NOT NULL,
  contact_id TEXT NOT NULL,
  properties TEXT NOT NULL,
  email_subscription TEXT,
  position INTEGER NOT NULL,
  event_id TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  PRIMARY KEY (workspace_id, contact_id)
) STRICT, WITHOUT ROWID;
-- The sync takes a workspace's paused contacts oldest first.
CREATE INDEX hubspot_paused_contacts_position ON hubspot_paused_contacts (workspace_id, position, contact_id);
`,
  },
  {
    version: 16,
    name: 'contacts guarded for an erased address',
    up: `
-- 1 on a contact a bulk row made, or gave an address, that an erased contact had (a digest in
-- erased_addresses): a later bulk opt-in for it is refused until the person writes from it or the
-- contact is changed or decided about by its id (src/engine/consents.ts). A column of the contact
-- row, which every lookup reads anyway, so an inbound message learns of it without another read.
ALTER TABLE contacts ADD COLUMN erased_address_guard INTEGER NOT NULL DEFAULT 0 CHECK (erased_address_guard IN (0, 1));
`,
  },
  {
    version: 17,
    name: 'when a paused HubSpot contact began to wait',
    up: `
-- The creation time of the oldest change a paused contact holds, for the backlog's age in the
-- status; null on a row written before, whose updated_at stands in for it.
ALTER TABLE hubspot_paused_contacts ADD COLUMN noted_at TEXT;
`,
  },
  {
    version: 18,
    name: 'the identities a guarded contact had when its guard was set',
    up: `
-- How many of a guarded contact's identities (the first ones of its JSON array, which only ever
-- grows at its end) it had when its erased_address_guard was set: only a message from one of them
-- ends the guard. Null when the guard is not set. A guard set before this column counts every
-- identity the contact has now.
ALTER TABLE contacts ADD COLUMN erased_address_guard_identities INTEGER;
UPDATE contacts SET erased_address_guard_identities = json_array_length(identities) WHERE erased_address_guard = 1;
`,
  },
  {
    version: 19,
    name: 'templates deferred at a conversation opening',
    up: `
-- The templates of the workspace's conversation_opened bindings that could not start when the
-- conversation opened, for lack of a setting they need (privacyPolicyUrl), as a JSON array of
-- template ids: they start at the contact's next message in it once the setting is there
-- (src/engine/runs.ts). Null when none waits, as on every conversation opened before. A column
-- of the conversation row, which every inbound message reads anyway, so a conversation without
-- one costs no other read.
ALTER TABLE conversations ADD COLUMN deferred_templates TEXT
  CHECK (deferred_templates IS NULL OR (json_valid(deferred_templates) AND json_type(deferred_templates) = 'array'));
`,
  },
  {
    version: 20,
    name: 'workflows queued behind a consent question',
    up: `
-- The workflows bindings triggered in a conversation while its consent question waited, as a JSON
-- array of {template, trigger, match}: they start when the run asking the question ends with the
-- conversation still open (src/engine/runs.ts). Null when none waits, as on every conversation
-- before. On the conversation row, which every inbound message reads anyway.
ALTER TABLE conversations ADD COLUMN queued_workflows TEXT
  CHECK (queued_workflows IS NULL OR (json_valid(queued_workflows) AND json_type(queued_workflows) = 'array'));
`,
  },
  {
    version: 21,
    name: 'the latest subscription of a hook',
    up: `
-- The id of the hook's latest subscription: every POST /v1/hooks that creates or renews the hook
-- issues a new one, and DELETE /v1/hooks/{id}?subscription= deletes the hook only for that one,
-- so that unsubscribing a subscription a renewal replaced leaves the hook live
-- (src/worker/hooks.ts). Null on a hook subscribed before, until its next subscription.
ALTER TABLE hooks ADD COLUMN subscription_id TEXT;
`,
  },
  {
    version: 22,
    name: 'slack alerts shown in a channel by creation time',
    up: `
-- The alerts a channel showed (posted on their own or folded into a digest), by creation time:
-- a new lane of the Slack dispatcher takes up the burst of the last minute from here
-- (connectors/slack/alert-store-sqlite.ts, listShownSince), reading only the rows of that window,
-- newest first, instead of every alert of the workspace. Partial, like slack_alerts_pending: an
-- alert enters it when it is shown, so an alert waiting or failed writes nothing here.
CREATE INDEX slack_alerts_shown ON slack_alerts (workspace_id, message_channel, created_at, event_id)
  WHERE message_ts IS NOT NULL AND delivery IN ('posted', 'digested');
`,
  },
  {
    version: 23,
    name: 'outbound messages stored before inAnswer say false',
    up: `
-- A message.outbound event says whether its text was also in the replies of an answer (inAnswer,
-- src/core/events.ts); one stored before the field existed says false, as its schema reads it,
-- also in the JSON a delivery sends and the events API lists, which pass the stored data on as it
-- is: an adapter that tests inAnswer === false then sends a dead letter sent again, where one
-- without the field would be skipped. A row whose data is not a JSON object is left as it is
-- (the store reports it unreadable when it is read): the JSON functions would stop the whole
-- migration on it, and CASE, unlike AND, is sure to test json_valid first.
UPDATE events SET data = json_set(data, '$.inAnswer', json('false'))
  WHERE type = 'message.outbound'
    AND CASE WHEN json_valid(data) THEN json_type(data) = 'object' AND json_type(data, '$.inAnswer') IS NULL ELSE 0 END;
`,
  },
  {
    version: 24,
    name: 'deliveries by event position',
    up: `
-- Retention deletes expired events oldest first, and each event's deliveries with it
-- (StoreTx.pruneExpired): this index finds them by position, instead of every pass reading the
-- whole table. A delivery's position never changes, so updates do not write here.
CREATE INDEX deliveries_event_position ON deliveries (event_position);
`,
  },
  {
    version: 25,
    name: 'closed slack alerts and finished hubspot callbacks by age',
    up: `
-- Retention also deletes the Slack alerts that are closed and the HubSpot workflow-action
-- callbacks that are finished, once older than RETENTION_DAYS (src/worker/retention.ts): they
-- name contacts (GDPR Art. 5(1)(e)). Each index holds only those rows, oldest first, so a pass
-- reads what it deletes and never an open alert or a pending callback, however many there are.
-- A row enters its index when it closes or finishes, and the ones waiting write nothing here. The conditions are those of connectors/slack/alert-store.ts isClosedAlert (the one event
-- type without buttons is sync.failed) and connectors/hubspot/callback-retention.ts
-- isFinishedCallback; the deleting statements repeat them word for word, as SQLite requires to
-- use a partial index (https://www.sqlite.org/partialindex.html). An event that is not JSON
-- counts as of a type with buttons: CASE, unlike OR, is sure to test json_valid first, so such a
-- row stops neither this migration nor a later write.
CREATE INDEX slack_alerts_closed ON slack_alerts (created_at)
  WHERE delivery <> 'pending'
    AND (erasure = 'erased' OR erasure IS NULL AND delivery IN ('posted', 'digested')
      AND (resolution IS NOT NULL OR delivery = 'digested'
        OR CASE WHEN json_valid(event) THEN json_extract(event, '$.type') = 'sync.failed' ELSE 0 END));
CREATE INDEX hubspot_callbacks_finished ON hubspot_callbacks (updated_at)
  WHERE response IS NOT NULL AND (run_id IS NULL OR outcome IS NOT NULL);
`,
  },
];

interface AppliedMigrationRow {
  version: number;
  name: string;
}

export interface MigrationResult {
  /** Versions applied by this call, in order. */
  applied: number[];
  /** The schema version of the database afterwards. */
  version: number;
}

function checkMigrationList(migrations: readonly Migration[]): void {
  let previous = 0;
  for (const migration of migrations) {
    if (!Number.isInteger(migration.version) || migration.version <= previous) {
      throw new Error(`migration versions must be increasing positive integers: ${migration.version} follows ${previous}`);
    }
    previous = migration.version;
  }
}

/**
 * The migrations the database records, in order, once each is known to this build: a database
 * whose schema is newer, or that records a migration this build does not have, is refused.
 */
export function knownAppliedMigrations(db: Database, migrations: readonly Migration[] = MIGRATIONS): AppliedMigrationRow[] {
  const known = migrations.at(-1)?.version ?? 0;
  const appliedRows = db.prepare<[], AppliedMigrationRow>('SELECT version, name FROM schema_migrations ORDER BY version').all();
  const current = appliedRows.at(-1)?.version ?? 0;
  if (current > known) {
    throw new ConsentryError(
      'CONFLICT',
      `database schema version ${current} is newer than this build of Consentry supports (${known}); upgrade Consentry to open this database`,
    );
  }
  const byVersion = new Map(migrations.map((migration) => [migration.version, migration]));
  for (const row of appliedRows) {
    const migration = byVersion.get(row.version);
    if (!migration || migration.name !== row.name) {
      throw new ConsentryError('CONFLICT', `database records migration ${row.version} "${row.name}", which this build of Consentry does not have`);
    }
  }
  return appliedRows;
}

/**
 * Brings the database up to the newest known migration, all pending steps in one IMMEDIATE
 * transaction so two processes opening the same file cannot both apply a step. A database
 * whose schema is newer than this build, or that records a migration this build does not know
 * under that version, is refused rather than used with a schema the code does not understand.
 */
export function migrate(db: Database, migrations: readonly Migration[] = MIGRATIONS): MigrationResult {
  checkMigrationList(migrations);
  const known = migrations.at(-1)?.version ?? 0;
  db.exec('BEGIN IMMEDIATE');
  try {
    db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version INTEGER PRIMARY KEY,
      name TEXT NOT NULL,
      applied_at TEXT NOT NULL
    ) STRICT`);
    const appliedRows = knownAppliedMigrations(db, migrations);
    const current = appliedRows.at(-1)?.version ?? 0;
    const appliedVersions = new Set(appliedRows.map((row) => row.version));
    const record = db.prepare<[number, string]>(
      `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))`,
    );
    const applied: number[] = [];
    for (const migration of migrations) {
      if (appliedVersions.has(migration.version)) continue;
      db.exec(migration.up);
      record.run(migration.version, migration.name);
      applied.push(migration.version);
    }
    db.exec('COMMIT');
    return { applied, version: Math.max(current, known) };
  } catch (error) {
    if (db.inTransaction) db.exec('ROLLBACK');
    throw error;
  }
}
