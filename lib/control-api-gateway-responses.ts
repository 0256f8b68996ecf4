/**
 * The control API's gateway responses: what API Gateway answers itself, before any Lambda runs (bad
 * credentials, throttling, unknown routes, timeouts), rendered in the contract's error envelope
 * (api-contract.md §1.3).
 */
import * as apigw from 'aws-cdk-lib/aws-apigateway';

/** Error envelope of api-contract.md §1.3, rendered by API Gateway itself. */
function envelope(message: string, code: string): string {
  return `{"error":{"requestId":"$context.requestId","message":"${message}","code":"${code}"}}`;
}

/** Answers API Gateway gives before any Lambda runs, in the contract's own terms. */
const GATEWAY_RESPONSES: ReadonlyArray<{
  id: string;
  type: apigw.ResponseType;
  status: string;
  message: string;
  code: string;
}> = [
  { id: 'Unauthorized', type: apigw.ResponseType.UNAUTHORIZED, status: '401', message: 'Unauthorized', code: '401-01' },
  { id: 'AccessDenied', type: apigw.ResponseType.ACCESS_DENIED, status: '403', message: 'Forbidden', code: '403-01' },
  {
    id: 'InvalidApiKey',
    type: apigw.ResponseType.INVALID_API_KEY,
    status: '403',
    message: 'Forbidden',
    code: '403-01',
  },
  { id: 'Throttled', type: apigw.ResponseType.THROTTLED, status: '429', message: 'Too Many Requests', code: '429-01' },
  {
    id: 'QuotaExceeded',
    type: apigw.ResponseType.QUOTA_EXCEEDED,
    status: '429',
    message: 'Too Many Requests',
    code: '429-01',
  },
  // REST APIs answer an unknown route with 403 "Missing Authentication Token": the contract wants a 404.
  {
    id: 'UnknownRoute',
    type: apigw.ResponseType.MISSING_AUTHENTICATION_TOKEN,
    status: '404',
    message: 'Not Found',
    code: '404-01',
  },
  {
    id: 'BadRequestParameters',
    type: apigw.ResponseType.BAD_REQUEST_PARAMETERS,
    status: '400',
    message: 'Bad request',
    code: '400-01',
  },
  {
    id: 'BadRequestBody',
    type: apigw.ResponseType.BAD_REQUEST_BODY,
    status: '400',
    message: 'Bad request',
    code: '400-01',
  },
  {
    id: 'TooLarge',
    type: apigw.ResponseType.REQUEST_TOO_LARGE,
    status: '413',
    message: 'Request Entity Too Large',
    code: '413-01',
  },
  // A request the web ACL blocked (a managed rule, or its address over the per-IP rate): left to DEFAULT_4XX it
  // would read as a 400 the caller caused by its payload.
  { id: 'WafFiltered', type: apigw.ResponseType.WAF_FILTERED, status: '403', message: 'Forbidden', code: '403-01' },
  { id: 'Default4xx', type: apigw.ResponseType.DEFAULT_4XX, status: '400', message: 'Bad request', code: '400-01' },
  {
    id: 'IntegrationTimeout',
    type: apigw.ResponseType.INTEGRATION_TIMEOUT,
    status: '503',
    message: 'Service Unavailable',
    code: '503-01',
  },
  {
    id: 'Default5xx',
    type: apigw.ResponseType.DEFAULT_5XX,
    status: '500',
    message: 'Internal server error',
    code: '500-01',
  },
];

/** Adds every {@link GATEWAY_RESPONSES} entry to `api` (429s also tell the caller to retry after 1 s). */
export function addContractGatewayResponses(api: apigw.RestApi): void {
  for (const r of GATEWAY_RESPONSES) {
    api.addGatewayResponse(r.id, {
      type: r.type,
      statusCode: r.status,
      responseHeaders: {
        'Content-Type': "'application/json'",
        ...(r.status === '429' && { 'Retry-After': "'1'" }),
      },
      templates: { 'application/json': envelope(r.message, r.code) },
    });
  }
}
