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
  /** The element names from the resource root (`address.city`), interned. */
  path: PathStep;
  parent: TreeNode | undefined;
  children: TreeNode[];
  /** A resource inside this one (`contained`, a Bundle entry): not descended into. */
  nestedResource: boolean;
}

/** An element path, made once per {@link TreeIndex} rather than once per node. */
export interface PathStep {
  /** Dotted, without indexes: `address.city`; empty for the resource itself. */
  text: string;
  /** Whether a rule looks nodes up by this path. */
  indexed: boolean;
  next: Map<string, PathStep>;
}

/**
 * What trees are indexed by, shared by every tree one engine builds: the keys rules look up,
 * and the element paths met so far.
 */
export class TreeIndex {
  readonly root: PathStep = { text: '', indexed: false, next: new Map() };

  constructor(readonly keys: TreeIndexKeys) {}

  step(from: PathStep, name: string): PathStep {
    let step = from.next.get(name);
    if (!step) {
      const text = from.text ? `${from.text}.${name}` : name;
      step = { text, indexed: this.keys.paths.has(text), next: new Map() };
      from.next.set(name, step);
    }
    return step;
  }
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
    private readonly index: TreeIndex,
  ) {
    const type = resource.resourceType as string;
    this.root = {
      holder: undefined,
      key: '',
      type,
      tableType: type,
      name: type,
      path: index.root,
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
      path: this.index.step(parent.path, shape.name),
      parent,
      children: shape.primitive ? NO_CHILDREN : [],
      nestedResource: shape.nestedResource,
    };
    parent.children.push(node);
    this.indexNode(node);
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

  private indexNode(node: TreeNode): void {
    this.nodes.push(node);
    const { keys } = this.index;
    if (node.path.indexed) push(this.byPath, node.path.text, node);
    if (keys.types.has(node.type)) push(this.byType, node.type, node);
    if (keys.names.has(node.name)) push(this.byName, node.name, node);
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
 * `keys` limits it to those properties (where a method removed something) and their `_key`
 * siblings, which hold the extensions of primitives.
 */
export function prune(value: Record<string, unknown>, keys?: Iterable<string>): void {
  if (keys === undefined) {
    for (const key of Object.keys(value)) pruneProperty(value, key);
    return;
  }
  for (const key of keys) {
    pruneProperty(value, key);
    const sibling = `_${key}`;
    if (Object.hasOwn(value, sibling)) pruneProperty(value, sibling);
  }
}

function pruneProperty(value: Record<string, unknown>, key: string): void {
  if (key === 'resourceType' || !Object.hasOwn(value, key)) return;
  const property = value[key];
  if (Array.isArray(property)) {
    // An aligned `_key` array is pruned with its primitives (when `key` is reached).
    if (key.charCodeAt(0) === UNDERSCORE && Array.isArray(value[key.slice(1)])) return;
    const sibling = `_${key}`;
    if (Array.isArray(value[sibling])) {
      pruneAligned(value, key, sibling);
      return;
    }
  }
  const kept = pruned(property);
  if (kept === undefined) delete value[key];
  else if (kept !== property) value[key] = kept;
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

/** The value with what was removed taken out, in place; undefined when nothing is left. */
function pruned(value: unknown): unknown {
  if (value === null || value === undefined) return undefined;
  if (typeof value !== 'object') return value;
  if (Array.isArray(value)) {
    let kept = 0;
    for (const item of value as unknown[]) {
      const rest = pruned(item);
      if (rest !== undefined) value[kept++] = rest;
    }
    value.length = kept;
    return kept > 0 ? value : undefined;
  }
  const object = value as Record<string, unknown>;
  prune(object);
  return typeof object.resourceType === 'string' || hasProperties(object) ? object : undefined;
}

function hasProperties(object: Record<string, unknown>): boolean {
  for (const key in object) if (Object.hasOwn(object, key)) return true;
  return false;
}
