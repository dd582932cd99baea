import { FhirIssuesException } from './fhir-issues';
import { numberProblem, scanJson } from './fhir-json-body';

const scan = (text: string, depth = 100) => scanJson(Buffer.from(text, 'utf8'), depth);

describe('scanJson', () => {
  it('finds nothing wrong in ordinary JSON, braces and escapes inside strings included', () => {
    expect(
      scan('{"a":"{[\\"\\\\u0000","b":[1,-2.5,1e3,0.1,1.10,{"c":"\\u00e9"}],"d":true,"e":null}'),
    ).toEqual([]);
  });

  it('locates NUL characters in values and in element names', () => {
    expect(
      scan('{"resourceType":"Patient","name":[{"given":["a","b\\u0000"]}],"x\\u0000":1}'),
    ).toEqual([
      { path: 'name[0].given[1]', diagnostics: 'the string contains a NUL character (\\u0000)' },
      { path: 'x\\u0000', diagnostics: 'the element name contains a NUL character (\\u0000)' },
    ]);
  });

  it('locates numbers a double cannot hold exactly', () => {
    expect(
      scan(
        '{"entry":[{},{"resource":{"valueQuantity":{"value":1e400}}}],"n":12345678901234567890}',
      ),
    ).toEqual([
      {
        path: 'entry[1].resource.valueQuantity.value',
        diagnostics: 'the number 1e400 is beyond the range that can be stored exactly',
      },
      {
        path: 'n',
        diagnostics:
          'the number 12345678901234567890 cannot be stored exactly: it would become 12345678901234567000',
      },
    ]);
  });

  it('keeps only the start of a long element name in the paths it reports', () => {
    const key = 'k'.repeat(100_000);
    const problems = scan(`{"${key}":{"${key}":[${Array(100).fill('1e400').join(',')}]}}`);
    expect(problems).toHaveLength(100);
    expect(problems[0].path).toBe(`${'k'.repeat(64)}….${'k'.repeat(64)}…[0]`);
  });

  it('throws at nesting deeper than the limit, before looking further', () => {
    const deep = `{"a":${'['.repeat(10_000)}${']'.repeat(10_000)}}`;
    expect(() => scan(deep)).toThrow(FhirIssuesException);
    expect(() => scan('[[[]]]', 3)).not.toThrow();
    expect(() => scan('[[[[]]]]', 3)).toThrow(/nested deeper than 3 levels/);
  });
});

describe('numberProblem', () => {
  it.each(['0', '-0', '1.5', '1.50', '1e3', '1E-7', '0.000001', '9007199254740991', '123.456e2'])(
    'accepts %s',
    (literal) => expect(numberProblem(literal)).toBeUndefined(),
  );

  it.each(['1e400', '-1e400', '1e-400', '9007199254740993', '0.12345678901234567891'])(
    'refuses %s',
    (literal) => expect(numberProblem(literal)).toEqual(expect.any(String)),
  );
});
