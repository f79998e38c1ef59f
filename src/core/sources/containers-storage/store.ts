import type { IdRange } from '../../model/idmap.js';
import { LIMITS } from '../../model/limits.js';
import type { Problem } from '../../model/types.js';
import { Evidence, EvidenceError, describeFsError, throwIfPermission } from '../evidence.js';
import { JsonDoc, parseJson, type JsonArr, type JsonObj } from '../shape.js';
import { isDigest } from '../../analysis/chain.js';

/**
 * The metadata files of a containers/storage store (podman, buildah, CRI-O), read offline and checked:
 * `<driver>-layers/layers.json` (+ `volatile-layers.json`), `<driver>-images/images.json`,
 * `<driver>-containers/containers.json`. Each is a JSON array of records; a record whose id is not 64 hex
 * digits never becomes a path (ids name directories: `overlay/<id>/diff`, `overlay-images/<id>/`).
 */

export const ID = /^[0-9a-f]{64}$/;

export type Note = (severity: Problem['severity'], code: string, message: string, path: string | null) => void;

export interface CsLayer {
  id: string;
  parent: string | null;
  names: string[];
  created: string | null;
  /** `diff-digest`: the diffID of the layer's uncompressed tar (absent for container RW layers). */
  diffDigest: string | null;
  diffSize: number | null;
  compressedDigest: string | null;
  /** The ID mappings the layer's files were written with (`uidmap`/`gidmap`; absent = the store's own). */
  uidmap: IdRange[];
  gidmap: IdRange[];
  /** From volatile-layers.json (not synced to disk by the engine). */
  volatile: boolean;
  /** Which file listed it (layers.json or volatile-layers.json). */
  where: string;
}


export interface CsImage {
  id: string;
  names: string[];
  digests: string[];
  topLayer: string | null;
  created: string | null;
  bigDataNames: string[];
  where: string;
}

export interface CsContainer {
  id: string;
  names: string[];
  image: string | null;
  layer: string | null;
  /** The `metadata` string, parsed (podman, buildah and CRI-O each write a JSON object there). */
  metadata: JsonObj | null;
  created: string | null;
  where: string;
}

/**
 * The bytes of one metadata file, bounded (LIMITS.storeMetadataBytes: a real host's layers.json is a few MB);
 * null when absent or unreadable (a problem says why).
 */
export function readMetadataFile(ev: Evidence, note: Note, ...parts: string[]): Buffer | null {
  try {
    return ev.readFile(LIMITS.storeMetadataBytes, ...parts);
  } catch (err) {
    throwIfPermission(err, ev.path(...parts));
    if (err instanceof EvidenceError) note('error', err.code, err.message.replace(`${err.path}: `, ''), err.path);
    else note('error', 'evidence.unreadable', describeFsError(err), ev.path(...parts));
    return null;
  }
}

/** A metadata file as an array of records, or null (invalid JSON, not an array: a problem naming the file). */
function records(ev: Evidence, note: Note, code: string, parts: string[]): { doc: JsonDoc; items: (JsonObj | null)[]; file: string } | null {
  const file = ev.path(...parts);
  const bytes = readMetadataFile(ev, note, ...parts);
  if (bytes === null) return null;
  const parsed = parseJson(bytes);
  if (!parsed.ok) {
    note('error', `${code}.invalid-json`, `invalid JSON: ${parsed.reason}; nothing it lists is read`, file);
    return null;
  }
  const doc = new JsonDoc(file, parts[parts.length - 1]);
  const arr: JsonArr | null = doc.rootArray(parsed.value);
  const items = arr ? arr.objects() : [];
  return { doc, items, file };
}

function flush(doc: JsonDoc, code: string, note: Note): void {
  const p = doc.problem(code);
  if (p) note(p.severity, p.code, p.message, p.path);
}

function strings(o: JsonObj, key: string): string[] {
  return (o.arr(key)?.strs() ?? []).map(([, s]) => s);
}

/**
 * The kernel takes at most 340 ranges in a uid_map/gid_map (user_namespaces(7)): no engine wrote a layer with
 * more. Every file's owner is mapped by a scan of the ranges, so their count is bounded before it drives work.
 */
const MAX_ID_RANGES = 340;

