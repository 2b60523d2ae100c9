//! Comparing what a visitor sent with the configured secrets, in constant time.
//!
//! Each secret is stored zero-padded to a common width (a multiple of [`BLOCK`] bytes), as
//! 64-bit words, with its true length beside it. A comparison walks the whole width of every
//! secret in the set: it XORs each word of the secret with the same word of what the visitor
//! sent (zero past its end), ORs the differences together through [`black_box`] so that the
//! compiler cannot stop at the first difference, and lets `subtle` decide, in constant time,
//! whether the difference is zero and the lengths equal. The results for the secrets are
//! combined with `|` on [`Choice`]s, never with a branch. So the time a check takes depends on
//! the number of secrets and the padded width, both fixed when the layer is built, and on the
//! length of what the visitor sent (which the visitor knows already); not on which secret
//! matched, how many leading bytes were right, or how long each secret is.
//!
//! Words rather than `subtle`'s byte-wise slice comparison: that puts an optimisation barrier
//! on every byte, about 6 ns each, 200 ns for one 32-byte secret; a word costs about 1 ns.
//! Padding rather than digests: a keyed hash would hide the width too, but the crate has no
//! cryptographic hash, and rounding the width up to [`BLOCK`] bytes leaves timing able to tell
//! at most the longest secret's length to within 32 bytes, with no new dependency.

use std::{fmt, hint::black_box};

use subtle::{Choice, ConstantTimeEq};

/// Padded widths are multiples of this many bytes.
const BLOCK: usize = 32;

const WORD: usize = 8;

/// A set of secrets of one kind (passwords, bearer tokens, or the keys of one header).
#[derive(Clone, Default)]
pub(super) struct SecretSet {
    /// In words.
    width: usize,
    secrets: Vec<Secret>,
}

#[derive(Clone)]
struct Secret {
    /// The secret, zero-padded to the set's width.
    padded: Vec<u64>,
    len: u64,
}

impl SecretSet {
    /// Adds `secret`. An empty secret is kept (it counts) but never matches: an empty token
    /// would let in anyone who sends an empty header.
    pub(super) fn push(&mut self, secret: &[u8]) {
        let width = secret.len().div_ceil(BLOCK).max(1) * BLOCK / WORD;
        if width > self.width {
            self.width = width;
            for other in &mut self.secrets {
                other.padded.resize(width, 0);
            }
        }
        let padded = (0..self.width).map(|at| word(secret, at)).collect();
        self.secrets.push(Secret {
            padded,
            len: secret.len() as u64,
        });
    }

    pub(super) fn len(&self) -> usize {
        self.secrets.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// Whether `presented` equals one of the secrets; compares with every secret, whatever
    /// the earlier ones said (see the module docs).
    pub(super) fn matches(&self, presented: &[u8]) -> Choice {
        let mut any = Choice::from(0);
        for secret in &self.secrets {
            any |= secret.matches(presented);
        }
        any & Choice::from(u8::from(!presented.is_empty()))
    }
}

impl Secret {
    fn matches(&self, presented: &[u8]) -> Choice {
        let mut difference = 0u64;
        for (at, mine) in self.padded.iter().enumerate() {
            difference = black_box(difference | (word(presented, at) ^ mine));
        }
        difference.ct_eq(&0) & (presented.len() as u64).ct_eq(&self.len)
    }
}

/// The `at`th 8-byte word of `bytes`, zero past their end. The branches depend on the length
/// of `bytes` only, not on their content.
#[inline]
fn word(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0; WORD];
    if let Some(rest) = bytes.get(at * WORD..) {
        let n = rest.len().min(WORD);
        word[..n].copy_from_slice(&rest[..n]);
    }
    u64::from_le_bytes(word)
}

impl fmt::Debug for SecretSet {
    /// The count only: never the secrets, nor their width.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} secret(s)", self.secrets.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(secrets: &[&str]) -> SecretSet {
        let mut set = SecretSet::default();
        for secret in secrets {
            set.push(secret.as_bytes());
        }
        set
    }

    fn matches(set: &SecretSet, presented: &str) -> bool {
        set.matches(presented.as_bytes()).into()
    }

    #[test]
    fn matches_exactly_one_of_the_secrets() {
        let set = set(&["s3cret", "another-one", "pw"]);
        for secret in ["s3cret", "another-one", "pw"] {
            assert!(matches(&set, secret), "{secret}");
        }
        for wrong in ["s3creT", "another-onE", "Pw", "x", "s3cre", "pw2"] {
            assert!(!matches(&set, wrong), "{wrong}");
        }
    }

    #[test]
    fn wrong_lengths_never_match() {
        let set = set(&["s3cret"]);
        // Prefixes, extensions, and zero padding that looks like the stored padding.
        for wrong in ["", "s", "s3cre", "s3cret\0", "s3cret\0\0", "s3crets3cret"] {
            assert!(!matches(&set, wrong), "{wrong:?}");
        }
        // Longer than the padded width.
        assert!(!matches(&set, &"s3cret".repeat(20)));
        assert!(!matches(&set, &format!("s3cret{}", "\0".repeat(100))));
    }

    #[test]
    fn widths_grow_to_fit_the_longest_secret_in_blocks() {
        let mut set = set(&["short"]);
        assert_eq!(set.width * WORD, BLOCK);
        let long = "L".repeat(BLOCK + 1);
        set.push(long.as_bytes());
        assert_eq!(set.width * WORD, 2 * BLOCK);
        assert!(
            set.secrets
                .iter()
                .all(|secret| secret.padded.len() * WORD == 2 * BLOCK)
        );
        assert!(matches(&set, "short"), "re-padding keeps the old secrets");
        assert!(matches(&set, &long));
        assert!(!matches(&set, &long[..BLOCK]));
    }

    #[test]
    fn every_byte_of_every_word_counts() {
        let secret: Vec<u8> = (1..=40).collect();
        let set = {
            let mut set = SecretSet::default();
            set.push(&secret);
            set
        };
        assert!(bool::from(set.matches(&secret)));
        for at in 0..secret.len() {
            let mut wrong = secret.clone();
            wrong[at] ^= 0x80;
            assert!(!bool::from(set.matches(&wrong)), "byte {at}");
        }
    }

    #[test]
    fn words_are_zero_past_the_end() {
        assert_eq!(word(b"abc", 0), u64::from_le_bytes(*b"abc\0\0\0\0\0"));
        assert_eq!(
            word(b"abcdefghij", 1),
            u64::from_le_bytes(*b"ij\0\0\0\0\0\0")
        );
        assert_eq!(word(b"abc", 1), 0);
        assert_eq!(word(b"", 5), 0);
    }

    #[test]
    fn empty_secrets_match_nothing() {
        let set = set(&[""]);
        assert_eq!(set.len(), 1);
        assert!(!matches(&set, ""));
        assert!(!matches(&set, "\0"));
        assert!(!matches(&SecretSet::default(), ""));
    }

    #[test]
    fn debug_shows_the_count_only() {
        assert_eq!(format!("{:?}", set(&["s3cret", "pw"])), "2 secret(s)");
    }
}
