//! Pseudonyms for log lines: a person, chat or grant appears as a keyed hash such as
//! `u:1f3a9c0d4e5b`, never as its id, so that a log line kept or shipped elsewhere names
//! nobody, before or after an erasure. Only whoever holds the master key can tell whose a
//! pseudonym is (by hashing a candidate id); rotating the key gives everyone new ones.

use std::fmt;

use hmac::Mac;

use crate::domain::{ChatPlatform, GrantId};

/// Hex digits kept of the HMAC: 48 bits, so that two people of one installation practically
/// never share a pseudonym, while a line stays short.
const DIGITS: usize = 12;

/// Makes pseudonyms with a key derived from the master key. Shows no key when printed.
#[derive(Clone)]
pub struct LogIds {
    key: [u8; 32],
}

impl fmt::Debug for LogIds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LogIds([redacted])")
    }
}

/// One pseudonym, for a log field: `u:` a person, `c:` a chat, `g:` a grant.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct LogId(String);

impl fmt::Display for LogId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for LogId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl LogId {
    /// The pseudonym as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl LogIds {
    /// Pseudonyms keyed with `key` (`MasterKey::derive("log pseudonyms")`).
    pub fn new(key: [u8; 32]) -> Self {
        Self { key }
    }

    /// A person as their chat platform names them (a Telegram or Discord user id).
    pub fn person(&self, platform: ChatPlatform, remote_id: &str) -> LogId {
        self.hash('u', platform.as_str(), remote_id)
    }

    /// A chat as its platform names it (a Telegram chat id, a Discord channel id).
    pub fn chat(&self, platform: ChatPlatform, remote_id: &str) -> LogId {
        self.hash('c', platform.as_str(), remote_id)
    }

    /// A grant (one person's authorization at a platform): its row id, like a person's,
    /// is kept out of logs, since with a copy of the database it names its owner.
    pub fn grant(&self, grant: GrantId) -> LogId {
        self.hash('g', "grant", &grant.0.to_string())
    }

    fn hash(&self, kind: char, namespace: &str, id: &str) -> LogId {
        let mut mac = crate::crypto::hmac_sha256(&self.key);
        // Separators keep ("ab", "c") and ("a", "bc") apart.
        mac.update(&[kind as u8, 0]);
        mac.update(namespace.as_bytes());
        mac.update(&[0]);
        mac.update(id.as_bytes());
        let digest = mac.finalize().into_bytes();
        let mut text = String::with_capacity(2 + DIGITS);
        text.push(kind);
        text.push(':');
        for byte in digest.iter().take(DIGITS / 2) {
            text.push_str(&format!("{byte:02x}"));
        }
        LogId(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pseudonyms_are_stable_per_key_and_reveal_neither_the_id_nor_the_kind_of_others() {
        let ids = LogIds::new([1; 32]);
        let alice = ids.person(ChatPlatform::Telegram, "731945028");
        assert_eq!(alice, ids.person(ChatPlatform::Telegram, "731945028"));
        assert!(alice.as_str().starts_with("u:"), "{alice}");
        assert_eq!(alice.as_str().len(), 2 + DIGITS);
        assert!(!alice.as_str().contains("731945028"));
        // The same id as a chat, on another platform, or under another key is another name.
        assert_ne!(
            alice.as_str()[2..],
            ids.chat(ChatPlatform::Telegram, "731945028").as_str()[2..]
        );
        assert_ne!(alice, ids.person(ChatPlatform::Discord, "731945028"));
        assert_ne!(
            alice,
            LogIds::new([2; 32]).person(ChatPlatform::Telegram, "731945028")
        );
        assert!(ids.grant(GrantId(5)).as_str().starts_with("g:"));
        assert!(!format!("{ids:?}").contains('1'), "no key in Debug");
    }
}
