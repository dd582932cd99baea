import { QueryFailedError } from 'typeorm';
import { dependencyUnavailable, isDependencyUnavailable } from './dependency-unavailable';
import { DependencyTimeoutError, withTimeout } from './with-timeout';

function withCode(code: string, message = 'x'): Error {
  return Object.assign(new Error(message), { code });
}

describe('isDependencyUnavailable', () => {
  it.each([
    ['a refused connection', withCode('ECONNREFUSED')],
    ['a reset connection', withCode('ECONNRESET')],
    ['both addresses of localhost refusing', new AggregateError([withCode('ECONNREFUSED')])],
    ['PostgreSQL shutting down (57P01)', withCode('57P01', 'terminating connection')],
    ['PostgreSQL starting up (57P03)', withCode('57P03')],
    ['a connection exception (08006)', withCode('08006')],
    ['too many connections (53300)', withCode('53300')],
    ['a dead pooled connection', new Error('Connection terminated unexpectedly')],
    ['no pooled connection in time', new Error('timeout exceeded when trying to connect')],
    [
      'TypeORM wrapping a driver error',
      new QueryFailedError('SELECT 1', [], withCode('57P01', 'terminating connection')),
    ],
    ['an error caused by an outage', new Error('wrapped', { cause: withCode('ETIMEDOUT') })],
    ['a bounded wait that ran out', new DependencyTimeoutError('adding took longer than 5 ms')],
  ])('is true for %s', (_label, error) => {
    expect(isDependencyUnavailable(error)).toBe(true);
  });

  it.each([
    ['a unique violation (23505)', withCode('23505')],
    ['a syntax error (42601)', withCode('42601')],
    ['TypeORM wrapping a constraint error', new QueryFailedError('INSERT', [], withCode('23503'))],
    ['a plain bug', new TypeError('cannot read properties of undefined')],
    ['a string', 'ECONNREFUSED'],
    ['null', null],
  ])('is false for %s', (_label, error) => {
    expect(isDependencyUnavailable(error)).toBe(false);
  });

  it('answers 503 with Retry-After and a transient OperationOutcome naming what is down', () => {
    const error = dependencyUnavailable('job queue');
    expect(error.headers).toEqual({ 'Retry-After': '10' });
    expect(error.outcome.issue).toEqual([
      expect.objectContaining({
        code: 'transient',
        diagnostics: expect.stringContaining('job queue'),
      }),
    ]);
  });
});

describe('withTimeout', () => {
  it('gives the work its result when it is in time', async () => {
    await expect(withTimeout(Promise.resolve(7), 1000, 'work')).resolves.toBe(7);
  });

  it('fails with a dependency timeout when the work takes too long, and ignores its late failure', async () => {
    let fail: (error: Error) => void = () => undefined;
    const slow = new Promise<never>((_, reject) => (fail = reject));
    const unhandled = jest.fn();
    process.on('unhandledRejection', unhandled);
    try {
      await expect(withTimeout(slow, 20, 'adding the job')).rejects.toThrow(
        /adding the job took longer than 20 ms/,
      );
      fail(new Error('late'));
      await new Promise((resolve) => setImmediate(resolve));
      expect(unhandled).not.toHaveBeenCalled();
    } finally {
      process.off('unhandledRejection', unhandled);
    }
  });
});
