//! The cluster's keys: every datagram sealed with an AEAD, so only holders
//! of a key take part in the gossip.
//!
//! XChaCha20-Poly1305 (RustCrypto's `chacha20poly1305`): a 32-byte key, a
//! 24-byte nonce and a 16-byte tag, so a sealed datagram is 40 bytes longer
//! (memberlist's AES-GCM adds 29). Its 192-bit nonces are drawn at random
//! for every datagram from a ChaCha20 generator that the driver seeds with
//! 256 bits of operating-system randomness at every start: two draws
//! collide with probability 2^-192 each, so after 2^48 datagrams under one
//! key (nine years at a million a second) the chance that any nonce ever
//! repeated is below 2^-96. No counter has to survive a restart, which is
//! why a random nonce (and so XChaCha, whose nonce is long enough for it)
//! beats a counter here.
//!
//! The first key seals; every key opens, so a key is rotated with no
//! downtime: install the new key everywhere (second), make it first
//! everywhere, remove the old one. Turning encryption on in a running
//! cluster is the same in three steps: keys everywhere without `seal`
//! (sealed and plain datagrams both accepted, plain ones sent), then
//! `seal`, then `require` (plain ones refused): memberlist's
//! verify-outgoing and verify-incoming.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::AeadInPlace;
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};
use rand::rngs::ChaCha20Rng;
use rand::{Rng, SeedableRng};

/// Bytes a seal adds: the nonce and the tag.
pub(crate) const SEAL_OVERHEAD: usize = NONCE_LEN + TAG_LEN;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;

/// One 256-bit key. Its `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Key([u8; 32]);

/// A key that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a key is 32 bytes in base64 (44 characters, as `herd keygen` prints)")]
pub struct KeyError;

impl Key {
    /// A key from its 32 bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// A new random key from `rng` (the agent's `herd keygen` uses the
    /// operating system's generator).
    pub fn generate(rng: &mut impl Rng) -> Self {
        let mut bytes = [0u8; 32];
        rng.fill_bytes(&mut bytes);
        Self(bytes)
    }

    /// The key as `herd keygen` prints it and a key file holds it.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }

    /// Parses a key written in base64 (surrounding whitespace ignored).
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let bytes = STANDARD.decode(text.trim()).map_err(|_| KeyError)?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| KeyError)?;
        Ok(Self(bytes))
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key(..)")
    }
}

/// The keys a node holds, and what it does with them.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Keyring {
    /// The first seals; every one opens. Empty: gossip in plaintext.
    pub keys: Vec<Key>,
    /// Seal what this node sends (with keys but without `seal`, a node
    /// opens sealed datagrams and sends plain ones: the first step of
    /// turning encryption on).
    pub seal: bool,
    /// Refuse datagrams that are not sealed.
    pub require: bool,
    /// 256 bits of operating-system randomness, fresh at every start, for
    /// the nonces (see the module doc). Never shared between nodes.
    pub nonce_seed: [u8; 32],
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("keys", &self.keys.len())
            .field("seal", &self.seal)
            .field("require", &self.require)
            .finish_non_exhaustive()
    }
}

/// A keyring that cannot work as set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyringError {
    /// `seal` or `require` without a key.
    #[error("sealing or requiring encryption needs at least one key")]
    NoKey,
    /// `require` without `seal`: a node would refuse what it sends itself.
    #[error("a node that refuses plaintext must seal what it sends")]
    RequireWithoutSeal,
}

impl Keyring {
    /// Checks that the settings fit together.
    pub fn check(&self) -> Result<(), KeyringError> {
        if self.keys.is_empty() && (self.seal || self.require) {
            return Err(KeyringError::NoKey);
        }
        if self.require && !self.seal {
            return Err(KeyringError::RequireWithoutSeal);
        }
        Ok(())
    }

    /// Whether this keyring seals what it sends.
    pub fn seals(&self) -> bool {
        self.seal && !self.keys.is_empty()
    }
}

/// A datagram that no key opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NotOpened;

/// The keyring at work: ciphers ready, and the nonce generator.
pub(crate) struct Sealer {
    ciphers: Vec<XChaCha20Poly1305>,
    seal: bool,
    require: bool,
    nonces: ChaCha20Rng,
}

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sealer")
            .field("keys", &self.ciphers.len())
            .field("seal", &self.seal)
            .field("require", &self.require)
            .finish_non_exhaustive()
    }
}

impl Sealer {
    pub(crate) fn new(keyring: &Keyring) -> Self {
        Self {
            ciphers: keyring
                .keys
                .iter()
                .map(|key| XChaCha20Poly1305::new((&key.0).into()))
                .collect(),
            seal: keyring.seal,
            require: keyring.require,
            nonces: ChaCha20Rng::from_seed(keyring.nonce_seed),
        }
    }

    /// Takes `keyring`'s keys and settings. The nonce generator carries on
    /// (its stream never repeats, whatever the key), so the new seed is
    /// not needed.
    pub(crate) fn rekey(&mut self, keyring: &Keyring) {
        let fresh = Self::new(keyring);
        self.ciphers = fresh.ciphers;
        self.seal = fresh.seal;
        self.require = fresh.require;
    }

