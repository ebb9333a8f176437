// The list of files dropped on this page and their upload machines.
import { useCallback, useRef, useState } from 'react';
import { api } from './api';
import { hashInWorker, limiter } from './hashing';
import { putWithXHR } from './put';
import { initialState, localResume, runUpload, type Deps, type UploadState } from './uploader';

const defaultDeps: Deps = { hash: hashInWorker, put: putWithXHR, api, slot: limiter(3), resume: localResume };

let seq = 0;

export function useUploads(deps: Deps = defaultDeps) {
  const [items, setItems] = useState<UploadState[]>([]);
  const files = useRef(new Map<string, File>());
  const controllers = useRef(new Map<string, AbortController>());
  const latest = useRef(new Map<string, UploadState>());

  const patch = useCallback((key: string, p: Partial<UploadState>) => {
    const cur = latest.current.get(key);
    if (cur) latest.current.set(key, { ...cur, ...p });
    setItems((list) => list.map((it) => (it.key === key ? { ...it, ...p } : it)));
  }, []);

  const start = useCallback(
    (key: string) => {
      const file = files.current.get(key);
      const state = latest.current.get(key);
      if (!file || !state) return;
      const ctl = new AbortController();
      controllers.current.set(key, ctl);
      void runUpload(file, state, deps, (p) => patch(key, p), ctl.signal).finally(() => {
        if (controllers.current.get(key) === ctl) controllers.current.delete(key);
      });
    },
    [deps, patch],
  );

  const add = useCallback(
    (list: FileList | File[]) => {
      const added: UploadState[] = [];
      for (const f of Array.from(list)) {
        const key = `u${++seq}`;
        files.current.set(key, f);
        const st = initialState(key, f);
        latest.current.set(key, st);
        added.push(st);
      }
      setItems((cur) => [...added, ...cur]);
      for (const st of added) start(st.key);
    },
    [start],
  );

  const retry = useCallback((key: string) => start(key), [start]);

  const cancel = useCallback((key: string) => controllers.current.get(key)?.abort(), []);

  const remove = useCallback((key: string) => {
    controllers.current.get(key)?.abort();
    files.current.delete(key);
    latest.current.delete(key);
    setItems((list) => list.filter((it) => it.key !== key));
  }, []);

  /** report records what the live watch learnt (the final verdict). */
  const report = useCallback((key: string, p: Pick<UploadState, 'verdict'>) => patch(key, p), [patch]);

  return { items, add, retry, cancel, remove, report };
}
