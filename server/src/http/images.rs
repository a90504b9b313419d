//! `GET /api/v1/images/<key>?label=`: a channel logo or program art from the server's
//! cache ([`crate::images`]). When there is no image to show (the DVR has none, it is
//! away, the key is unknown) the answer is a placeholder with the label (the call sign
//! or title), never an error, so the page never shows a broken image.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::AppState;

/// Characters of a label drawn on a placeholder.
const MAX_LABEL: usize = 40;
/// An image may carry SVG: it is shown, never run (no scripts, no loads, a sandbox).
const IMAGE_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; sandbox";

#[derive(Debug, Deserialize, Default)]
pub struct ImageQuery {
    label: Option<String>,
}

pub async fn image(
    State(state): State<AppState>,
    Path(key): Path<String>,
    query: Result<Query<ImageQuery>, QueryRejection>,
) -> Response {
    if let Some(image) = state.services.images.get(&key).await {
        return (
            [
                (CONTENT_TYPE, image.media_type),
                (CACHE_CONTROL, "private, max-age=86400".to_string()),
                (CONTENT_SECURITY_POLICY, IMAGE_POLICY.to_string()),
            ],
            image.bytes,
        )
            .into_response();
    }
    let label: String = query
        .ok()
        .and_then(|Query(q)| q.label)
        .unwrap_or_default()
        .chars()
        .take(MAX_LABEL)
        .collect();
    (
        [
            (CONTENT_TYPE, "image/svg+xml"),
            // Short: the real image may arrive once the DVR is back.
            (CACHE_CONTROL, "private, max-age=300"),
            (CONTENT_SECURITY_POLICY, IMAGE_POLICY),
        ],
        domain::images::placeholder_svg(&label),
    )
        .into_response()
}
