import * as fs from 'node:fs';
import type { OpenOptions, Source } from '../model/source.js';
import { SourceError } from '../model/errors.js';
import { looksLikeDockerRoot, openDockerRoot } from './docker-root/index.js';

/**
 * Open whatever the user named, recognising it by content (never by file name):
 * - `docker:REF` / `podman:REF`: the engine's `save` stream;
 * - `-`: an archive on stdin;
 * - a directory: a Docker data root (classic store and/or containerd store), a containerd root, or an OCI
 *   layout;
 * - a file: an image archive (docker save, OCI archive; optionally compressed).
 */
export async function openSource(location: string, opts: OpenOptions = {}): Promise<Source> {
  if (/^(docker|podman):/.test(location) || location === '-') return openArchiveSource(location, opts);
  let st: fs.Stats;
  try {
    st = fs.statSync(location);
  } catch (err) {
    throw new SourceError('source.not-found', `cannot open: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, location);
  }
  if (st.isDirectory()) {
    if (looksLikeDockerRoot(location)) return openDockerRoot(location, opts);
    if (fs.existsSync(`${location}/oci-layout`) || fs.existsSync(`${location}/index.json`)) return openArchiveSource(location, opts);
    const containerd = await loadOptional('./containerd/index.js');
    if (containerd?.openContainerdRoot && (fs.existsSync(`${location}/io.containerd.metadata.v1.bolt`) || fs.existsSync(`${location}/containerd/daemon/io.containerd.metadata.v1.bolt`))) {
      return containerd.openContainerdRoot(location, opts);
    }
    throw new SourceError('source.unrecognised', 'is a directory, but neither a Docker data root (image/overlay2/), a containerd root, nor an OCI layout (oci-layout, index.json)', location);
  }
  return openArchiveSource(location, opts);
}

async function openArchiveSource(location: string, opts: OpenOptions): Promise<Source> {
  const archive = await loadOptional('./archive/index.js');
  if (!archive?.openArchive) throw new SourceError('source.unsupported', 'image archives are not supported by this build', location);
  return archive.openArchive(location, opts);
}

/** Sources developed separately are loaded on demand, so a data-root run never pays for the archive code. */
async function loadOptional(spec: string): Promise<any> {
  try {
    return await import(spec);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND' && String((err as Error).message).includes(spec.slice(2))) return null;
    throw err;
  }
}
