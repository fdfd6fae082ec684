import type { Bundle, Trigger, ZObject } from 'zapier-platform-core';
import { timedStep } from '../step-deadline.js';

/** One choice of a dynamic dropdown: what the step receives (`id`) and what the editor shows (`name`). */
export interface DropdownChoice {
  id: string;
  name: string;
}

export interface DropdownTriggerSpec {
  key: string;
  noun: string;
  description: string;
  /** The label of the `id` output field: what one choice is. */
  choiceLabel: string;
  list: (z: ZObject, bundle: Bundle) => Promise<DropdownChoice[]>;
  sample: DropdownChoice;
}

/**
 * A hidden polling trigger that fills dynamic dropdowns (`dynamic: '<key>.id.name'`): Zapier's
 * dropdown triggers are hidden from the trigger list (https://docs.zapier.com/platform/build/dynamic-dropdowns).
 * It runs only while a user fills a dropdown, which Zapier does not replay: its `list` calls the API
 * with `neverReplayed`.
 */
export function dropdownTrigger(spec: DropdownTriggerSpec): Trigger {
  const label = `List ${spec.noun}s`;
  return {
    key: spec.key,
    noun: spec.noun,
    display: { label, description: spec.description, hidden: true },
    operation: {
      type: 'polling',
      perform: timedStep(label, spec.list),
      outputFields: [
        { key: 'id', label: spec.choiceLabel },
        { key: 'name', label: 'Name' },
      ],
      sample: { ...spec.sample },
    },
  };
}
