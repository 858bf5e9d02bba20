// The portal's one door to the server: the REST API (docs/rest-api.md) with the session cookie
// the browser holds (HttpOnly: scripts never see it) and the CSRF token the sign-in returned,
// sent on every request that changes something. A 401 ReauthRequired asks for the password again
// (the app shows the prompt) and retries once; a 401 SessionExpired signs the page out.

export interface Account {
  name: string;
  role: string;
  groups?: string[];
  regions?: string[];
}

export interface Session {
  account: Account;
  rights: string[];
  session: string;
  cosigner: string | null;
  csrfToken: string;
  idleTimeoutSeconds: number;
  expiresInSeconds: number;
  reauthSeconds: number;
  playbackReasonRequired: boolean;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly errorId: string,
    message: string,
  ) {
    super(message);
  }
}

let csrf = '';
// Set by the app: asks the user for their password; resolves false when they cancel.
let askPassword: (() => Promise<boolean>) | null = null;
let onSignedOut: (() => void) | null = null;

export function setSession(s: Session | null): void {
  csrf = s ? s.csrfToken : '';
}
export function onReauthNeeded(f: () => Promise<boolean>): void {
  askPassword = f;
}
export function onSessionEnded(f: () => void): void {
  onSignedOut = f;
}

async function send(method: string, path: string, body?: unknown): Promise<Response> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && method !== 'HEAD') headers['X-CSRF-Token'] = csrf;
  return fetch(path, {
    method,
    headers,
    credentials: 'same-origin',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

async function error(res: Response): Promise<ApiError> {
  let id = 'Error';
  let message = `${res.status} ${res.statusText}`;
  try {
    const j = await res.json();
    if (j && j.error) {
      id = j.error.errorId ?? id;
      message = j.error.message ?? message;
    }
  } catch {
    /* not JSON: the status line says it */
  }
  return new ApiError(res.status, id, message);
}

// A request that succeeded: a 401 ReauthRequired asks for the password and tries once more, a
// 401 SessionExpired signs the page out; any other failure throws ApiError.
async function checked(method: string, path: string, body?: unknown): Promise<Response> {
  let res = await send(method, path, body);
  if (res.status === 401) {
    const e = await error(res);
    if (e.errorId === 'ReauthRequired' && askPassword && (await askPassword())) {
      res = await send(method, path, body);
    } else {
      if (e.errorId === 'SessionExpired' && onSignedOut) onSignedOut();
      throw e;
    }
  }
  if (!res.ok) throw await error(res);
  return res;
}

// A JSON request; throws ApiError with the server's message.
export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  return (await (await checked(method, path, body)).json()) as T;
}

// A download the browser saves (an export package): fetched with the session, then offered.
export async function download(method: string, path: string, filename: string): Promise<number> {
  const blob = await (await checked(method, path)).blob();
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = filename;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 10000);
  return blob.size;
}

export function query(params: Record<string, string | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v) q.set(k, v);
  const s = q.toString();
  return s ? '?' + s : '';
}
