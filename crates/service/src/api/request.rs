//! An action's parameters as a typed request (issue 14 item 4): one
//! `#[derive(Deserialize)]` struct per action with `deny_unknown_fields` and the API's
//! PascalCase names, parsed here with the API's error codes — a parameter the action does
//! not know is `UnknownParameter`, a wrong type `InvalidParameter` (naming the parameter's
//! path, `Filters[0].Values`); the action then checks values (`InvalidParameterValue`) and
//! required ones (`MissingParameter`, also for an empty string) with the helpers below.
//! Parameters are parsed before the request's signature is used up (`api::run`).

use super::error::{ApiCode, ApiError};
use super::Ctx;
use serde::de::{self, DeserializeOwned, Deserializer, Visitor};
use serde::Deserialize;
use serde_json::Value;
use std::fmt;

/// An action: its typed request and what it does.
pub trait Request: DeserializeOwned + Send + 'static {
    fn run(self, ctx: &Ctx<'_>) -> Result<Value, ApiError>;
}

/// A parsed request, ready to run once the caller is known.
pub type Prepared = Box<dyn FnOnce(&Ctx<'_>) -> Result<Value, ApiError> + Send>;

/// Parse `p` as the request `R`.
pub fn prepare<R: Request>(p: &Value) -> Result<Prepared, ApiError> {
    let r: R = parse(p)?;
    Ok(Box::new(move |ctx: &Ctx<'_>| r.run(ctx)))
}

/// `p` as `T`, with the API's error codes.
pub fn parse<T: DeserializeOwned>(p: &Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(p).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        if let Some(rest) = inner.strip_prefix("unknown field `") {
            // The path ends with the unknown field; at the top it is only in the message.
            let name = if path == "." {
                rest.split('`').next().unwrap_or("").to_string()
            } else {
                path
            };
            let name = imgport_policy::text::clip(name, 64);
            return ApiError::new(
                ApiCode::UnknownParameter,
                format!("The parameter `{name}` is not recognized."),
            );
        }
        if let Some(rest) = inner.strip_prefix("missing field `") {
            let name = rest.split('`').next().unwrap_or("");
            return ApiError::missing(&if path == "." {
                name.to_string()
            } else {
                format!("{path}.{name}")
            });
        }
        let at = if path == "." { "the body" } else { &path };
        ApiError::bad_type(
            &imgport_policy::text::clip(at, 64),
            imgport_policy::text::clip(inner, 200),
        )
    })
}

/// A required string: absent, null or blank is `MissingParameter`.
pub fn required<'a>(v: &'a Option<String>, name: &str) -> Result<&'a str, ApiError> {
    v.as_deref()
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| ApiError::missing(name))
}

/// An integer within `[min, max]`, `default` when absent.
pub fn int(v: Option<Int>, name: &str, default: i64, min: i64, max: i64) -> Result<i64, ApiError> {
    let v = v.map_or(default, |Int(v)| v);
    if v < min || v > max {
        return Err(ApiError::invalid(
            name,
            format!("must be between {min} and {max}, got {v}"),
        ));
    }
    Ok(v)
}

/// A list of at most `max` values (empty when absent).
pub fn list<T>(v: Option<Vec<T>>, name: &str, max: usize) -> Result<Vec<T>, ApiError> {
    let v = v.unwrap_or_default();
    if v.len() > max {
        return Err(ApiError::invalid(
            name,
            format!("at most {max} values are allowed"),
        ));
    }
    Ok(v)
}

/// A boolean: JSON `true`/`false`, or the strings `"true"`/`"false"` CLIs send.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flag(pub bool);

impl Flag {
    /// `false` when absent.
    pub fn or_false(v: Option<Flag>) -> bool {
        v.is_some_and(|Flag(b)| b)
    }
}

impl<'de> Deserialize<'de> for Flag {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Flag;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a boolean")
            }
            fn visit_bool<E: de::Error>(self, b: bool) -> Result<Flag, E> {
                Ok(Flag(b))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Flag, E> {
                if s.eq_ignore_ascii_case("true") {
                    Ok(Flag(true))
                } else if s.eq_ignore_ascii_case("false") {
                    Ok(Flag(false))
                } else {
                    Err(E::invalid_value(de::Unexpected::Str(s), &self))
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// An integer: a JSON number, or a string of digits (as CLIs send).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Int(pub i64);

impl<'de> Deserialize<'de> for Int {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Int;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an integer")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Int, E> {
                Ok(Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Int, E> {
                i64::try_from(v)
                    .map(Int)
                    .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Int, E> {
                s.trim()
                    .parse()
                    .map(Int)
                    .map_err(|_| E::invalid_value(de::Unexpected::Str(s), &self))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "PascalCase")]
    struct Example {
        name: Option<String>,
        dry_run: Option<Flag>,
        limit: Option<Int>,
        ids: Option<Vec<String>>,
        filters: Option<Vec<Inner>>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "PascalCase")]
    struct Inner {
        values: Vec<String>,
    }

    fn code(p: Value) -> String {
        parse::<Example>(&p).unwrap_err().code.as_str().to_string()
    }

    #[test]
    fn parameters_parse_leniently_and_errors_carry_the_api_codes() {
        let e: Example =
            parse(&json!({"Name": "x", "DryRun": "TRUE", "Limit": "7", "Ids": ["a"]})).unwrap();
        assert_eq!(e.name.as_deref(), Some("x"));
        assert!(Flag::or_false(e.dry_run));
        assert!(e.filters.is_none());
        assert_eq!(int(e.limit, "Limit", 20, 0, 10).unwrap(), 7);
        assert_eq!(
            int(e.limit, "Limit", 20, 0, 5).unwrap_err().code,
            "InvalidParameterValue"
        );
        assert_eq!(
            list(e.ids, "Ids", 0).unwrap_err().code,
            "InvalidParameterValue"
        );
        let e: Example = parse(&json!({"Filters": [{"Values": ["v"]}]})).unwrap();
        assert_eq!(e.filters.unwrap()[0].values, ["v"]);
        let e: Example = parse(&json!({"Name": null})).unwrap();
        assert_eq!(
            required(&e.name, "Name").unwrap_err().code,
            "MissingParameter"
        );
        assert!(!Flag::or_false(e.dry_run));
        assert_eq!(code(json!({"Bogus": 1})), "UnknownParameter");
        assert_eq!(
            code(json!({"Filters": [{"Values": [], "X": 1}]})),
            "UnknownParameter"
        );
        assert_eq!(code(json!({"Filters": [{}]})), "MissingParameter");
        assert_eq!(code(json!({"Name": 5})), "InvalidParameter");
        assert_eq!(code(json!({"DryRun": "maybe"})), "InvalidParameter");
        assert_eq!(code(json!({"Limit": 1.5})), "InvalidParameter");
        assert_eq!(code(json!([1, 2])), "InvalidParameter");
        let m = parse::<Example>(&json!({"Filters": [{"Values": [1]}]}))
            .unwrap_err()
            .message;
        assert!(m.contains("`Filters[0].Values[0]`"), "{m}");
        let m = parse::<Example>(&json!({"Filters": [{"Values": [], "Y": 1}]}))
            .unwrap_err()
            .message;
        assert!(m.contains("`Filters[0].Y`"), "{m}");
    }
}
