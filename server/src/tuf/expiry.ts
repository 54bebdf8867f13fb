/** TUF expiry timestamps: ISO 8601 UTC without fractional seconds, as python-tuf and go-tuf expect. */
export function formatExpiry(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function expiryAfter(now: Date, seconds: number): string {
  return formatExpiry(new Date(now.getTime() + seconds * 1000));
}

export function secondsUntil(expires: string, now: Date): number {
  return (Date.parse(expires) - now.getTime()) / 1000;
}
