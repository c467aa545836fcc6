//! Judge0's base64: Ruby's `Base64.encode64` (a newline every 60 characters) for the text
//! fields of an answer, Ruby's lenient `decode64` for a request's, and plain base64 for the
//! bytes kept in the stored JSON forms.

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;

/// Base64 as Ruby's `decode64` reads it: padding optional; whitespace (the newlines of
/// `encode64`) is removed before decoding.
const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);
/// Ruby's `encode64` breaks its output into lines of this many characters.
const BASE64_LINE_CHARS: usize = 60;

/// Judge0's base64 input: whitespace ignored, padding optional.
pub fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    LENIENT_BASE64.decode(compact).ok()
}

/// Ruby's `Base64.encode64`: a newline after every 60 characters and at the end.
pub fn encode64(bytes: &[u8]) -> String {
    let flat = STANDARD.encode(bytes);
    let mut out = String::with_capacity(flat.len() + flat.len() / BASE64_LINE_CHARS + 1);
    for chunk in flat.as_bytes().chunks(BASE64_LINE_CHARS) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out
}

pub(super) mod b64 {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        STANDARD.decode(text).map_err(serde::de::Error::custom)
    }
}

pub(super) mod b64_opt {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match bytes {
            Some(b) => s.serialize_some(&STANDARD.encode(b)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|text| STANDARD.decode(text).map_err(serde::de::Error::custom))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ruby_base64_breaks_lines_at_60() {
        assert_eq!(encode64(b""), "");
        assert_eq!(encode64(b"a"), "YQ==\n");
        let long = encode64(&[b'x'; 100]);
        let lines: Vec<&str> = long.split_terminator('\n').collect();
        assert_eq!(lines[0].len(), 60);
        assert!(long.ends_with('\n'));
        assert_eq!(decode_base64(&long).unwrap(), vec![b'x'; 100]);
        assert_eq!(decode_base64("aGk").unwrap(), b"hi", "padding optional");
        assert!(decode_base64("!!").is_none());
    }
}
