/** A reference to a resource on this server, by type and id. */
export interface LocalReference {
  type: string;
  id: string;
  /** Written as an absolute URL rather than `Type/id`. */
  absolute: boolean;
}

// `Type/id`, `Type/id/_history/v`, or either behind an absolute base. Absolute URLs count as
// local whatever their host: the server cannot know its public base URL (it depends on proxies
// and the Host header), and loaders commonly write references to the very server they post to
// in absolute form; missing those would drop data from compartments, searches and Group
// exports. A reference to another server's resource whose id matches a local one is the cost.
const LOCAL_REFERENCE =
  /^(?:(https?:\/\/[^?#]+)\/)?([A-Z][A-Za-z]+)\/([A-Za-z0-9.-]{1,64})(?:\/_history\/[A-Za-z0-9.-]{1,64})?$/;

/**
 * The target of a `Reference.reference` (FHIR R4 references.html#literal); undefined for
 * contained (`#id`), `urn:` and conditional references and anything else.
 */
export function parseLocalReference(reference: string): LocalReference | undefined {
  const m = LOCAL_REFERENCE.exec(reference);
  return m ? { type: m[2], id: m[3], absolute: m[1] !== undefined } : undefined;
}
