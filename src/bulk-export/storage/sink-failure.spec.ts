import { RestError } from '@azure/storage-blob';
import { AzureBlobSink } from './azure-blob.sink';
import { FilesystemSink } from './filesystem.sink';

/** An error as node's fs (or net) module makes it. */
function errno(code: string, syscall: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: ${syscall}`), { code, syscall });
}

describe('FilesystemSink.failure', () => {
  const sink = new FilesystemSink({ root: '/nonexistent-export-root' });

  it.each([
    ['a full disk', errno('ENOSPC', 'write'), { transient: true, detail: 'ENOSPC on write' }],
    [
      'a stale NFS handle',
      errno('ESTALE', 'fsync'),
      { transient: true, detail: 'ESTALE on fsync' },
    ],
    [
      'a refused permission',
      errno('EACCES', 'open'),
      { transient: false, detail: 'EACCES on open' },
    ],
    [
      'a read-only file system',
      errno('EROFS', 'mkdir'),
      { transient: false, detail: 'EROFS on mkdir' },
    ],
  ])('claims %s, saying whether it can pass', (_what, error, expected) => {
    expect(sink.failure(error)).toEqual(expected);
  });

  it.each([
    ["PostgreSQL's connection reset on a socket read", errno('ECONNRESET', 'read')],
    ['a broken pipe to a socket', errno('EPIPE', 'write')],
    ['a refused connection', errno('ECONNREFUSED', 'connect')],
    ['an error without errno fields', new Error('boom')],
    ['a non-error', 'boom'],
  ])('leaves %s to others', (_what, error) => {
    expect(sink.failure(error)).toBeUndefined();
  });
});

describe('AzureBlobSink.failure', () => {
  const sink = new AzureBlobSink({
    account: {
      connectionString:
        'DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;' +
        'AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;' +
        'BlobEndpoint=http://127.0.0.1:1/devstoreaccount1;',
    },
  });
  const abort = Object.assign(new Error('The operation was aborted.'), { name: 'AbortError' });

  it.each([
    [
      '503 ServerBusy',
      new RestError('busy', { statusCode: 503, code: 'ServerBusy' }),
      true,
      '503 ServerBusy',
    ],
    ['429', new RestError('slow down', { statusCode: 429 }), true, '429'],
    ['no answer', new RestError('socket hang up', { code: 'ECONNRESET' }), true, 'ECONNRESET'],
    ['a call past its time limit', abort, true, 'request timed out'],
    [
      '403',
      new RestError('no', { statusCode: 403, code: 'AuthorizationFailure' }),
      false,
      '403 AuthorizationFailure',
    ],
    [
      '409',
      new RestError('conflict', { statusCode: 409, code: 'ContainerBeingDeleted' }),
      false,
      '409 ContainerBeingDeleted',
    ],
  ])('claims %s, saying whether it can pass', (_what, error, transient, detail) => {
    expect(sink.failure(error)).toEqual({ transient, detail });
  });

  it('leaves errors that are not storage responses to others', () => {
    expect(sink.failure(new Error('Connection terminated unexpectedly'))).toBeUndefined();
    expect(sink.failure(errno('ECONNRESET', 'read'))).toBeUndefined();
  });
});
