// A minimal path router: the api serves index.html for every non-/v1 path,
// so /history and /files/{id} are real, shareable URLs.
import { useEffect, useState, type AnchorHTMLAttributes, type MouseEvent } from 'react';

export type Route = { page: 'upload' } | { page: 'history'; q: string } | { page: 'file'; id: string };

export function parse(loc: { pathname: string; search: string }): Route {
  const m = /^\/files\/([^/]+)\/?$/.exec(loc.pathname);
  if (m) return { page: 'file', id: decodeURIComponent(m[1]) };
  if (/^\/history\/?$/.test(loc.pathname)) return { page: 'history', q: new URLSearchParams(loc.search).get('q') ?? '' };
  return { page: 'upload' };
}

const listeners = new Set<() => void>();

export function navigate(to: string, replace = false): void {
  if (replace) history.replaceState(null, '', to);
  else history.pushState(null, '', to);
  listeners.forEach((fn) => fn());
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parse(location));
  useEffect(() => {
    const update = () => setRoute(parse(location));
    listeners.add(update);
    window.addEventListener('popstate', update);
    return () => {
      listeners.delete(update);
      window.removeEventListener('popstate', update);
    };
  }, []);
  return route;
}

/** Link is an <a> that navigates without reloading the page. */
export function Link({ href, onClick, ...rest }: AnchorHTMLAttributes<HTMLAnchorElement> & { href: string }) {
  return (
    <a
      href={href}
      onClick={(e: MouseEvent<HTMLAnchorElement>) => {
        onClick?.(e);
        if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
        e.preventDefault();
        navigate(href);
      }}
      {...rest}
    />
  );
}
