//! The photos a form carries: the page's script uploads each file through
//! `POST /api/v1/photos` (which cleans and stores it) and puts the reference it gets back
//! (`<sha256>.<ext>`) in a hidden field; the form's handler checks each reference names a
//! stored photo, as the API does for its JSON body.

use linli_core::events::MAX_PHOTOS;
use linli_core::Problem;
use linli_store::events::PhotoRef;

use crate::error::{AppError, AppResult};
use crate::AppState;

fn unknown(r: &str) -> AppError {
    AppError::bad_request(
        Problem::new("unknown_photo", "events.unknown_photo")
            .arg("value", r)
            .field("photos"),
    )
}

fn one(state: &AppState, r: &str) -> AppResult<PhotoRef> {
    let (sha, ext) = r.trim().split_once('.').ok_or_else(|| unknown(r))?;
    // Only a hex digest names a stored file: nothing else reaches the photo store's paths.
    if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(unknown(r));
    }
    let format = match ext {
        "jpg" | "jpeg" => linli_photo::Format::Jpeg,
        "png" => linli_photo::Format::Png,
        "webp" => linli_photo::Format::Webp,
        _ => return Err(unknown(r)),
    };
    let photos = state
        .photos
        .as_ref()
        .map_err(|e| AppError::Internal(e.clone()))?;
    let bytes = photos.read(sha, format).map_err(|_| unknown(r))?;
    let clean =
        linli_photo::clean(&bytes, &linli_photo::Limits::default()).map_err(|_| unknown(r))?;
    Ok(PhotoRef {
        sha256: sha.to_string(),
        format: format.as_str().to_string(),
        bytes: bytes.len() as i64,
        width: i64::from(clean.width),
        height: i64::from(clean.height),
    })
}

/// The stored photos the form names (blank entries ignored); more than the limit is the
/// store's to refuse with its own message, so only the references are checked here.
pub(super) fn refs(state: &AppState, raw: &[String]) -> AppResult<Vec<PhotoRef>> {
    let named: Vec<&String> = raw.iter().filter(|r| !r.trim().is_empty()).collect();
    if named.len() > MAX_PHOTOS * 2 {
        // Far over the limit: do not read them all before the store says no.
        return Err(AppError::bad_request(
            Problem::new("too_many_photos", "events.too_many_photos")
                .arg("max", MAX_PHOTOS)
                .field("photos"),
        ));
    }
    named.into_iter().map(|r| one(state, r)).collect()
}
