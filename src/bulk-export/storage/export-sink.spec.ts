import {
  assertSafeLocation,
  defaultContainerName,
  folderPrefix,
  isValidContainerName,
} from './export-sink';

const jobId = '3f2a9c4e-1b7d-4e8f-9a0b-5c6d7e8f9a0b';
const at = new Date('2026-11-26T04:05:00.789Z');

describe('defaultContainerName', () => {
  it('names the container from the UTC timestamp and the hex of the job id', () => {
    expect(defaultContainerName(jobId, at)).toBe(
      'export-20261126t040500-3f2a9c4e1b7d4e8f9a0b5c6d7e8f9a0b',
    );
  });

  it('always yields a valid container name, whatever the job id looks like', () => {
    for (const id of [jobId, 'ABC_def', '--', 'x'.repeat(200)]) {
      expect(isValidContainerName(defaultContainerName(id, at))).toBe(true);
    }
  });
});

describe('folderPrefix', () => {
  it('names the folder from the UTC timestamp and the job id', () => {
    expect(folderPrefix(jobId, at)).toBe(`20261126T040500-${jobId}/`);
  });
});

describe('isValidContainerName', () => {
  it.each(['abc', 'my-exports', 'a1-b2-c3', 'x'.repeat(63)])('accepts %s', (name) => {
    expect(isValidContainerName(name)).toBe(true);
  });

  it.each([
    'ab',
    'x'.repeat(64),
    'My-Exports',
    '-abc',
    'abc-',
    'a--b',
    'a_b',
    'a.b',
    '../etc',
    'a/b',
    'a%2Fb',
    '',
  ])('rejects %j', (name) => {
    expect(isValidContainerName(name)).toBe(false);
  });
});

describe('assertSafeLocation', () => {
  it('accepts the two layouts exports use', () => {
    expect(() =>
      assertSafeLocation({ container: 'abc', prefix: '' }, 'Patient-1.ndjson'),
    ).not.toThrow();
    expect(() =>
      assertSafeLocation({ container: 'abc', prefix: folderPrefix(jobId, at) }, 'Patient-1.ndjson'),
    ).not.toThrow();
  });

  it.each([
    [{ container: '..', prefix: '' }, 'Patient-1.ndjson'],
    [{ container: 'abc', prefix: '../' }, 'Patient-1.ndjson'],
    [{ container: 'abc', prefix: 'a/../../' }, 'Patient-1.ndjson'],
    [{ container: 'abc', prefix: 'no-slash' }, 'Patient-1.ndjson'],
    [{ container: 'abc', prefix: '/abs/' }, 'Patient-1.ndjson'],
    [{ container: 'abc', prefix: '' }, '../Patient-1.ndjson'],
    [{ container: 'abc', prefix: '' }, '..'],
  ])('rejects %j with %s', (location, fileName) => {
    expect(() => assertSafeLocation(location, fileName)).toThrow(/Invalid export/);
  });
});
