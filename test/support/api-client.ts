/** Calls a running daemon's HTTP API with its bearer token, as the control plane does. */
export type ApiCall = (method: string, route: string, body?: unknown) => Promise<{ status: number; json: Record<string, unknown> }>;

/** `base` is read at each call: tests learn the daemon's address only once it listens. */
export function apiClient(base: () => string, token: string): ApiCall {
  return async (method, route, body) => {
    const res = await fetch(`${base()}${route}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, json: (await res.json()) as Record<string, unknown> };
  };
}