    /// Whether what this node sends is sealed.
    pub(crate) fn seals(&self) -> bool {
        self.seal && !self.ciphers.is_empty()
    }

    /// Whether a datagram that is not sealed is refused.
    pub(crate) fn requires(&self) -> bool {
        self.require
    }

    /// Whether this node can open sealed datagrams.
    pub(crate) fn opens(&self) -> bool {
        !self.ciphers.is_empty()
    }

    /// Seals `out[body..]` in place with the first key, `out[..body]` as
    /// associated data: the nonce goes in before the body, the tag after.
    pub(crate) fn seal(&mut self, out: &mut Vec<u8>, body: usize) {
        let Some(cipher) = self.ciphers.first() else {
            return;
        };
        let mut nonce = [0u8; NONCE_LEN];
        self.nonces.fill_bytes(&mut nonce);
        let mut plain = out.split_off(body);
        // Encryption in place fails only for a message over 256 GiB.
        match cipher.encrypt_in_place_detached(XNonce::from_slice(&nonce), out, &mut plain) {
            Ok(tag) => {
                out.extend_from_slice(&nonce);
                out.extend_from_slice(&plain);
                out.extend_from_slice(&tag);
            }
            Err(_) => out.truncate(body),
        }
    }

    /// Opens `sealed` (nonce, ciphertext, tag) with `header` as associated
    /// data into `plain`, trying every key.
    pub(crate) fn open(
        &self,
        header: &[u8],
        sealed: &[u8],
        plain: &mut Vec<u8>,
    ) -> Result<(), NotOpened> {
        if sealed.len() < SEAL_OVERHEAD {
            return Err(NotOpened);
        }
        let (nonce, rest) = sealed.split_at(NONCE_LEN);
        let (body, tag) = rest.split_at(rest.len() - TAG_LEN);
        for cipher in &self.ciphers {
            plain.clear();
            plain.extend_from_slice(body);
            if cipher
                .decrypt_in_place_detached(XNonce::from_slice(nonce), header, plain, tag.into())
                .is_ok()
            {
                return Ok(());
            }
        }
        plain.clear();
        Err(NotOpened)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keyring(keys: &[u8], seal: bool) -> Keyring {
        Keyring {
            keys: keys.iter().map(|k| Key::from_bytes([*k; 32])).collect(),
            seal,
            require: false,
            nonce_seed: [7; 32],
        }
    }

    #[test]
    fn keys_parse_from_what_keygen_prints_and_never_show() {
        let key = Key::generate(&mut ChaCha20Rng::from_seed([1; 32]));
        let text = key.to_base64();
        assert_eq!(text.len(), 44);
        assert_eq!(Key::parse(&format!(" {text}\n")), Ok(key.clone()));
        assert_eq!(Key::parse("c2hvcnQ="), Err(KeyError));
        assert_eq!(Key::parse("not base64!"), Err(KeyError));
        assert!(!format!("{key:?}").contains(&text));
        assert_eq!(
            format!("{:?}", keyring(&[1, 2], true)),
            "Keyring { keys: 2, seal: true, require: false, .. }"
        );
    }

    #[test]
    fn every_key_opens_the_first_seals_and_the_header_is_bound() {
        let mut old = Sealer::new(&keyring(&[1], true));
        let mut rotating = Sealer::new(&keyring(&[2, 1], true));
        let header = b"HD-header";
        let mut sealed = header.to_vec();
        sealed.extend_from_slice(b"payload");
        old.seal(&mut sealed, header.len());
        assert_eq!(sealed.len(), header.len() + 7 + SEAL_OVERHEAD);
        let mut plain = Vec::new();
        // Sealed with key 1: opened by a ring that holds it second.
        rotating
            .open(header, &sealed[header.len()..], &mut plain)
            .unwrap();
        assert_eq!(plain, b"payload");
        // A changed header (a flipped vouching bit, another cluster) does
        // not open.
        assert_eq!(
            rotating.open(b"HD-headex", &sealed[header.len()..], &mut plain),
            Err(NotOpened)
        );
        // Nor a changed byte anywhere in the sealed part.
        for i in header.len()..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 1;
            assert_eq!(
                rotating.open(header, &bad[header.len()..], &mut plain),
                Err(NotOpened),
                "byte {i}"
            );
        }
        // The new ring seals with key 2, which the old one lacks.
        let mut newer = header.to_vec();
        newer.extend_from_slice(b"payload");
        rotating.seal(&mut newer, header.len());
        assert_eq!(
            old.open(header, &newer[header.len()..], &mut plain),
            Err(NotOpened)
        );
        // Two seals of the same payload differ (fresh nonces).
        let mut again = header.to_vec();
        again.extend_from_slice(b"payload");
        rotating.seal(&mut again, header.len());
        assert_ne!(again, newer);
        // Too short to hold a nonce and a tag.
        assert_eq!(old.open(header, &[0; 39], &mut plain), Err(NotOpened));
    }
}
