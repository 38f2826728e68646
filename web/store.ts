// Remembers the last model (its safetensors bytes) in IndexedDB, so a reload keeps it.
const DB = 'barenet';
const STORE = 'models';
const KEY = 'last';

function open(): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

function run<T>(mode: IDBTransactionMode, f: (s: IDBObjectStore) => IDBRequest<T>): Promise<T> {
  return open().then(
    (db) =>
      new Promise<T>((resolve, reject) => {
        const req = f(db.transaction(STORE, mode).objectStore(STORE));
        req.onsuccess = () => resolve(req.result);
        req.onerror = () => reject(req.error);
      }).finally(() => db.close()),
  );
}

export interface StoredModel {
  name: string;
  bytes: Uint8Array;
}

export const saveLastModel = (m: StoredModel) => run('readwrite', (s) => s.put(m, KEY)).then(() => undefined);
export const loadLastModel = () => run<StoredModel | undefined>('readonly', (s) => s.get(KEY));