function idMaps(o: JsonObj, key: string, id: string, file: string, note: Note): IdRange[] {
  const out: IdRange[] = [];
  const arr = o.arr(key);
  if (arr && arr.length > MAX_ID_RANGES) {
    note('error', 'layers.uidmap.too-many', `layer ${id}: its ${key} has ${arr.length} ranges; the kernel takes at most ${MAX_ID_RANGES}, so no engine wrote it: not used (the layer's owners are shown as stored)`, file);
    return out;
  }
  for (const m of arr?.objects() ?? []) {
    if (!m) continue;
    const c = m.int('container_id');
    const h = m.int('host_id');
    const s = m.int('size');
    if (c !== null && h !== null && s !== null && c >= 0 && h >= 0 && s > 0) out.push({ containerId: c, hostId: h, size: s });
  }
  return out;
}

/** The record's id, or null (with a problem) when it is not 64 hex digits: such an id is never a path. */
function recordId(o: JsonObj, i: number, what: string, file: string, note: Note): string | null {
  const id = o.str('id');
  if (id !== null && ID.test(id)) return id;
  note('error', `${what}.bad-id`, `record ${i}: id ${JSON.stringify((id ?? '').slice(0, 80))} is not 64 hex digits; the record is ignored (never used as a path)`, file);
  return null;
}

/** layers.json and volatile-layers.json of `<driver>-layers/`. */
export function readLayers(ev: Evidence, driver: string, note: Note): { layers: Map<string, CsLayer>; file: string } {
  const layers = new Map<string, CsLayer>();
  const dir = `${driver}-layers`;
  let main = ev.path(dir, 'layers.json');
  for (const name of ['layers.json', 'volatile-layers.json']) {
    const volatile = name !== 'layers.json';
    if (volatile && !safeExists(ev, dir, name)) continue;
    const r = records(ev, note, 'layers', [dir, name]);
    if (!r) continue;
    if (!volatile) main = r.file;
    r.items.forEach((o, i) => {
      if (!o) return;
      const id = recordId(o, i, 'layers', r.file, note);
      if (!id) return;
      if (layers.has(id)) {
        note('warning', 'layers.duplicate', `layer ${id} is listed twice; the first record is used`, r.file);
        return;
      }
      const parentRaw = o.str('parent');
      let parent: string | null = null;
      if (parentRaw !== null && parentRaw !== '') {
        if (ID.test(parentRaw)) parent = parentRaw;
        else note('error', 'layers.bad-parent', `layer ${id}: parent ${JSON.stringify(parentRaw.slice(0, 80))} is not a layer id; the chain stops here`, r.file);
      }
      const digest = o.str('diff-digest');
      const size = o.int('diff-size');
      layers.set(id, {
        id,
        parent,
        names: strings(o, 'names'),
        created: o.str('created'),
        diffDigest: digest !== null && isDigest(digest) ? digest : null,
        diffSize: size !== null && size >= 0 ? size : null,
        compressedDigest: o.str('compressed-diff-digest'),
        uidmap: idMaps(o, 'uidmap', id, r.file, note),
        gidmap: idMaps(o, 'gidmap', id, r.file, note),
        volatile,
        where: r.file,
      });
      if (digest !== null && !isDigest(digest)) note('error', 'layers.bad-digest', `layer ${id}: diff-digest ${JSON.stringify(String(digest).slice(0, 80))} is not a sha256 digest`, r.file);
    });
    flush(r.doc, 'layers.bad-shape', note);
  }
  return { layers, file: main };
}

export function readImages(ev: Evidence, driver: string, note: Note): CsImage[] {
  const r = records(ev, note, 'images', [`${driver}-images`, 'images.json']);
  if (!r) return [];
  const out: CsImage[] = [];
  const seen = new Set<string>();
  r.items.forEach((o, i) => {
    if (!o) return;
    const id = recordId(o, i, 'images', r.file, note);
    if (!id) return;
    if (seen.has(id)) {
      note('warning', 'images.duplicate', `image ${id} is listed twice; the first record is used`, r.file);
      return;
    }
    seen.add(id);
    const top = o.str('layer');
    if (top !== null && top !== '' && !ID.test(top)) note('error', 'images.bad-layer', `image ${id}: layer ${JSON.stringify(top.slice(0, 80))} is not a layer id`, r.file);
    const digests = strings(o, 'digests');
    const digest = o.str('digest');
    if (digest && !digests.includes(digest)) digests.unshift(digest);
    out.push({
      id,
      names: strings(o, 'names'),
      digests: digests.filter((d) => isDigest(d)),
      topLayer: top !== null && ID.test(top) ? top : null,
      created: o.str('created'),
      bigDataNames: strings(o, 'big-data-names'),
      where: r.file,
    });
  });
  flush(r.doc, 'images.bad-shape', note);
  return out;
}

