//! A small block-style YAML writer for JSON values (CloudFormation templates). Strings are
//! written double-quoted with JSON escapes, which YAML reads the same way.

use serde_json::Value;

pub fn to_yaml(v: &Value) -> String {
    let mut out = String::new();
    write_value(v, 0, &mut out);
    out
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => Value::String(s.clone()).to_string(),
        Value::Array(a) if a.is_empty() => "[]".into(),
        Value::Object(o) if o.is_empty() => "{}".into(),
        other => other.to_string(),
    }
}

fn is_block(v: &Value) -> bool {
    matches!(v, Value::Array(a) if !a.is_empty()) || matches!(v, Value::Object(o) if !o.is_empty())
}

fn key(k: &str) -> String {
    let plain = !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ':' | '.'))
        && !k.ends_with(':');
    if plain {
        k.to_owned()
    } else {
        Value::String(k.to_owned()).to_string()
    }
}

/// Writes a mapping or sequence at `indent`, each entry on its own lines.
fn write_value(v: &Value, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match v {
        Value::Object(o) if !o.is_empty() => {
            for (k, val) in o {
                if is_block(val) {
                    out.push_str(&format!("{pad}{}:\n", key(k)));
                    let inner = if val.is_array() { indent } else { indent + 2 };
                    write_value(val, inner, out);
                } else {
                    out.push_str(&format!("{pad}{}: {}\n", key(k), scalar(val)));
                }
            }
        }
        Value::Array(a) if !a.is_empty() => {
            for item in a {
                if is_block(item) {
                    // "- " then the item's first line; the rest indented under it.
                    let mut inner = String::new();
                    write_value(item, indent + 2, &mut inner);
                    let trimmed = inner.trim_start_matches(' ');
                    out.push_str(&format!("{pad}- {trimmed}"));
                } else {
                    out.push_str(&format!("{pad}- {}\n", scalar(item)));
                }
            }
        }
        other => out.push_str(&format!("{pad}{}\n", scalar(other))),
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn round_trips() {
        let v = serde_json::json!({
            "a": {"b": [1, "x: y", {"c": [true, null], "d": "é\n\"q\""}], "e": []},
            "weird key": {}, "n": -1.5,
            "list": [[1, 2], {"k": {"z": 1}}]
        });
        let y = to_yaml(&v);
        let back: Value = serde_yaml::from_str(&y).unwrap();
        assert_eq!(back, v, "{y}");
    }
}
