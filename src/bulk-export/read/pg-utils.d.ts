// pg's own conversion of a bind value to its text form (`pg/lib/utils`, untyped by @types/pg).
declare module 'pg/lib/utils' {
  export function prepareValue(value: unknown): unknown;
}
