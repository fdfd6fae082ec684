import type { HubSpotClient } from './client.js';
import { formatPlan, planChangeCount, planInstall, type InstallPlan } from './properties.js';

export interface InstallResult {
  plan: InstallPlan;
  /** Changes made (0 for a dry run or when everything is in place). */
  applied: number;
  /** What was planned or done, for a person to read. */
  report: string;
}

/**
 * Creates the connector's property group and properties on the portal, and adds tag options for
 * the tags in use (https://developers.hubspot.com/docs/api/crm/properties). The plan compares
 * what the portal has with what is needed, so a rerun changes nothing and says so; a dry run
 * only prints the plan. Conflicting properties are reported, never overwritten.
 */
export async function installProperties(client: HubSpotClient, tags: readonly string[], options: { dryRun?: boolean } = {}): Promise<InstallResult> {
  const groups = (await client.listPropertyGroups()).map((group) => group.name);
  const plan = planInstall({ groups, properties: await client.listProperties() }, tags);
  const changes = planChangeCount(plan);
  if (options.dryRun === true) {
    return { plan, applied: 0, report: changes === 0 && plan.conflicts.length === 0 ? formatPlan(plan) : `Dry run, nothing changed.\n${formatPlan(plan)}` };
  }
  if (plan.createGroup !== null) await client.createPropertyGroup(plan.createGroup);
  for (const property of plan.createProperties) await client.createProperty(property);
  for (const update of plan.updateOptions) await client.updatePropertyOptions(update.propertyName, update.options);
  const report = changes === 0 ? formatPlan(plan) : `${formatPlan(plan)}\nApplied ${changes} ${changes === 1 ? 'change' : 'changes'}.`;
  return { plan, applied: changes, report };
}
