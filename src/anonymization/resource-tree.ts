/**
 * A resource's JSON as the tree of FHIR elements the anonymization rules address (the FHIR
 * Anonymizer walks Firely's ITypedElement tree the same way): every element with its FHIR type,
 * its element name (a choice by its base name: `valueQuantity` is `value`) and where it lives in
 * the JSON, so a method can change or remove it in place.
 */

/** The type of one JSON property of a FHIR type, from the R4 element tables. */
export interface ElementType {
  /** The element as declared; a choice as `value[x]`. */
  element: string;
  /** A FHIR type name, or a backbone path such as `Patient.contact`. */
  type: string;
}

/** Answers the FHIR type of `key` within `type` (a type name or backbone path). */
export type ElementTypeOf = (type: string, key: string) => ElementType | undefined;

/** What a {@link ResourceTree} indexes its nodes by. */
export interface TreeIndexKeys {
  paths: ReadonlySet<string>;
  types: ReadonlySet<string>;
  names: ReadonlySet<string>;
}

export interface TreeNode {
  /** The JSON object holding this element (the parent's value), or undefined for the root. */
  holder: Record<string, unknown> | undefined;
  /** The JSON property name (`valueQuantity`, `birthDate`). */
  key: string;
  /** The position in the property's array, when it is one. */
  index?: number;
  /** The FHIR type: a data type, a primitive, `BackboneElement`, or a resource type. */
  type: string;
  /** The element tables' name of the type, for looking up children (a backbone path too). */
  tableType: string;
  /** The element name as FHIRPath sees it: `value` for `valueQuantity`. */
  name: string;
  /** Element names from the resource root, dotted, without indexes: `address.city`. */
  path: string;
  parent: TreeNode | undefined;
  children: TreeNode[];
  /** A resource inside this one (`contained`, a Bundle entry): not descended into. */
  nestedResource: boolean;
}

const PRIMITIVE = /^[a-z]/;
const UNDERSCORE = '_'.charCodeAt(0);
/** Shared by every primitive node: they have children only through a `_key` sibling. */
const NO_CHILDREN: TreeNode[] = [];

/** What a node takes from its element's definition, worked out once per element. */
interface ElementShape {
  name: string;
  type: string;
  tableType: string;
  primitive: boolean;
  nestedResource: boolean;
}

const shapes = new WeakMap<ElementType, ElementShape>();

function shapeOf(element: ElementType): ElementShape {
  let shape = shapes.get(element);
  if (!shape) {
    const nestedResource = element.type === 'Resource';
    shape = {
      name: element.element.endsWith('[x]') ? element.element.slice(0, -3) : element.element,
      type: element.type.includes('.') ? 'BackboneElement' : element.type,
      tableType: element.type,
      primitive: !nestedResource && PRIMITIVE.test(element.type),
      nestedResource,
    };
    shapes.set(element, shape);
  }
  return shape;
}

export function isPrimitiveType(type: string): boolean {
  return PRIMITIVE.test(type);
}

/** The element's current JSON value. */
export function valueOf(node: TreeNode): unknown {
  if (!node.holder) return undefined;
  const value = node.holder[node.key];
  return node.index === undefined ? value : (value as unknown[] | undefined)?.[node.index];
}

