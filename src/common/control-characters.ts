/**
 * C0 control characters other than tab, line feed and carriage return: FHIR's `string` allows
 * none of them, and PostgreSQL refuses NUL in `text` and `jsonb` outright (a 500 once it is
 * there), so input carrying one is refused where it arrives.
 */
// eslint-disable-next-line no-control-regex
export const CONTROL_CHARACTER = /[\u0000-\u0008\u000B\u000C\u000E-\u001F]/;

/**
 * A UTF-16 surrogate without its pair: not Unicode text. PostgreSQL's `jsonb` refuses it, and
 * encoding to UTF-8 silently replaces it with U+FFFD, so it is refused rather than changed.
 */
export const UNPAIRED_SURROGATE =
  /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Whether `text` holds a character no stored or echoed text may hold (see above). */
export function isUnstorableText(text: string): boolean {
  return CONTROL_CHARACTER.test(text) || UNPAIRED_SURROGATE.test(text);
}

/** Whether `value`, or any string, key or element inside it, is {@link isUnstorableText}. */
export function containsUnstorableText(value: unknown, depth = 0): boolean {
  if (typeof value === 'string') return isUnstorableText(value);
  if (typeof value !== 'object' || value === null || depth > 64) return false;
  if (Array.isArray(value)) return value.some((v) => containsUnstorableText(v, depth + 1));
  return Object.entries(value).some(
    ([key, v]) => isUnstorableText(key) || containsUnstorableText(v, depth + 1),
  );
}
