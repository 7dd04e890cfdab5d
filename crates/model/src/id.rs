//! Mattermost ids: 26 characters of `[a-z0-9]`, the base32 encoding of 128 random bits.

use rand::RngCore;

const ALPHABET: &[u8; 32] = b"ybndrfg8ejkmcpqxot1uwisza345h769";

/// A new random 26-character id, the format Mattermost clients expect.
pub fn new_id() -> String {
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    encode_base32(&bytes)
}

fn encode_base32(bytes: &[u8; 16]) -> String {
    // 128 bits → 26 five-bit groups (the last one padded with zeros).
    let mut out = String::with_capacity(26);
    let mut buffer: u32 = 0;
    let mut bits_in_buffer = 0;
    for &byte in bytes {
        buffer = (buffer << 8) | byte as u32;
        bits_in_buffer += 8;
        while bits_in_buffer >= 5 {
            let index = (buffer >> (bits_in_buffer - 5)) & 31;
            out.push(ALPHABET[index as usize] as char);
            bits_in_buffer -= 5;
        }
    }
    if bits_in_buffer > 0 {
        let index = (buffer << (5 - bits_in_buffer)) & 31;
        out.push(ALPHABET[index as usize] as char);
    }
    out
}

/// Whether `id` looks like an id Chorus (or Mattermost) would have issued.
pub fn is_valid_id(id: &str) -> bool {
    id.len() == 26
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// Milliseconds since the Unix epoch, the unit of every timestamp in the API.
pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_26_lowercase_alphanumerics_and_unique() {
        let a = new_id();
        let b = new_id();
        assert!(is_valid_id(&a), "{a}");
        assert_ne!(a, b);
        assert!(!is_valid_id("short"));
        assert!(!is_valid_id("ABCDEFGHIJKLMNOPQRSTUVWXYZ"));
    }
}
