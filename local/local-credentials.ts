/**
 * The local stack's credentials (npm start): generated once per data directory into `credentials.json`
 * (mode 0600), and the REST credential set the local API and WebSocket front verify them against.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SCOPES } from '../core/api/credentials';
import { credentialEntry } from '../lambdas/authorizer/hash-secret';

/**
 * Local credentials, generated once per data directory: the gateway's two API keys with their client
 * secrets — `apiKey` (the `api` control policy: transcribed only through start/stop-streaming) and
 * `connectorApiKey` (the `genesys` policy with the Transcription Connector on: transcribed from open to
 * close, transcripts sent back as `event`s; docs/genesys.md "Two control policies") — and three
 * REST API credentials (docs/security.md §3): `apiId` holds every scope (the banner's curl lines, the demo),
 * `controlApiId` only `control` (what a Genesys data action needs), `pageApiId` only `realtime` (the page
 * server mints connect tokens with it and can do nothing else).
 */
export interface LocalCredentials {
  apiKey: string;
  clientSecret: string;
  connectorApiKey: string;
  connectorClientSecret: string;
  apiId: string;
  apiSecret: string;
  controlApiId: string;
  controlApiSecret: string;
  pageApiId: string;
  pageApiSecret: string;
  /** Signs the short-lived WebSocket connect tokens issued by the REST API. */
  realtimeTokenSecret: string;
}

export function localCredentials(dataDir: string): LocalCredentials {
  const file = join(dataDir, 'credentials.json');
  const have = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Partial<LocalCredentials>) : {};
  const creds: LocalCredentials = {
    apiKey: have.apiKey ?? randomBytes(24).toString('base64url'),
    clientSecret: have.clientSecret ?? randomBytes(32).toString('base64'),
    connectorApiKey: have.connectorApiKey ?? randomBytes(24).toString('base64url'),
    connectorClientSecret: have.connectorClientSecret ?? randomBytes(32).toString('base64'),
    apiId: have.apiId ?? `local-${randomBytes(4).toString('hex')}`,
    apiSecret: have.apiSecret ?? randomBytes(24).toString('base64url'),
    controlApiId: have.controlApiId ?? `local-control-${randomBytes(4).toString('hex')}`,
    controlApiSecret: have.controlApiSecret ?? randomBytes(24).toString('base64url'),
    pageApiId: have.pageApiId ?? `local-page-${randomBytes(4).toString('hex')}`,
    pageApiSecret: have.pageApiSecret ?? randomBytes(24).toString('base64url'),
    realtimeTokenSecret: have.realtimeTokenSecret ?? randomBytes(32).toString('base64url'),
  };
  writeFileSync(file, `${JSON.stringify(creds, null, 2)}\n`, { mode: 0o600 });
  return creds;
}

/**
 * The gateway's `AUDIOHOOK_API_KEYS`: the `api`-controlled key (`local`) and the `genesys`-controlled
 * Transcription Connector key (`local-connector`).
 */
export function audiohookKeysJson(creds: LocalCredentials): string {
  return JSON.stringify({
    [creds.apiKey]: { secret: creds.clientSecret, label: 'local' },
    [creds.connectorApiKey]: {
      secret: creds.connectorClientSecret,
      label: 'local-connector',
      control: 'genesys',
      transcriptionConnector: true,
      // Word tokens on the transcript events, as Genesys reads them; tokens need unredacted output. A local
      // choice for the demo and the peer suite: a deployed connector key decides this for itself.
      defaults: { redactionOutput: 'unredacted', detailedToken: true },
    },
  });
}

/** The REST credential set (scrypt-hashed entries with their scopes) as `API_CREDENTIALS_JSON`. */
export async function credentialSetJson(creds: LocalCredentials): Promise<string> {
  return JSON.stringify({
    ...(await credentialEntry({ apiId: creds.apiId, secret: creds.apiSecret, label: 'local', scopes: SCOPES })),
    ...(await credentialEntry({
      apiId: creds.controlApiId,
      secret: creds.controlApiSecret,
      label: 'local-control',
      scopes: ['control'],
    })),
    ...(await credentialEntry({
      apiId: creds.pageApiId,
      secret: creds.pageApiSecret,
      label: 'local-page',
      scopes: ['realtime'],
    })),
  });
}
