//! Typed access to an action's JSON parameters, with the API's error codes: a wrong
//! type is `InvalidParameter`, a bad value `InvalidParameterValue`, an absent
//! required one `MissingParameter`, an unknown one `UnknownParameter`. Lists are
//! bounded by the caller.

use super::error::ApiError;
use serde_json::Value;

/// Refuse parameters the action does not know (`UnknownParameter`).
pub fn check_known(p: &Value, known: &[&str]) -> Result<(), ApiError> {
    if let Some(obj) = p.as_object() {
        if let Some(k) = obj.keys().find(|k| !known.contains(&k.as_str())) {
            let k = imgport_policy::text::clip(k, 64);
            return Err(ApiError::new(
                "UnknownParameter",
                format!("The parameter `{k}` is not recognized."),
            ));
        }
    }
    Ok(())
}

/// String parameter `name` of `p`.
pub fn str_param<'a>(p: &'a Value, name: &str) -> Result<Option<&'a str>, ApiError> {
    match p.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(ApiError::bad_type(name, "must be a string")),
    }
}

/// Required non-empty string parameter.
pub fn req_str<'a>(p: &'a Value, name: &str) -> Result<&'a str, ApiError> {
    str_param(p, name)?
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| ApiError::missing(name))
}

/// Boolean parameter (JSON bool; `"true"`/`"false"` strings accepted, as CLIs send).
pub fn opt_bool(p: &Value, name: &str) -> Result<Option<bool>, ApiError> {
    match p.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
        Some(_) => Err(ApiError::bad_type(name, "must be a boolean")),
    }
}

/// Boolean parameter, false when absent.
pub fn bool_param(p: &Value, name: &str) -> Result<bool, ApiError> {
    Ok(opt_bool(p, name)?.unwrap_or(false))
}

/// Integer parameter within `[min, max]`, `default` when absent.
pub fn int_param(p: &Value, name: &str, default: i64, min: i64, max: i64) -> Result<i64, ApiError> {
    let v = match p.get(name) {
        None | Some(Value::Null) => return Ok(default),
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        Some(_) => None,
    }
    .ok_or_else(|| ApiError::bad_type(name, "must be an integer"))?;
    if v < min || v > max {
        return Err(ApiError::invalid(
            name,
            format!("must be between {min} and {max}, got {v}"),
        ));
    }
    Ok(v)
}

/// String-array parameter of at most `max` values.
pub fn str_list(p: &Value, name: &str, max: usize) -> Result<Vec<String>, ApiError> {
    match p.get(name) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) if a.len() <= max => a
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| ApiError::bad_type(name, "must be a list of strings"))
            })
            .collect(),
        Some(Value::Array(_)) => Err(ApiError::invalid(
            name,
            format!("at most {max} values are allowed"),
        )),
        Some(_) => Err(ApiError::bad_type(name, "must be a list of strings")),
    }
}

/// An image id as the API spells them: `img-` and 8 characters of `[a-z0-9]`
/// (`InvalidImageId.Malformed` otherwise).
pub fn image_id(id: &str) -> Result<(), ApiError> {
    let ok = id.len() == 12
        && id.starts_with("img-")
        && id[4..]
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        let clip = imgport_policy::text::clip(id, 64);
        Err(ApiError::new(
            "InvalidImageId.Malformed",
            format!(
                "`{clip}` is not an image ID (img- followed by 8 lower-case letters or digits)."
            ),
        ))
    }
}

/// A free-text field (name, description): at most `max` characters, no control
/// characters.
pub fn text(name: &str, v: &str, max: usize) -> Result<(), ApiError> {
    if v.chars().count() > max {
        return Err(ApiError::new(
            "InvalidParameterValue.TooLong",
            format!(
                "{name} is {} characters long; at most {max} are allowed.",
                v.chars().count()
            ),
        ));
    }
    if v.chars().any(|c| c.is_control()) {
        return Err(ApiError::invalid(
            name,
            "control characters are not allowed",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn typed_parameters() {
        let p = json!({"S": "x", "B": "true", "N": "7", "L": ["a"], "Bad": 1.5, "E": ""});
        assert_eq!(str_param(&p, "S").unwrap(), Some("x"));
        assert_eq!(str_param(&p, "Bad").unwrap_err().code, "InvalidParameter");
        assert_eq!(req_str(&p, "E").unwrap_err().code, "MissingParameter");
        assert!(bool_param(&p, "B").unwrap());
        assert!(!bool_param(&p, "Absent").unwrap());
        assert_eq!(int_param(&p, "N", 0, 0, 10).unwrap(), 7);
        assert_eq!(
            int_param(&p, "N", 0, 0, 5).unwrap_err().code,
            "InvalidParameterValue"
        );
        assert_eq!(
            int_param(&p, "Bad", 0, 0, 5).unwrap_err().code,
            "InvalidParameter"
        );
        assert_eq!(str_list(&p, "L", 1).unwrap(), vec!["a".to_string()]);
        assert_eq!(
            str_list(&json!({"L": ["a", "b"]}), "L", 1)
                .unwrap_err()
                .code,
            "InvalidParameterValue"
        );
        assert_eq!(
            check_known(&p, &["S"]).unwrap_err().code,
            "UnknownParameter"
        );
    }

    #[test]
    fn image_ids_and_text() {
        assert!(image_id("img-abc12345").is_ok());
        for bad in [
            "img-ABC12345",
            "img-abc1234",
            "ins-abc12345",
            "img-abc1234/",
            "",
        ] {
            assert_eq!(image_id(bad).unwrap_err().code, "InvalidImageId.Malformed");
        }
        assert!(text("ImageName", &"é".repeat(60), 60).is_ok());
        assert_eq!(
            text("ImageName", &"é".repeat(61), 60).unwrap_err().code,
            "InvalidParameterValue.TooLong"
        );
        assert_eq!(
            text("ImageName", "a\nb", 60).unwrap_err().code,
            "InvalidParameterValue"
        );
    }
}
