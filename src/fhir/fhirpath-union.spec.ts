import { splitUnion } from './fhirpath-union';

describe('splitUnion', () => {
  it('splits at top-level bars only', () => {
    expect(
      splitUnion("A.b | (A.c as Reference) | A.d.where(e = 'x|y') | A.f.where(g | h)"),
    ).toEqual(['A.b', '(A.c as Reference)', "A.d.where(e = 'x|y')", 'A.f.where(g | h)']);
  });
});
