import { compile } from 'fhirpath';
import * as r4Model from 'fhirpath/fhir-context/r4';
import { ResourceTree, TreeNode } from './resource-tree';

/**
 * Which elements of a resource a rule's `path` selects (FHIR Anonymizer, "FHIR path rules").
 * The leading resource type is split off as the reference does: the rule runs only on resources
 * of that type (`Resource`, `DomainResource` or none: on every resource), and the rest is
 * evaluated relative to the resource. The forms the sample configurations use — element paths,
 * `nodesByType('T')` and `nodesByName('n')`, each optionally followed by one element name — are
 * answered from the tree's indexes; anything else is evaluated with fhirpath.js.
 */
export interface RuleSelector {
  /** The resource type the rule is for; undefined: every type. */
  resourceType: string | undefined;
  /** What the selection looks up in the tree's indexes. */
  uses: { path?: string; type?: string; name?: string };
  select(tree: ResourceTree): TreeNode[];
}

const TYPE_PREFIX = /^(?<resourceType>[A-Z][a-zA-Z]*)?(\.)?(?<expression>.*?)$/s;
const ELEMENT_PATH = /^[a-z][A-Za-z0-9]*(\.[a-z][A-Za-z0-9]*)*$/;
const BY_TYPE = /^nodesByType\('([A-Za-z][A-Za-z0-9]*)'\)(?:\.([a-z][A-Za-z0-9]*))?$/;
const BY_NAME = /^nodesByName\('([A-Za-z][A-Za-z0-9]*)'\)(?:\.([a-z][A-Za-z0-9]*))?$/;
const ANY_RESOURCE = new Set(['Resource', 'DomainResource']);

/** Compiles a rule path; throws an Error saying why it cannot be used. */
export function compileRulePath(path: string): RuleSelector {
  const match = TYPE_PREFIX.exec(path.trim());
  const prefix = match?.groups?.resourceType;
  const expression = match?.groups?.expression ?? '';
  const resourceType = prefix && !ANY_RESOURCE.has(prefix) ? prefix : undefined;
  return { resourceType, ...selector(expression) };
}

function selector(expression: string): Omit<RuleSelector, 'resourceType'> {
  if (expression === '') return { uses: {}, select: (tree) => [tree.root] };
  if (ELEMENT_PATH.test(expression)) {
    return { uses: { path: expression }, select: (tree) => tree.byPath.get(expression) ?? [] };
  }
  const byType = BY_TYPE.exec(expression);
  if (byType) {
    const [, type, element] = byType;
    return {
      uses: { type },
      select: (tree) =>
        childrenNamed(
          [...rootIf(tree, (root) => root.type === type), ...(tree.byType.get(type) ?? [])],
          element,
        ),
    };
  }
  const byName = BY_NAME.exec(expression);
  if (byName) {
    const [, name, element] = byName;
    return {
      uses: { name },
      select: (tree) => childrenNamed(tree.byName.get(name) ?? [], element),
    };
  }
  return { uses: {}, select: fhirPathSelector(expression) };
}

function rootIf(tree: ResourceTree, test: (root: TreeNode) => boolean): TreeNode[] {
  return test(tree.root) ? [tree.root] : [];
}

function childrenNamed(nodes: TreeNode[], element: string | undefined): TreeNode[] {
  if (element === undefined) return nodes;
  return nodes.flatMap((node) => node.children.filter((child) => child.name === element));
}

/** What fhirpath.js hands back for an element (with resolveInternalTypes off). */
interface FhirPathNode {
  data: unknown;
  propName?: string;
  index?: number | null;
  parentResNode?: FhirPathNode | null;
}

/**
 * A general FHIRPath expression, with `nodesByType('T')` read as the resource's descendants of
 * type T (fhirpath.js descends into nested resources here, which the indexed form above does
 * not). `nodesByName` is supported only in the indexed forms.
 */
function fhirPathSelector(expression: string): (tree: ResourceTree) => TreeNode[] {
  if (/\bnodesByName\s*\(/.test(expression)) {
    throw new Error(
      "nodesByName('n') is supported on its own or followed by one element name, not inside an expression",
    );
  }
  const rewritten = expression.replace(
    /\bnodesByType\(\s*'([A-Za-z][A-Za-z0-9]*)'\s*\)/g,
    '(descendants() | $this).ofType($1)',
  );
  const evaluate = compile(rewritten, r4Model, { resolveInternalTypes: false });
  return (tree) => {
    const found = evaluate(tree.resource) as unknown[];
    const nodes: TreeNode[] = [];
    for (const item of found) {
      const node = lookup(tree, item as FhirPathNode);
      if (node) nodes.push(node);
    }
    return nodes;
  };
}

function lookup(tree: ResourceTree, found: FhirPathNode): TreeNode | undefined {
  if (typeof found !== 'object' || found === null || !('data' in found)) return undefined;
  if (found.data === tree.resource) return tree.root;
  const holder = found.parentResNode?.data;
  const index = found.index ?? undefined;
  return tree.nodes.find(
    (node) => node.holder === holder && node.key === found.propName && node.index === index,
  );
}
