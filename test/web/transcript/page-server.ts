/**
 * The local page server (local/ui-server.ts) for page tests that script the WebSocket API: it serves the
 * real page and answers `config.json` with the scripted API's URL and a fixed token, its token request
 * answered by a stand-in (no REST API runs).
 */
import { DEFAULT_UI_ROOT, startUiServer, type UiServer } from '../../../local/ui-server';

/** Starts the page server on a free loopback port, pointing the page at `websocketUrl`. */
export function startScriptedPageServer(websocketUrl: string): Promise<UiServer> {
  const tokenAnswer: typeof fetch = async () =>
    new Response(JSON.stringify({ token: 'tok', expiresAt: new Date(Date.now() + 300_000).toISOString() }), {
      status: 200,
      headers: { 'content-type': 'application/json' },
    });
  return startUiServer({
    host: '127.0.0.1',
    port: 0,
    apiUrl: 'http://127.0.0.1:9',
    apiId: 'page-test',
    apiSecret: 'page-test-secret',
    websocketUrl,
    root: DEFAULT_UI_ROOT,
    fetch: tokenAnswer,
  });
}
