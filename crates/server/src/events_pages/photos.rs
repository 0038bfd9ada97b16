//! The photos a form carries: the page's script uploads each file through
//! `POST /api/v1/photos` (which cleans and stores it) and puts the reference it gets back
//! (`<sha256>.<ext>`) in a hidden field; the form's handler checks each reference names a
//! stored photo, as the API does for its JSON body.

use linli_core::events::MAX_PHOTOS;
use linli_core::Problem;
use linli_store::events::PhotoRef;

use crate::error::{AppError, AppResult};
use crate::AppState;

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
    named
        .into_iter()
        .map(|r| crate::events_api::photo_ref(state, r))
        .collect()
}
