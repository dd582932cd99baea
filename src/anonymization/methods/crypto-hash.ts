import { createHmac } from 'node:crypto';

/** A literal reference cut around the id that `cryptoHashReference` replaces. */
export interface ReferenceParts {
  prefix: string;
  id: string;
  suffix: string;
}

const INTERNAL_PREFIX = '#';
const HISTORY = '/_history/';
const ID = /^[A-Za-z0-9\-.]{1,64}$/;
// Upstream's base-URL class: no `-` or `_`, so a hyphenated host fails it and the whole
// reference is hashed, as in the reference implementation. The backslash is upstream's too.
const BASE_URL = /^https?:\/\/[A-Za-z0-9\\/.:%$]*$/;
const OID = /^(urn:oid:)([0-2](?:\.(?:0|[1-9][0-9]*))+)$/;
const UUID =
  /^(urn:uuid:)([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$/;
// Above any resource type name (R4's longest, MedicinalProductUndesirableEffect, has 33
// letters); bounds the work on long runs of letters.
const MAX_TYPE_LENGTH = 64;

/**
 * HMAC-SHA256 of the UTF-8 value keyed with the UTF-8 key, as lowercase hex (FHIR Anonymizer
 * `cryptoHash`, docs/anonymization.md §2.4). The empty string is returned unchanged.
 */
export function cryptoHash(value: string, key: string): string {
  if (value === '') return value;
  return createHmac('sha256', Buffer.from(key, 'utf8')).update(value, 'utf8').digest('hex');
}

/**
 * `cryptoHash` for a `Reference.reference` (upstream `ReferenceUtility.TransformReferenceId`):
 * only the id of a `#id`, `[base/]Type/id[/_history/vid]`, `urn:oid:` or `urn:uuid:` reference
 * is hashed, so references keep matching hashed `Resource.id`s; anything else is hashed whole.
 */
export function cryptoHashReference(
  reference: string,
  key: string,
  isResourceType: (type: string) => boolean,
): string {
  if (reference === '') return reference;
  const parts = splitReference(reference, isResourceType);
  return parts
    ? `${parts.prefix}${cryptoHash(parts.id, key)}${parts.suffix}`
    : cryptoHash(reference, key);
}

/**
 * Cuts a reference around its id as upstream's reference regexes do; undefined when none of
 * them matches (the caller then transforms the whole value).
 */
export function splitReference(
  reference: string,
  isResourceType: (type: string) => boolean,
): ReferenceParts | undefined {
  if (reference.startsWith(INTERNAL_PREFIX)) {
    return { prefix: INTERNAL_PREFIX, id: reference.slice(INTERNAL_PREFIX.length), suffix: '' };
  }
  const literal = splitLiteral(reference, isResourceType);
  if (literal) return literal;
  for (const pattern of [OID, UUID]) {
    const m = pattern.exec(reference);
    if (m) return { prefix: m[1], id: m[2], suffix: '' };
  }
  return undefined;
}

/**
 * Upstream matches `^(base)?(Type)/(id)(/_history/vid)?$` with every resource type spelled
 * out; its greedy base makes the id the last segment when that parses, the one before
 * `/_history/vid` otherwise, and any tail of the letters before `/id` may be the type. Done by
 * hand here so a long value costs linear time.
 */
function splitLiteral(
  reference: string,
  isResourceType: (type: string) => boolean,
): ReferenceParts | undefined {
  const history = reference.lastIndexOf(HISTORY);
  const candidates: [string, string][] = [[reference, '']];
  if (history >= 0 && ID.test(reference.slice(history + HISTORY.length))) {
    candidates.push([reference.slice(0, history), reference.slice(history)]);
  }
  for (const [body, suffix] of candidates) {
    const slash = body.lastIndexOf('/');
    const id = body.slice(slash + 1);
    if (slash < 0 || !ID.test(id)) continue;
    let lettersStart = slash;
    while (lettersStart > 0 && isAsciiLetter(body.charCodeAt(lettersStart - 1))) lettersStart--;
    const first = Math.max(lettersStart, slash - MAX_TYPE_LENGTH);
    for (let typeStart = first; typeStart < slash; typeStart++) {
      const base = body.slice(0, typeStart);
      if (isResourceType(body.slice(typeStart, slash)) && (base === '' || BASE_URL.test(base))) {
        return { prefix: body.slice(0, slash + 1), id, suffix };
      }
    }
  }
  return undefined;
}

function isAsciiLetter(code: number): boolean {
  return (code >= 65 && code <= 90) || (code >= 97 && code <= 122);
}
