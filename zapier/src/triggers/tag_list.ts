import type { Bundle, Trigger, ZObject } from 'zapier-platform-core';
import { callApi, TagListSchema } from '../api.js';

/** Powers the Tag dropdowns (`dynamic: 'tag_list.id.name'`); hidden, as Zapier's dynamic dropdown triggers are. */
const listTags = async (z: ZObject, bundle: Bundle) => {
  const tags = await callApi(z, bundle, { path: '/v1/tags', schema: TagListSchema });
  return tags.data.map((tag) => ({ id: tag, name: tag }));
};

const trigger: Trigger = {
  key: 'tag_list',
  noun: 'Tag',
  display: { label: 'List Tags', description: 'Lists the tags used in the workspace, for dropdowns.', hidden: true },
  operation: {
    type: 'polling',
    perform: listTags,
    outputFields: [
      { key: 'id', label: 'Tag' },
      { key: 'name', label: 'Name' },
    ],
    sample: { id: 'VIP', name: 'VIP' },
  },
};

export default trigger;
