// The one spelling two keys share on a destination that folds names: some
// volumes and gateways normalise Unicode (NFC/NFD) or ignore case, so keys
// that differ in bytes can name one object there. Folding here is deliberately
// wide (canonical decomposition, lower case, recomposition): it may call two
// keys colliding that a given destination keeps apart, never the reverse, so
// a guard built on it refuses too much rather than deletes too much.

/** The key as a destination that folds case and normalisation would store it. */
export function foldedName(key: string): string {
  return key.normalize('NFD').toLowerCase().normalize('NFC');
}
