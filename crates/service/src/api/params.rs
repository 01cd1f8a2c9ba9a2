//! Value checks shared by the actions, with the API's error codes: image ids
//! (`InvalidImageId.Malformed`) and free text (`InvalidParameterValue[.TooLong]`). The
//! parameters themselves are parsed by [`super::request`].

use super::error::{ApiCode, ApiError};

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
            ApiCode::InvalidImageIdMalformed,
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
            ApiCode::InvalidParameterValueTooLong,
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
