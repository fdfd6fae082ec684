import { purposeLabel } from '../inputs.js';
import { knownPurposes } from '../workspace-settings.js';
import { dropdownTrigger } from './dropdown.js';

/** Powers the Purpose dropdowns (`dynamic: 'purpose_list.id.name'`). */
export default dropdownTrigger({
  key: 'purpose_list',
  noun: 'Purpose',
  description: 'Lists the consent purposes of the workspace, for dropdowns.',
  choiceLabel: 'Purpose',
  list: async (z, bundle) => (await knownPurposes(z, bundle, true)).map((purpose) => ({ id: purpose, name: purposeLabel(purpose) })),
  sample: { id: 'marketing', name: 'Marketing (channel subscription)' },
});
