//! A solver's settings from `key=value` text (the command line's `--solver-opt`, the bench
//! config's option lists, Python's keyword arguments), read by the solver's own serde
//! settings struct: each value is parsed as the type its field asks for, a key the struct
//! does not have is refused (`deny_unknown_fields`), and a key left out keeps the
//! struct's default (`#[serde(default)]`). The documentation of the options
//! ([`OptionDoc`]) comes from the same struct's JSON schema (`schemars`), so the help text
//! cannot drift from what is parsed.

use schemars::Schema;
use serde::de::value::{Error, MapDeserializer};
use serde::de::{self, DeserializeOwned, IntoDeserializer, Visitor};
use serde_json::Value;
use std::collections::BTreeMap;

/// `key=value` pairs by key (a later pair replaces an earlier one).
pub type Pairs = BTreeMap<String, String>;

/// The settings of type `T` that `pairs` describe, or a message naming the key and the
/// value at fault.
pub fn from_pairs<T: DeserializeOwned>(pairs: &Pairs) -> Result<T, String> {
    let entries = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), Text { key: k, value: v }));
    T::deserialize(MapDeserializer::<_, Error>::new(entries)).map_err(|e| e.to_string())
}

/// One value of the text, parsed as its field's type.
struct Text<'a> {
    key: &'a str,
    value: &'a str,
}

impl<'a> Text<'a> {
    fn parse<T: std::str::FromStr>(&self, what: &str) -> Result<T, Error> {
        self.value
            .trim()
            .parse()
            .map_err(|_| de::Error::custom(format!("{}={:?} is not {what}", self.key, self.value)))
    }

    fn named(&self, e: Error) -> Error {
        de::Error::custom(format!("{}={:?}: {e}", self.key, self.value))
    }
}

impl<'de> IntoDeserializer<'de, Error> for Text<'de> {
    type Deserializer = Self;
    fn into_deserializer(self) -> Self {
        self
    }
}

macro_rules! parsed {
    ($($method:ident $visit:ident $ty:ty, $what:literal;)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            visitor.$visit(self.parse::<$ty>($what)?)
        }
    )*};
}

impl<'de> de::Deserializer<'de> for Text<'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_str(self.value)
    }

    parsed! {
        deserialize_bool visit_bool bool, "true or false";
        deserialize_u8 visit_u8 u8, "a count";
        deserialize_u16 visit_u16 u16, "a count";
        deserialize_u32 visit_u32 u32, "a count";
        deserialize_u64 visit_u64 u64, "a count (a whole number >= 0)";
        deserialize_i8 visit_i8 i8, "a whole number";
        deserialize_i16 visit_i16 i16, "a whole number";
        deserialize_i32 visit_i32 i32, "a whole number";
        deserialize_i64 visit_i64 i64, "a whole number";
        deserialize_f32 visit_f32 f32, "a number";
        deserialize_f64 visit_f64 f64, "a number";
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_some(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let value: de::value::StrDeserializer<'de, Error> = self.value.trim().into_deserializer();
        visitor.visit_enum(value).map_err(|e| self.named(e))
    }

    serde::forward_to_deserialize_any! {
        i128 u128 char str string bytes byte_buf unit unit_struct newtype_struct seq tuple
        tuple_struct map struct identifier ignored_any
    }
}

/// One documented option of a solver.
#[derive(Clone, Debug, PartialEq)]
pub struct OptionDoc {
    pub key: String,
    /// What it takes: `count`, `number`, `true|false` or the choices (`sgd|adam`).
    pub kind: String,
    /// Its default (`auto` where the solver chooses per problem).
    pub default: String,
    /// The field's documentation.
    pub doc: String,
}

/// The options a settings struct's JSON schema documents, by key.
pub fn option_docs(schema: &Schema) -> Vec<OptionDoc> {
    let root = schema.as_value();
    // A transparent newtype's schema is a reference to its inner struct's.
    let body = resolve(root, root);
    let Some(props) = body.get("properties").and_then(Value::as_object) else {
        return Vec::new();
    };
    props
        .iter()
        .map(|(key, p)| OptionDoc {
            key: key.clone(),
            kind: kind(root, p),
            default: match p.get("default") {
                None | Some(Value::Null) => "auto".into(),
                Some(Value::String(s)) => s.clone(),
                Some(v) => v.to_string(),
            },
            doc: description(root, p)
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" "),
        })
        .collect()
}

