// One polite aria-live region for the whole page: status changes are
// announced there instead of in many noisy live regions.
type Listener = (msg: string) => void;
let listener: Listener | null = null;

export function onAnnounce(fn: Listener | null): void {
  listener = fn;
}

export function announce(msg: string): void {
  listener?.(msg);
}
