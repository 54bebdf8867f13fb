/**
 * The TUF target path of the delta that rebuilds the image `targetSha256` from the image
 * `baseSha256`, when the server lists it in metadata it signs with its own online key (the hashed
 * bins) beside an image another role signed (a supplier's role, or top-level targets signed
 * offline). A vehicle knows both digests (the image TUF names, the image its active slot holds),
 * so it looks the delta up by this name; it is one path segment, so no supplier's `<hardware
 * ID>/*` delegation covers it and it resolves through the bins.
 */
export function deltaTargetPath(targetSha256: string, baseSha256: string): string {
  return `delta-${targetSha256.slice(0, 32)}.from-${baseSha256.slice(0, 32)}`;
}
