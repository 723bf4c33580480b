/**
 * How settings are shown (`windock config`, the start-up log line): secrets are replaced, and a
 * URL keeps its scheme, host and path but loses its user info and query (signed download links
 * and basic-auth credentials live there). One function, so both places show the same text.
 */
export const REDACTED = '[redacted]';

/**
 * `https://user:pass@host/a/b.iso?sig=x#y` → `https://[redacted]@host/a/b.iso?[redacted]#[redacted]`.
 * Text that is not a `scheme://` URL is returned unchanged (a local path has nothing to hide).
 * Regular expression rather than `new URL`: the text shown stays what the user wrote (no
 * normalisation), and a malformed URL is redacted too instead of being echoed whole.
 */
export function redactUrl(text: string): string {
  const match = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#]*)([^?#]*)(\?[^#]*)?(#.*)?$/is.exec(text);
  if (!match) return text;
  const [, scheme = '', authority = '', path = '', query, fragment] = match;
  const at = authority.lastIndexOf('@');
  const host = at >= 0 ? `${REDACTED}@${authority.slice(at + 1)}` : authority;
  return `${scheme}${host}${path}${query ? `?${REDACTED}` : ''}${fragment ? `#${REDACTED}` : ''}`;
}