export function readContainerRecords(ev: Evidence, driver: string, note: Note): CsContainer[] {
  const r = records(ev, note, 'containers', [`${driver}-containers`, 'containers.json']);
  if (!r) return [];
  const out: CsContainer[] = [];
  const seen = new Set<string>();
  r.items.forEach((o, i) => {
    if (!o) return;
    const id = recordId(o, i, 'containers', r.file, note);
    if (!id || seen.has(id)) return;
    seen.add(id);
    const image = o.str('image');
    const layer = o.str('layer');
    if (layer !== null && !ID.test(layer)) note('error', 'containers.bad-layer', `container ${id}: layer ${JSON.stringify(layer.slice(0, 80))} is not a layer id; refused`, r.file);
    let metadata: JsonObj | null = null;
    const meta = o.str('metadata');
    if (meta) {
      const parsed = parseJson(meta, 32);
      const doc = new JsonDoc(r.file, `containers.json record ${i} metadata`);
      if (!parsed.ok) note('warning', 'containers.metadata.invalid-json', `container ${id}: its metadata is not JSON (${parsed.reason})`, r.file);
      else metadata = doc.root(parsed.value);
      flush(doc, 'containers.metadata.bad-shape', note);
    }
    out.push({
      id,
      names: strings(o, 'names'),
      image: image !== null && ID.test(image) ? image : null,
      layer: layer !== null && ID.test(layer) ? layer : null,
      metadata,
      created: o.str('created'),
      where: r.file,
    });
  });
  flush(r.doc, 'containers.bad-shape', note);
  return out;
}

function safeExists(ev: Evidence, ...parts: string[]): boolean {
  try {
    return ev.lstat(...parts) !== null;
  } catch {
    return true; // reading it says what is wrong
  }
}

/**
 * The file name containers/storage gives an image's big-data item (images.go makeBigDataBaseName): the key
 * itself when it is made of `.`, digits and lower-case letters only, else `=` + its standard base64.
 */
export function bigDataFileName(key: string): string {
  return /^[.0-9a-z]*$/.test(key) ? key : '=' + Buffer.from(key, 'utf8').toString('base64');
}

/**
 * The layer chain from `top` down to the base, walked through `parent` and returned base first. A cycle, a
 * missing parent or a chain past LIMITS.chainLayers stops the walk: a problem naming layers.json, and what was
 * walked is kept (`complete: false`).
 */
export function layerChain(layers: Map<string, CsLayer>, top: string, file: string, note: Note, who: string): { chain: CsLayer[]; complete: boolean } {
  const chain: CsLayer[] = [];
  const seen = new Set<string>();
  let id: string | null = top;
  while (id !== null) {
    if (seen.has(id)) {
      note('error', 'layers.cycle', `${who}: the parent chain of layer ${top} loops back to ${id}; the chain is cut there`, file);
      return { chain: chain.reverse(), complete: false };
    }
    if (chain.length >= LIMITS.chainLayers) {
      note('error', 'limit.chain-layers', `${who}: the parent chain of layer ${top} is longer than ${LIMITS.chainLayers} layers; not walked further`, file);
      return { chain: chain.reverse(), complete: false };
    }
    seen.add(id);
    const l = layers.get(id);
    if (!l) {
      note('error', 'layers.missing', `${who}: layer ${id} ${chain.length ? `(parent of ${chain[chain.length - 1]!.id})` : ''} is not in layers.json`, file);
      return { chain: chain.reverse(), complete: false };
    }
    chain.push(l);
    id = l.parent;
  }
  return { chain: chain.reverse(), complete: true };
}
