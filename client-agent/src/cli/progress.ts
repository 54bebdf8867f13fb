/** A one-line download progress bar for a terminal (carriage return, no newline until done). */
export function createProgressBar(
  write: (s: string) => void,
  width = 30,
): (received: number, total: number) => void {
  let lastPercent = -1;
  return (received, total) => {
    const percent = total === 0 ? 100 : Math.floor((received / total) * 100);
    if (percent === lastPercent) return;
    lastPercent = percent;
    const filled = Math.round((percent / 100) * width);
    const mib = (n: number) => (n / 1024 / 1024).toFixed(1);
    write(
      `\r[${'#'.repeat(filled)}${' '.repeat(width - filled)}] ${String(percent).padStart(3)}% ` +
        `${mib(received)}/${mib(total)} MiB${received >= total ? '\n' : ''}`,
    );
  };
}
