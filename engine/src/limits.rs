//! Caps on what comes from outside (DVRs, providers, image hosts): HTTP answers are
//! read with a byte limit as they stream in, never whole first. Texts are cut with
//! `domain::text` before they are kept, logged or shown.

use bytes::{Bytes, BytesMut};

/// An answer over its cap, or the transport failing while it was read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("the answer is larger than {0} bytes")]
    TooLarge(usize),
    #[error(transparent)]
    Http(#[from] reqwest::Error),
}

/// The whole body of `res`, refused as soon as it passes `max` bytes; a declared
/// `Content-Length` over `max` is refused before anything is read. For answers that
/// must be complete to be used (JSON, an image).
pub async fn read_capped(mut res: reqwest::Response, max: usize) -> Result<Bytes, ReadError> {
    if res.content_length().is_some_and(|n| n > max as u64) {
        return Err(ReadError::TooLarge(max));
    }
    let mut buf = BytesMut::new();
    while let Some(chunk) = res.chunk().await? {
        if buf.len() + chunk.len() > max {
            return Err(ReadError::TooLarge(max));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

/// The first `max` bytes of the body as text (invalid UTF-8 replaced); the rest is
/// never read. For answers that are only judged and shown (a provider's reply).
pub async fn read_text_prefix(
    mut res: reqwest::Response,
    max: usize,
) -> Result<String, reqwest::Error> {
    let mut buf = Vec::new();
    while buf.len() < max {
        let Some(chunk) = res.chunk().await? else {
            break;
        };
        let room = max - buf.len();
        buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
    }
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bodies_are_capped_while_read() {
        let res = |body: &'static str| {
            reqwest::Response::from(axum::http::Response::new(reqwest::Body::from(body)))
        };
        assert_eq!(&read_capped(res("hello"), 5).await.unwrap()[..], b"hello");
        assert!(matches!(
            read_capped(res("hello!"), 5).await,
            Err(ReadError::TooLarge(5))
        ));
        assert_eq!(read_text_prefix(res("hello!"), 5).await.unwrap(), "hello");
    }
}
