/** A wait on a dependency that ran out; `code` lets it read as an outage (503), like a socket timeout. */
export class DependencyTimeoutError extends Error {
  readonly code = 'ETIMEDOUT';
}

/**
 * `work`, or a {@link DependencyTimeoutError} once `ms` have passed. The work itself goes on
 * (a promise cannot be cancelled); its later failure is ignored rather than left unhandled.
 */
export async function withTimeout<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new DependencyTimeoutError(`${what} took longer than ${ms} ms`)),
      ms,
    );
  });
  work.catch(() => undefined);
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
