/** Security scheme names of the OpenAPI document: a client's access token, or the operator's. */
export const BEARER_SCHEME = 'bearer';
export const OPERATOR_SCHEME = 'operator';
