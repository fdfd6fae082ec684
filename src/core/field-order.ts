import type { FieldIssue } from './errors.js';

/**
 * Field issues in path order, so that a refusal reads as the request is written: the items of a
 * list by their index (`triggers.2` before `triggers.10`, whichever check named them first), a
 * field's own issues before those of the fields inside it, and the fields of one object in the
 * order they were first named (the order of the schema, which follows the documented request).
 * Issues of one path keep their order. The checks that name the fields of one request run one
 * after the other (a schema, then the rules beyond it), each in its own order; without this a
 * list's items could be named 6, 7, 8, 5, 0, 1.
 */
export function inPathOrder(issues: readonly FieldIssue[]): FieldIssue[] {
  const root = newNode();
  for (const issue of issues) {
    let node = root;
    for (const segment of issue.path === '' ? [] : issue.path.split('.')) {
      let child = node.children.get(segment);
      if (child === undefined) {
        child = newNode();
        node.children.set(segment, child);
      }
      node = child;
    }
    node.issues.push(issue);
  }
  const ordered: FieldIssue[] = [];
  const walk = (node: PathNode): void => {
    ordered.push(...node.issues);
    for (const segment of segmentsInOrder([...node.children.keys()])) {
      const child = node.children.get(segment);
      if (child !== undefined) walk(child);
    }
  };
  walk(root);
  return ordered;
}

interface PathNode {
  issues: FieldIssue[];
  children: Map<string, PathNode>;
}

function newNode(): PathNode {
  return { issues: [], children: new Map() };
}

const INDEX = /^\d+$/;

/** Compares two list indexes by their value (`2` before `10`), as written when they are equal in value (`01`, `1`). */
function byIndex(a: string, b: string): number {
  const difference = Number(a) - Number(b);
  if (difference !== 0) return difference;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The segments below one path in first-named order, the list indexes among them sorted by value in the places indexes took. */
function segmentsInOrder(segments: readonly string[]): string[] {
  const indexes = segments.filter((segment) => INDEX.test(segment)).sort(byIndex);
  let next = 0;
  return segments.map((segment) => (INDEX.test(segment) ? (indexes[next++] ?? segment) : segment));
}
