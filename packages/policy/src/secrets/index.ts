/** Secret detection: built-in and custom detectors over text, with allowlists and masking. */
export { BUILTIN_DETECTORS, type Detector } from './detectors';
export { charClass, meetsEntropy, shannonEntropy, type CharClass, type EntropyThreshold } from './entropy';
export { crc32, hasValidBase62Checksum, toBase62 } from './checksum';
export { KeywordMatcher } from './keywords';
export { MASK_VISIBLE, maskSecret, secretFingerprint } from './mask';
export { compileGlob, secretLookingPath, type PathGlob, type SecretPath, type SecretPathKind } from './paths';
export {
  BINARY_SNIFF_BYTES,
  FULL_LINE_LIMIT,
  MAX_FINDINGS,
  MULTILINE_REACH,
  WINDOW_AFTER,
  WINDOW_BEFORE,
  createSecretScanner,
  isBinary,
  type CustomDetector,
  type SecretAllowlist,
  type SecretFinding,
  type SecretScanOptions,
  type SecretScanResult,
  type SecretScanner,
  type SecretScannerConfig,
} from './scanner';
