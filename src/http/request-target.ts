/**
 * The request target (RFC 9112 §3.2) as a URL whose path and query windock may read, or
 * undefined when it is not one windock serves. `new URL(target, base)` is not enough: an
 * origin-form target such as `//x:99999/` reads as a scheme-relative authority and throws
 * (an invalid port), and so would any other target a client makes up. Pure and total.
 */

/** A placeholder origin: the host part is never used (Host is client-controlled). */
const PLACEHOLDER_ORIGIN = 'http://request.invalid';

export function parseRequestTarget(target: string | undefined): URL | undefined {
  const raw = target ?? '/';
  try {
    // origin-form: an absolute path and an optional query. Prefixing the placeholder origin
    // keeps a leading `//` in the path instead of making it an authority.
    if (raw.startsWith('/')) return new URL(`${PLACEHOLDER_ORIGIN}${raw}`);
    // absolute-form (§3.2.2, which a server must accept): only its path and query count.
    if (/^https?:\/\//i.test(raw)) {
      const url = new URL(raw);
      return new URL(`${PLACEHOLDER_ORIGIN}${url.pathname}${url.search}`);
    }
  } catch {
    return undefined;
  }
  // asterisk-form (OPTIONS *), authority-form (CONNECT) and anything else: not a resource here.
  return undefined;
}
