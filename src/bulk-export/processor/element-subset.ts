/** What subsetting needs to know about a type's elements; `FhirDefinitions` provides it. */
export interface ElementCatalog {
  /** Top-level elements with min >= 1, a choice element as `value[x]`. */
  mandatoryElements(type: string): readonly string[];
  /** Whether `name` (without `[x]`) is a top-level choice element of `type`. */
  isChoiceElement(type: string, name: string): boolean;
}

/**
 * The tag R4 search ("_elements", "_summary") puts on a resource that lacks some of its
 * elements, exactly as the Bulk Data IG writes it for `_elements` (system and code, no
 * display: clients compare the coding as given).
 */
export const SUBSETTED_TAG = Object.freeze({
  system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue',
  code: 'SUBSETTED',
});

/** Kept whatever `_elements` says: a resource without them would not be valid or identifiable. */
const ALWAYS_KEPT = ['resourceType', 'id', 'meta'];

/** Which top-level properties of one type's resources an `_elements` export keeps. */
export class ElementSelection {
  private readonly names: ReadonlySet<string>;
  private readonly choices: ReadonlySet<string>;

  constructor(names: Iterable<string>, choices: Iterable<string>) {
    this.names = new Set(names);
    this.choices = new Set(choices);
  }

  /** `name` is a JSON property: `status`, its primitive extension `_status`, or `valueQuantity`. */
  keeps(name: string): boolean {
    const element = name.startsWith('_') ? name.slice(1) : name;
    if (this.names.has(element)) return true;
    // valueQuantity is the choice `value` with type Quantity; multipleBirthBoolean shows a
    // choice name may itself hold a capital, so every capital is a candidate split.
    for (let i = 1; i < element.length; i++) {
      const c = element[i];
      if (c >= 'A' && c <= 'Z' && this.choices.has(element.slice(0, i))) return true;
    }
    return false;
  }
}

/**
 * The selection `_elements` makes for `type` (Bulk Data IG "Query Parameters", `_elements`):
 * bare names apply to every type, `Type.name` only to that type; `id`, `meta` and the type's
 * mandatory elements are always kept. Undefined when the list says nothing about `type`, which
 * is then exported whole.
 */
export function elementSelection(
  elements: readonly string[] | undefined,
  type: string,
  catalog: ElementCatalog,
): ElementSelection | undefined {
  if (!elements?.length) return undefined;
  const requested: string[] = [];
  for (const element of elements) {
    const dot = element.indexOf('.');
    if (dot < 0) requested.push(element);
    else if (element.slice(0, dot) === type) requested.push(element.slice(dot + 1));
  }
  if (!requested.length) return undefined;
  const names = new Set([...ALWAYS_KEPT, ...requested]);
  const choices = new Set<string>();
  for (const name of requested) {
    if (catalog.isChoiceElement(type, name)) choices.add(name);
  }
  for (const name of catalog.mandatoryElements(type)) {
    if (name.endsWith('[x]')) choices.add(name.slice(0, -3));
    else names.add(name);
  }
  return new ElementSelection(names, choices);
}

interface Meta {
  tag?: unknown[];
  [key: string]: unknown;
}

/**
 * The stored JSON of one resource reduced to the selected top-level elements, in their stored
 * order. A resource that lost an element gets the SUBSETTED tag appended to `meta.tag`; one
 * that had nothing outside the selection is complete and stays untagged.
 */
export function subsetResource(content: string, selection: ElementSelection): string {
  const resource = JSON.parse(content) as Record<string, unknown>;
  const kept: Record<string, unknown> = {};
  let dropped = false;
  for (const [name, value] of Object.entries(resource)) {
    if (selection.keeps(name)) kept[name] = value;
    else dropped = true;
  }
  if (!dropped) return content;
  const meta: Meta = { ...((kept.meta as Meta | undefined) ?? {}) };
  const tags = Array.isArray(meta.tag) ? meta.tag : [];
  const tagged = tags.some(
    (t) =>
      typeof t === 'object' &&
      t !== null &&
      (t as { system?: unknown }).system === SUBSETTED_TAG.system &&
      (t as { code?: unknown }).code === SUBSETTED_TAG.code,
  );
  meta.tag = tagged ? tags : [...tags, { ...SUBSETTED_TAG }];
  if (!('meta' in kept)) {
    // meta comes right after id, where the store writes it.
    return JSON.stringify(withMetaAfterId(kept, meta));
  }
  kept.meta = meta;
  return JSON.stringify(kept);
}

function withMetaAfterId(resource: Record<string, unknown>, meta: Meta): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(resource)) {
    out[name] = value;
    if (name === 'id') out.meta = meta;
  }
  if (!('meta' in out)) out.meta = meta;
  return out;
}
