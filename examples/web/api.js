// How the app talks to authql: POST /graphql with a JSON body. The session travels as the
// HttpOnly cookie that authenticate sets (credentials: 'same-origin'); this code never asks
// for the token nor stores it, and script cannot read the cookie, so an injected script
// could not carry the session away. The server honours the cookie only on JSON POSTs (its
// CSRF rule), which is what every call here is.
//
// It asks for `application/json`, GraphQL over HTTP's legacy media type: authql then answers
// every well-formed request 200, a document it refuses included (its `errors` and no
// `data`), except 503 while the database is unreachable; a malformed request is 400. The code
// below never goes by the status alone: a body with `errors` is shown as the server's
// message whatever the status, and a body that is not JSON (a proxy's error page) as the
// status. Under `application/graphql-response+json` it would work unchanged: only a refused
// document's status (400) would differ.

/** The signed-in person's fields every page shows. */
export const USER_FIELDS = 'id email role emailVerified firstName lastName';

/** What every sign-in mutation asks for: the session's outcome or the ticket of a second step. */
export const AUTH_RESULT_FIELDS = `success error location mfaTicket mfaMethods user { ${USER_FIELDS} }`;

/** A failure to show the person: a GraphQL error, or the server being unreachable. */
export class ApiError extends Error {
  constructor(message, { code = null, retryAfter = null, missingField = null } = {}) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    this.retryAfter = retryAfter;
    // Set when the server's schema has no such field: a feature this server does not offer yet.
    this.missingField = missingField;
  }
}

const UNKNOWN_FIELD = /^Unknown field "(\w+)" on type "\w+"/;

/**
 * Runs one GraphQL operation and returns its `data`. Throws ApiError with the server's own
 * message. `feature` names what the operation is for, so a server that lacks the field can
 * be reported as "does not offer <feature>" instead of a schema error.
 */
export async function gql(query, variables = {}, { feature = null } = {}) {
  let response;
  try {
    response = await fetch('/graphql', {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ query, variables }),
    });
  } catch {
    throw new ApiError('The server cannot be reached. Check your connection and try again.', { code: 'NETWORK' });
  }
  let body;
  try {
    body = await response.json();
  } catch {
    throw new ApiError(`The server answered ${response.status} ${response.statusText} instead of a GraphQL result.`, {
      code: 'HTTP',
    });
  }
  const error = body.errors?.[0];
  if (error) {
    const code = error.extensions?.code ?? null;
    const unknown = UNKNOWN_FIELD.exec(error.message ?? '');
    if (unknown) {
      const what = feature ?? `\`${unknown[1]}\``;
      throw new ApiError(
        `This server does not offer ${what} yet (its GraphQL API has no \`${unknown[1]}\` field).`,
        { code, missingField: unknown[1] },
      );
    }
    const retryAfter = error.extensions?.retryAfter ?? null;
    let message = error.message || 'The server refused the request.';
    if (code === 'RATE_LIMITED' && retryAfter != null) {
      message += ` Try again in ${formatWait(retryAfter)}.`;
    }
    throw new ApiError(message, { code, retryAfter });
  }
  if (!response.ok || body.data == null) {
    throw new ApiError(`The server answered ${response.status} ${response.statusText}.`, { code: 'HTTP' });
  }
  return body.data;
}

function formatWait(seconds) {
  if (seconds < 90) return `${Math.max(1, Math.round(seconds))} seconds`;
  return `${Math.ceil(seconds / 60)} minutes`;
}