/// The definition a `$ref` points at, else the property itself.
fn resolve<'a>(root: &'a Value, p: &'a Value) -> &'a Value {
    p.get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix("#/$defs/"))
        .and_then(|name| root.get("$defs").and_then(|d| d.get(name)))
        .unwrap_or(p)
}

fn description(root: &Value, p: &Value) -> String {
    p.get("description")
        .or_else(|| resolve(root, p).get("description"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

fn kind(root: &Value, p: &Value) -> String {
    let def = resolve(root, p);
    let choices: Vec<String> = match (def.get("enum"), def.get("oneOf")) {
        (Some(Value::Array(e)), _) => e
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        (_, Some(Value::Array(o))) => o
            .iter()
            .filter_map(|v| v.get("const").and_then(Value::as_str).map(str::to_string))
            .collect(),
        _ => Vec::new(),
    };
    if !choices.is_empty() {
        return choices.join("|");
    }
    let types: Vec<&str> = match def.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    match types.iter().find(|t| **t != "null") {
        Some(&"integer") => "count".into(),
        Some(&"boolean") => "true|false".into(),
        Some(t) => (*t).to_string(),
        None => "value".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::{Deserialize, Serialize};

    /// A settings struct like the solvers'.
    #[derive(Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
    #[serde(default, deny_unknown_fields)]
    struct Example {
        /// Steps taken.
        steps: usize,
        /// A rate.
        lr: f64,
        /// A switch.
        clip: bool,
        /// Chosen per problem when absent.
        zeta: Option<f64>,
        /// The optimiser.
        optimizer: Choice,
    }

    #[derive(Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
    #[serde(rename_all = "lowercase")]
    enum Choice {
        #[default]
        Sgd,
        Adam,
    }

    fn pairs(p: &[(&str, &str)]) -> Pairs {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn values_are_parsed_as_their_fields_types() {
        let e: Example = from_pairs(&pairs(&[
            ("steps", "7"),
            ("lr", "1e-3"),
            ("clip", "true"),
            ("zeta", "0.5"),
            ("optimizer", "adam"),
        ]))
        .unwrap();
        assert_eq!(
            e,
            Example {
                steps: 7,
                lr: 1e-3,
                clip: true,
                zeta: Some(0.5),
                optimizer: Choice::Adam
            }
        );
        assert_eq!(
            from_pairs::<Example>(&Pairs::new()).unwrap(),
            Example::default()
        );
        // Display of an f64 reads back exactly (flags travel as text).
        let x = 0.1f64 + 0.2;
        let back: Example = from_pairs(&pairs(&[("lr", &x.to_string())])).unwrap();
        assert_eq!(back.lr, x);
    }

    #[test]
    fn errors_name_the_key_and_the_value() {
        let err = |p: &[(&str, &str)]| from_pairs::<Example>(&pairs(p)).unwrap_err();
        let e = err(&[("lr", "abc")]);
        assert!(e.contains("lr") && e.contains("abc"), "{e}");
        let e = err(&[("steps", "-1")]);
        assert!(e.contains("steps") && e.contains("-1"), "{e}");
        let e = err(&[("clip", "maybe")]);
        assert!(e.contains("maybe"), "{e}");
        let e = err(&[("optimizer", "lbfgs")]);
        assert!(
            e.contains("optimizer") && e.contains("lbfgs") && e.contains("adam"),
            "{e}"
        );
        let e = err(&[("eta", "0.5")]);
        assert!(e.contains("eta") && e.contains("steps"), "{e}");
    }

    #[test]
    fn the_docs_come_from_the_schema() {
        let docs = option_docs(&schemars::schema_for!(Example));
        let by_key = |k: &str| docs.iter().find(|d| d.key == k).unwrap().clone();
        assert_eq!(docs.len(), 5);
        assert_eq!(by_key("steps").kind, "count");
        assert_eq!(by_key("steps").default, "0");
        assert_eq!(by_key("steps").doc, "Steps taken.");
        assert_eq!(by_key("lr").kind, "number");
        assert_eq!(by_key("clip").kind, "true|false");
        assert_eq!(by_key("zeta").default, "auto");
        assert_eq!(by_key("zeta").kind, "number");
        assert_eq!(by_key("optimizer").kind, "sgd|adam");
        assert_eq!(by_key("optimizer").default, "sgd");
        assert_eq!(by_key("optimizer").doc, "The optimiser.");
    }
}
