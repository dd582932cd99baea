import type { NextFunction, Request, Response } from 'express';
import { maxHeaderSize, STATUS_CODES, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { FHIR_JSON } from './fhir-content-types';
import { IssueType, operationOutcome } from './operation-outcome';

/**
 * The longest request-target (path and query) the server reads, in bytes. RFC 9110 (4.1)
 * recommends supporting at least 8000 octets; 8 KiB is what common proxies take too. Longer
 * searches belong in `POST [type]/_search`, longer kick-offs in `POST $export`.
 */
export const MAX_URI_LENGTH = 8192;

function uriTooLongMessage(length: number): string {
  return (
    `The request URI has ${length} bytes; the limit is ${MAX_URI_LENGTH}. ` +
    'Send search parameters in a POST _search form body, or $export parameters in a POST Parameters body'
  );
}

/** 414 URI Too Long (RFC 9110, 15.5.15) with an OperationOutcome, before any route runs. */
export function uriLengthLimit() {
  return (req: Request, res: Response, next: NextFunction): void => {
    const length = Buffer.byteLength(req.originalUrl);
    if (length <= MAX_URI_LENGTH) {
      next();
      return;
    }
    res
      .status(414)
      .type(FHIR_JSON)
      .send(JSON.stringify(operationOutcome('error', 'too-long', uriTooLongMessage(length))));
  };
}

/** A whole HTTP/1.1 response, for a socket whose request the parser refused. */
function rawResponse(status: number, code: IssueType, diagnostics: string): string {
  const body = JSON.stringify(operationOutcome('error', code, diagnostics));
  return (
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n` +
    `Content-Type: ${FHIR_JSON}; charset=utf-8\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\n` +
    'Connection: close\r\n\r\n' +
    body
  );
}

/**
 * The length of the request line when the packet the parser refused shows it is longer than
 * {@link MAX_URI_LENGTH} (the first packet of a request, its line unfinished or too long).
 */
function overlongRequestLine(packet: Buffer | undefined): number | undefined {
  if (!packet || !/^[A-Z]+ \S/.test(packet.subarray(0, 16).toString('latin1'))) return undefined;
  const end = packet.indexOf('\r\n');
  const lineLength = end < 0 ? packet.length : end;
  return lineLength > MAX_URI_LENGTH ? lineLength : undefined;
}

function responseFor(error: NodeJS.ErrnoException & { rawPacket?: Buffer }): string {
  switch (error.code ?? '') {
    case 'HPE_HEADER_OVERFLOW': {
      const line = overlongRequestLine(error.rawPacket);
      return line !== undefined
        ? rawResponse(414, 'too-long', uriTooLongMessage(line))
        : rawResponse(
            431,
            'too-long',
            `The request line and headers together exceed the ${maxHeaderSize} bytes the server reads`,
          );
    }
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return rawResponse(413, 'too-long', 'The chunk extensions of the request body are too long');
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return rawResponse(408, 'timeout', 'The request was not received in time');
    default:
      return rawResponse(
        400,
        'structure',
        `Malformed HTTP request (${error.code ?? error.message})`,
      );
  }
}

/**
 * Answers what Node's HTTP parser refuses before Express sees it (a request line plus headers
 * over `maxHeaderSize`, a malformed request, a request timeout) with the status Node would
 * send, or 414 for an overlong URI, and an OperationOutcome body instead of an empty one.
 */
export function answerClientErrors(server: Server): void {
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
    // Already answered (its response still flushing) or gone: nothing more to say, but the
    // socket must not linger (Node has turned its timeout off by now).
    if (error.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    // A response in flight on this connection that has begun cannot be followed by another.
    const inFlight = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    if (inFlight?.headersSent) {
      socket.destroy();
      return;
    }
    // Closed once written: a client that never closes its side must not hold the descriptor.
    socket.end(responseFor(error), () => socket.destroy());
  });
}
