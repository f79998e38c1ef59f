export { TarError, CompressionError } from './errors.js';
export {
  BLOCK,
  MAX_EXTENSION_SIZE,
  HeaderAssembler,
  checksumOk,
  looksLikeTarHeader,
  parseNumeric,
  parsePax,
  parsePaxTime,
  type TarEntry,
  type TarFormat,
} from './header.js';
export { TarFileReader, rangeStream, type TarFileReaderOptions } from './file-reader.js';
export { ByteSource, readTarStream, type StreamEntry, type TarStreamState, type TrailingData } from './stream-reader.js';
export {
  DEFAULT_LIMITS,
  decompress,
  hasSystemZstd,
  hasZlibZstd,
  peek,
  sniffCompression,
  type Compression,
  type DecompressLimits,
  type DecompressOptions,
  type ZstdImpl,
  zstdImplementation,
  zlibZstdWorks,
} from './decompress.js';
export { LayerChangesBuilder, layerChangesFromEntries } from './layer-changes.js';
export { isTarHead, readLayerFromFile, readLayerFromStream, type LayerReadResult } from './layer-reader.js';
export { withSha256 } from './hash.js';
