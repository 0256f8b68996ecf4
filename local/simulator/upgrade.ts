/**
 * The upgrade of a simulated session: the request headers Genesys sends (§1.2), signed when a client
 * secret is configured (§1.3), and the WebSocket they open.
 */
import WebSocket from 'ws';
import { MAX_TEXT_MESSAGE_CHARS } from '../../core/audiohook/messages';
import { signAudioHookRequest } from '../../core/auth/signature';
import type { Normalized } from './options';

/** Upgrade request headers Genesys sends, before signing (§1.2). */
const USER_AGENT = 'GenesysCloud-AudioHook-Client';
/** The reference signer's signature lifetime (§4.4). */
const SIGNATURE_LIFETIME_SEC = 30;

/** Builds the upgrade headers Genesys sends (§1.2), signed when a client secret is configured (§1.3). */
export function buildUpgradeHeaders(
  o: Pick<Normalized, 'uri' | 'apiKey' | 'clientSecret' | 'sessionId' | 'correlationId' | 'signing'> & {
    organizationId: string;
  },
  nowMs = Date.now(),
): Record<string, string> {
  const headers: Record<string, string> = {
    'User-Agent': USER_AGENT,
    'Audiohook-Organization-Id': o.organizationId,
    'Audiohook-Correlation-Id': o.correlationId,
    'Audiohook-Session-Id': o.sessionId,
    'X-API-KEY': o.apiKey,
  };
  if (o.clientSecret !== undefined) {
    const created = o.signing.created ?? Math.floor(nowMs / 1000);
    const signed = signAudioHookRequest({
      apiKey: o.apiKey,
      clientSecretBase64: o.clientSecret,
      target: `${o.uri.pathname}${o.uri.search}`,
      authority: o.signing.authority ?? o.uri.host,
      organizationId: o.organizationId,
      sessionId: o.sessionId,
      correlationId: o.correlationId,
      created,
      expires: o.signing.expires ?? created + SIGNATURE_LIFETIME_SEC,
      ...(o.signing.nonce !== undefined ? { nonce: o.signing.nonce } : {}),
      ...(o.signing.coverHostInsteadOfAuthority ? { coverHostInsteadOfAuthority: true } : {}),
    });
    headers.Signature = o.signing.tamperSignature ? tamper(signed.signature) : signed.signature;
    headers['Signature-Input'] = signed.signatureInput;
  }
  Object.assign(headers, o.signing.extraHeaders ?? {});
  const omit = new Set((o.signing.omitHeaders ?? []).map((h) => h.toLowerCase()));
  for (const name of Object.keys(headers)) if (omit.has(name.toLowerCase())) delete headers[name];
  return headers;
}

/** Flips the first MAC byte inside `label=:<base64>:` while keeping the header well-formed. */
function tamper(signature: string): string {
  const m = /^([^=]+)=:([^:]*):(.*)$/.exec(signature);
  if (!m) return `${signature}x`;
  const mac = Buffer.from(m[2] as string, 'base64');
  mac[0] = (mac[0] ?? 0) ^ 0xff;
  return `${m[1]}=:${mac.toString('base64')}:${m[3]}`;
}

/** Longest HTTP body of a refused upgrade kept in the result. */
const MAX_HTTP_BODY_CHARS = 4096;

/** What a simulated session hears from its socket. */
export interface SocketListener {
  /** The upgrade was answered with an HTTP status instead of 101. */
  rejected(status: number | undefined): void;
  /** The refused upgrade's body (cut), once read or abandoned; may come more than once. */
  rejectedBody(body: string): void;
  open(): void;
  message(data: Buffer, isBinary: boolean): void;
  error(err: Error): void;
  close(code: number): void;
}

/** Opens the session's WebSocket with the upgrade headers, as Genesys's client does (no compression, no redirects). */
export function connectSocket(
  o: Pick<Normalized, 'uri' | 'openTimeoutMs'>,
  headers: Record<string, string>,
  listener: SocketListener,
): WebSocket {
  const ws = new WebSocket(o.uri, {
    headers,
    perMessageDeflate: false,
    followRedirects: false,
    handshakeTimeout: o.openTimeoutMs,
    // Larger than the protocol limit so an oversized server message is seen and reported as 413 (§6.1).
    maxPayload: 16 * MAX_TEXT_MESSAGE_CHARS * 4,
  });
  ws.on('unexpected-response', (req, res) => {
    listener.rejected(res.statusCode);
    let body = '';
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      if (body.length < MAX_HTTP_BODY_CHARS) body += chunk;
    });
    const end = () => {
      const text = body.slice(0, MAX_HTTP_BODY_CHARS);
      req.destroy();
      listener.rejectedBody(text);
    };
    res.on('end', end);
    res.on('error', end);
    res.on('close', end);
  });
  ws.on('open', () => listener.open());
  ws.on('message', (data, isBinary) => listener.message(data as Buffer, isBinary));
  ws.on('error', (err) => listener.error(err));
  ws.on('close', (code) => listener.close(code));
  return ws;
}
