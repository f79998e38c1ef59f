/**
 * Everything layerscope writes for the user goes through this module: OutputDir (extract -o DIR), OutputFile
 * (export -o FILE, ci --junit FILE). Both refuse any overlap with the evidence (resolve.ts), create entries
 * O_EXCL/O_NOFOLLOW relative to directory fds (fsat.ts), never change what existed before the run, and set
 * modes, owners and times only on what the run created. readInputFile (input.ts) is the bounded reader for the
 * small files a user names as inputs (ci --config).
 */
export { OutputError, InputFileError, type OutputRefusal } from './errors.js';
export { checkOutput, evidenceLocations, resolveOutput, refuseOverlap, refuseExisting, type ResolvedOutput, type OutputKind } from './resolve.js';
export { OutputDir, type EntryAttrs, type OutputDirOptions } from './dir.js';
export { OutputFile, type OutputFileOptions } from './file.js';
export { readInputFile } from './input.js';
