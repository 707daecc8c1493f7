//! Google Compute Engine's rule for resource names (instances, disks, operations).

/// The longest GCE resource name.
pub const MAX_LEN: usize = 63;

/// True when `name` matches `[a-z]([-a-z0-9]*[a-z0-9])?` and is at most 63 characters.
pub fn is_valid_resource_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= MAX_LEN
        && bytes[0].is_ascii_lowercase()
        && bytes[bytes.len() - 1] != b'-'
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
}

/// True when `value` is a valid label value: at most 63 lowercase letters, digits,
/// `-` or `_` (Google also allows international letters; claw.free never writes them).
pub fn is_valid_label_value(value: &str) -> bool {
    value.len() <= MAX_LEN
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_names() {
        for ok in ["a", "my-bot-1a2b3c", &format!("a{}", "b".repeat(62))] {
            assert!(is_valid_resource_name(ok), "{ok}");
        }
        for bad in ["", "1bot", "bot-", "Bot", "bot_1", "bö", &"a".repeat(64)] {
            assert!(!is_valid_resource_name(bad), "{bad}");
        }
    }
}
