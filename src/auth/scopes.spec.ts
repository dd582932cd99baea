import { allows, formatScope, grantScopes, parseScope, parseScopes, ScopeError } from './scopes';

const TYPES = new Set(['Patient', 'Observation', 'Group']);
const isType = (t: string) => TYPES.has(t);
const parse = (text: string) => parseScopes(text, isType);
const grant = (requested: string, registered: string) =>
  grantScopes(parse(requested), parse(registered));

describe('parseScope', () => {
  it.each([
    ['system/*.read', '*', ['r', 's']],
    ['system/Patient.read', 'Patient', ['r', 's']],
    ['system/*.write', '*', ['c', 'u', 'd']],
    ['system/*.*', '*', ['c', 'r', 'u', 'd', 's']],
    ['system/*.rs', '*', ['r', 's']],
    ['system/Observation.rs', 'Observation', ['r', 's']],
    ['system/*.cruds', '*', ['c', 'r', 'u', 'd', 's']],
    ['system/Group.r', 'Group', ['r']],
  ])('reads %s', (text, type, permissions) => {
    const scope = parseScope(text, isType);
    expect(scope.resourceType).toBe(type);
    expect([...scope.permissions].sort()).toEqual([...permissions].sort());
  });

  it.each([
    ['system/*.readwrite', /unknown action "readwrite"/],
    ['system/*.sr', /unknown action "sr".*in that order/],
    ['system/*.rr', /unknown action "rr"/],
    ['system/*.x', /unknown action "x"/],
    ['system/Patient.', /not of the form/],
    ['system/Unicorn.read', /Unicorn is not a FHIR R4 resource type/],
    ['patient/*.read', /only system\/ scopes/],
    ['user/Patient.rs', /only system\/ scopes/],
    ['launch', /not of the form/],
    ['openid', /not of the form/],
    ['system/Observation.rs?category=laboratory', /scope parameters/],
  ])('refuses %s', (text, message) => {
    expect(() => parseScope(text, isType)).toThrow(ScopeError);
    expect(() => parseScope(text, isType)).toThrow(message);
  });

  it('drops repeated scopes and extra spaces', () => {
    expect(parse('  system/*.read   system/*.read ')).toHaveLength(1);
  });
});

describe('formatScope', () => {
  it('keeps v1 form when the permissions fit a v1 action, else writes v2 letters', () => {
    expect(formatScope(parseScope('system/*.read', isType))).toBe('system/*.read');
    expect(formatScope({ resourceType: '*', permissions: new Set(['r']), version: 1 })).toBe(
      'system/*.r',
    );
    expect(formatScope(parseScope('system/Patient.cruds', isType))).toBe('system/Patient.cruds');
  });
});

describe('grantScopes', () => {
  it('grants what is asked when the registration covers it', () => {
    expect(grant('system/Patient.read', 'system/*.read')).toEqual(['system/Patient.read']);
    expect(grant('system/*.rs', 'system/*.cruds')).toEqual(['system/*.rs']);
  });

  it('narrows a wildcard request to the registered types', () => {
    expect(grant('system/*.read', 'system/Patient.read system/Observation.rs')).toEqual([
      'system/Patient.read',
      'system/Observation.read',
    ]);
  });

  it('narrows permissions: *.* against a read registration is a read', () => {
    expect(grant('system/*.*', 'system/*.read')).toEqual(['system/*.read']);
    expect(grant('system/*.cruds', 'system/*.read')).toEqual(['system/*.rs']);
  });

  it('grants nothing for a write the registration does not allow', () => {
    expect(grant('system/*.write', 'system/*.read')).toEqual([]);
    expect(grant('system/Patient.read', 'system/Observation.read')).toEqual([]);
  });

  it('keeps the granted part of a mixed request', () => {
    expect(grant('system/Patient.read system/Patient.write', 'system/Patient.rs')).toEqual([
      'system/Patient.read',
    ]);
  });

  it('leaves out scopes another granted scope covers', () => {
    expect(grant('system/*.read', 'system/*.read system/Observation.cruds')).toEqual([
      'system/*.read',
    ]);
    expect(grant('system/Patient.rs system/*.rs system/*.read', 'system/*.*')).toEqual([
      'system/*.rs',
    ]);
  });

  it('mixes v1 and v2 registrations', () => {
    expect(grant('system/Observation.r', 'system/*.read')).toEqual(['system/Observation.r']);
    expect(grant('system/*.write', 'system/*.cud')).toEqual(['system/*.write']);
  });
});

describe('allows', () => {
  it('answers per type and permission', () => {
    const scopes = parse('system/Patient.rs system/*.c');
    expect(allows(scopes, 'Patient', 'r')).toBe(true);
    expect(allows(scopes, 'Observation', 'r')).toBe(false);
    expect(allows(scopes, 'Observation', 'c')).toBe(true);
    expect(allows(scopes, 'Patient', 'd')).toBe(false);
  });
});