/** Replaces the element's JSON value; undefined marks it removed (pruned afterwards). */
export function setValue(node: TreeNode, value: unknown): void {
  if (!node.holder) return;
  if (node.index === undefined) {
    node.holder[node.key] = value;
  } else {
    (node.holder[node.key] as unknown[])[node.index] = value;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Builds the tree of `resource`, indexed for the rules: nodes by element path, by type and by
 * name. Nested resources (`contained`, `Bundle.entry.resource`, `Parameters.parameter.resource`)
 * appear as single nodes that are not descended into; their own trees are built separately.
 * Properties the element tables do not know are left out (they are kept unchanged).
 */
export class ResourceTree {
  readonly root: TreeNode;
  readonly nodes: TreeNode[] = [];
  readonly byPath = new Map<string, TreeNode[]>();
  readonly byType = new Map<string, TreeNode[]>();
  readonly byName = new Map<string, TreeNode[]>();
  /** Resources nested in this one, to be anonymized on their own. */
  readonly nested: Record<string, unknown>[] = [];

  /**
   * `indexed` names the element paths, types and names rules look up: only those are indexed,
   * since indexing every node three ways costs more than the walk.
   */
  constructor(
    readonly resource: Record<string, unknown>,
    private readonly typeOf: ElementTypeOf,
    private readonly indexed: TreeIndexKeys,
  ) {
    const type = resource.resourceType as string;
    this.root = {
      holder: undefined,
      key: '',
      type,
      tableType: type,
      name: type,
      path: '',
      parent: undefined,
      children: [],
      nestedResource: false,
    };
    this.children(this.root, resource);
  }

  private children(node: TreeNode, value: Record<string, unknown>): void {
    for (const key of Object.keys(value)) {
      if (key === 'resourceType' || key.charCodeAt(0) === UNDERSCORE) continue;
      const element = this.typeOf(node.tableType, key);
      if (!element) continue;
      const shape = shapeOf(element);
      const property = value[key];
      if (Array.isArray(property)) {
        for (let index = 0; index < property.length; index++) {
          this.add(node, value, key, index, shape, property[index]);
        }
      } else {
        this.add(node, value, key, undefined, shape, property);
      }
      // A primitive's id and extensions live in its `_key` sibling.
      if (shape.primitive) {
        const sibling = value[`_${key}`];
        if (sibling !== undefined) this.primitiveSibling(node, value, key, sibling);
      }
    }
  }

  private add(
    parent: TreeNode,
    holder: Record<string, unknown>,
    key: string,
    index: number | undefined,
    shape: ElementShape,
    value: unknown,
  ): void {
    if (value === null || value === undefined) return;
    const node: TreeNode = {
      holder,
      key,
      index,
      type: shape.nestedResource
        ? String((value as Record<string, unknown>).resourceType)
        : shape.type,
      tableType: shape.tableType,
      name: shape.name,
      path: parent.path ? `${parent.path}.${shape.name}` : shape.name,
      parent,
      children: shape.primitive ? NO_CHILDREN : [],
      nestedResource: shape.nestedResource,
    };
    parent.children.push(node);
    this.index(node);
    if (shape.nestedResource) {
      if (isObject(value)) this.nested.push(value);
    } else if (!shape.primitive && isObject(value)) {
      this.children(node, value);
    }
  }

  /** The `id` and `extension` of primitives, under the primitive's own node. */
  private primitiveSibling(
    parent: TreeNode,
    holder: Record<string, unknown>,
    key: string,
    sibling: unknown,
  ): void {
    const primitives = parent.children.filter((c) => c.holder === holder && c.key === key);
    const elements = Array.isArray(sibling) ? sibling : [sibling];
    elements.forEach((element, position) => {
      if (!isObject(element)) return;
      const owner =
        primitives.find((p) => p.index === (Array.isArray(sibling) ? position : undefined)) ??
        parent;
      const extensionNode: TreeNode = {
        holder: undefined,
        key: '',
        type: 'Element',
        tableType: 'Element',
        name: '',
        path: owner.path,
        parent: owner,
        children: [],
        nestedResource: false,
      };
      // The sibling's children hang under the primitive, so rules reaching it reach them.
      this.children(extensionNode, element);
      if (owner.children === NO_CHILDREN) owner.children = [];
      for (const child of extensionNode.children) {
        child.parent = owner;
        owner.children.push(child);
      }
    });
  }

  private index(node: TreeNode): void {
    this.nodes.push(node);
    if (this.indexed.paths.has(node.path)) push(this.byPath, node.path, node);
    if (this.indexed.types.has(node.type)) push(this.byType, node.type, node);
    if (this.indexed.names.has(node.name)) push(this.byName, node.name, node);
  }

  /** Calls `visit` on the node and its descendants, parents first, not into nested resources. */
  static forEachInSubtree(node: TreeNode, visit: (node: TreeNode) => void): void {
    visit(node);
    if (node.nestedResource) return;
    for (const child of node.children) ResourceTree.forEachInSubtree(child, visit);
  }

  /** The node and its descendants, not descending into nested resources, parents first. */
  static subtree(node: TreeNode): TreeNode[] {
    const out: TreeNode[] = [];
    const visit = (n: TreeNode) => {
      out.push(n);
      if (!n.nestedResource) n.children.forEach(visit);
    };
    visit(node);
    return out;
  }
}

function push(map: Map<string, TreeNode[]>, key: string, node: TreeNode): void {
  const list = map.get(key);
  if (list) list.push(node);
  else map.set(key, [node]);
}

/**
 * Removes what the methods removed: undefined and null values, then objects and arrays left
 * empty, bottom-up, with the `_key` siblings of removed primitives. `resourceType` stays.
 * `keys` limits it to those properties (where a method removed something).
 */
export function prune(
  value: Record<string, unknown>,
  keys: Iterable<string> = Object.keys(value),
): void {
  for (const key of keys) {
    if (key === 'resourceType' || !Object.hasOwn(value, key)) continue;
    // An aligned `_key` array is pruned with its primitives (below, when `key` is reached).
    if (key.startsWith('_') && Array.isArray(value[key]) && Array.isArray(value[key.slice(1)])) {
      continue;
    }
    const sibling = `_${key}`;
    if (Array.isArray(value[key]) && Array.isArray(value[sibling])) {
      pruneAligned(value, key, sibling);
      continue;
    }
    const kept = pruned(value[key]);
    if (kept === undefined) delete value[key];
    else value[key] = kept;
  }
}

/** A primitive array and its `_key` array stay index-aligned, with nulls where one is absent. */
function pruneAligned(value: Record<string, unknown>, key: string, sibling: string): void {
  const values = (value[key] as unknown[]).map(pruned);
  const elements = (value[sibling] as unknown[]).map(pruned);
  const kept = [...Array(Math.max(values.length, elements.length)).keys()].filter(
    (i) => values[i] !== undefined || elements[i] !== undefined,
  );
  const column = (items: unknown[]) => kept.map((i) => items[i] ?? null);
  value[key] = column(values);
  value[sibling] = column(elements);
  if ((value[key] as unknown[]).every((v) => v === null)) delete value[key];
  if ((value[sibling] as unknown[]).every((v) => v === null)) delete value[sibling];
}

function pruned(value: unknown): unknown {
  if (value === null || value === undefined) return undefined;
  if (Array.isArray(value)) {
    const items = value.map(pruned).filter((v) => v !== undefined);
    return items.length ? items : undefined;
  }
  if (isObject(value)) {
    if (typeof value.resourceType === 'string') {
      prune(value);
      return value;
    }
    prune(value);
    return Object.keys(value).length ? value : undefined;
  }
  return value;
}
