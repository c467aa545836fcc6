//! JSON bodies, accepted whatever the Content-Type says (Piston's npm client sends none), with
//! errors that say where the body is wrong.

use serde::de::DeserializeOwned;

/// Parse a JSON body; the error names the field path and the problem.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    if body.is_empty() {
        return Err("the request body is empty; send a JSON object".into());
    }
    let text = std::str::from_utf8(body)
        .map_err(|e| format!("the request body is not valid UTF-8 (byte {})", e.valid_up_to()))?;
    let de = &mut serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path.is_empty() || path == "." {
            format!("invalid JSON body: {inner}")
        } else {
            format!("invalid JSON body at {path}: {inner}")
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct T {
        a: u32,
        b: Vec<String>,
    }

    #[test]
    fn errors_say_where() {
        assert!(parse_json::<T>(b"").unwrap_err().contains("empty"));
        assert!(parse_json::<T>(b"\xff").unwrap_err().contains("UTF-8"));
        assert!(parse_json::<T>(b"{").unwrap_err().contains("invalid JSON"));
        let e = parse_json::<T>(br#"{"a": -1, "b": []}"#).unwrap_err();
        assert!(e.contains("at a"), "{e}");
        let e = parse_json::<T>(br#"{"a": 1, "b": [1]}"#).unwrap_err();
        assert!(e.contains("b[0]"), "{e}");
        assert_eq!(parse_json::<T>(br#"{"a": 1, "b": ["x"]}"#).unwrap().a, 1);
    }
}
