//! Reading credentials: `X-API-Key: <key>` or `Authorization: Bearer <key>` (compared
//! in constant time by `crate::sign_in::same_secret`). The guard that uses them is [`super::session::authenticate`].

use axum::http::header::AUTHORIZATION;

/// The key a request presents, if any.
pub(crate) fn presented_key(headers: &axum::http::HeaderMap) -> Option<String> {
    if let Some(v) = headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
        let v = v.trim();
        if !v.is_empty() {
            return Some(v.to_string());
        }
    }
    bearer_token(headers).map(str::to_string)
}

/// The token of `Authorization: Bearer <token>`, if any.
pub(crate) fn bearer_token(headers: &axum::http::HeaderMap) -> Option<&str> {
    let auth = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = auth.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sign_in::same_secret;
    use axum::http::HeaderMap;

    #[test]
    fn reads_both_header_forms() {
        let mut h = HeaderMap::new();
        assert_eq!(presented_key(&h), None);
        h.insert(AUTHORIZATION, "Bearer abc".parse().unwrap());
        assert_eq!(presented_key(&h).as_deref(), Some("abc"));
        h.insert("x-api-key", "xyz".parse().unwrap());
        assert_eq!(presented_key(&h).as_deref(), Some("xyz"));
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, "Basic abc".parse().unwrap());
        assert_eq!(presented_key(&h), None);
        assert!(same_secret("a", "a") && !same_secret("a", "b"));
    }
}
