import type { Request } from 'express';
import { AppConfig } from '../config/app-config';

/**
 * The server's base URL (FHIR RESTful API "Service Base URL"), without a trailing slash:
 * PUBLIC_BASE_URL when configured, else the request's protocol and host. Express honours
 * X-Forwarded-Proto and X-Forwarded-Host because the app sets `trust proxy`.
 */
export function baseUrlOf(req: Request, config: Pick<AppConfig, 'PUBLIC_BASE_URL'>): string {
  if (config.PUBLIC_BASE_URL) return config.PUBLIC_BASE_URL;
  return `${req.protocol}://${req.host}`;
}
