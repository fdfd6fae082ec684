import { callApi, TagListSchema } from '../api.js';
import { dropdownTrigger } from './dropdown.js';

/** Powers the Tag dropdowns (`dynamic: 'tag_list.id.name'`). */
export default dropdownTrigger({
  key: 'tag_list',
  noun: 'Tag',
  description: 'Lists the tags used in the workspace, for dropdowns.',
  choiceLabel: 'Tag',
  list: async (z, bundle) => {
    const tags = await callApi(z, bundle, { path: '/v1/tags', schema: TagListSchema, neverReplayed: true });
    return tags.data.map((tag) => ({ id: tag, name: tag }));
  },
  sample: { id: 'VIP', name: 'VIP' },
});
