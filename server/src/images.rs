//! Channel logos and program art, fetched by the server and kept in a disk cache with a
//! size cap, so the browser loads every image from us (`/api/v1/images/<key>`): they
//! show through a reverse proxy, over HTTPS, and while the DVR is away.
//!
//! Only URLs the server learned from a DVR are fetched (a key names one of them), with
//! the outbound-address rules of notifications (no link-local or cloud-metadata
//! addresses, names checked again when resolved, no redirects). Naming, eviction and
//! the placeholder are `domain::images`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use domain::images::{self as rules, Cached};
use parking_lot::Mutex;
use tracing::debug;

/// How long a fetched image is used before it is fetched again (a stale copy is still
/// served when the DVR does not answer).
const FRESH_FOR: Duration = Duration::from_secs(7 * 24 * 3600);
/// A URL that failed is not tried again for this long.
const RETRY_AFTER: Duration = Duration::from_secs(600);
/// Time for one fetch.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// URLs remembered at once (the known list is cleared when it would grow past this;
/// the dashboard registers what it shows again within seconds).
const MAX_KNOWN: usize = 50_000;

/// An image ready to serve.
#[derive(Clone, Debug)]
pub struct Image {
    pub bytes: Bytes,
    pub media_type: String,
}

/// Removes a key's fetch gate when dropped.
struct Forget<'a>(
    &'a Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    &'a str,
);

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        self.0.lock().remove(self.1);
    }
}

#[derive(Default)]
struct Index {
    entries: HashMap<String, (u64, u64)>,
}

/// The image cache: what URLs are known, what is on disk, what failed lately.
pub struct Images {
    dir: PathBuf,
    cap: u64,
    http: reqwest::Client,
    known: Mutex<HashMap<String, String>>,
    index: Mutex<Index>,
    failed: Mutex<HashMap<String, Instant>>,
    inflight: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    tick: AtomicU64,
}

impl Images {
    /// The cache in `dir` (created if missing), holding at most `cap` bytes. Files
    /// already there are indexed (oldest first), so a restart keeps the cache.
    pub fn open(dir: &Path, cap: u64) -> Images {
        if let Err(err) = std::fs::create_dir_all(dir) {
            tracing::warn!(dir = %dir.display(), %err, "image cache directory cannot be created; images will be fetched each time");
        }
        let mut found: Vec<(String, u64, SystemTime)> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                if !rules::is_key(&name) {
                    // A half-written file of a crashed run.
                    let _ = std::fs::remove_file(e.path());
                    return None;
                }
                let meta = e.metadata().ok()?;
                Some((name, meta.len(), meta.modified().ok()?))
            })
            .collect();
        found.sort_by_key(|(_, _, at)| *at);
        let images = Images {
            dir: dir.to_path_buf(),
            cap,
            http: crate::notify::http_client(),
            known: Default::default(),
            index: Default::default(),
            failed: Default::default(),
            inflight: Default::default(),
            tick: AtomicU64::new(0),
        };
        {
            let mut index = images.index.lock();
            for (key, len, _) in found {
                let used = images.next_tick();
                index.entries.insert(key, (len, used));
            }
        }
        images.enforce_cap();
        images
    }

    fn next_tick(&self) -> u64 {
        self.tick.fetch_add(1, Ordering::Relaxed)
    }

    /// Remembers an image URL a DVR gave us and answers its local address (with the
    /// placeholder's label); `None` when the URL may not be fetched at all.
    pub fn register(&self, url: &str, label: Option<&str>) -> Option<String> {
        domain::notify::checks::check_url("image", url).ok()?;
        let key = rules::key(url);
        let mut known = self.known.lock();
        if !known.contains_key(&key) {
            if known.len() >= MAX_KNOWN {
                known.clear();
            }
            known.insert(key, url.to_string());
        }
        Some(rules::local_path(url, label))
    }

    /// Bytes kept on disk now.
    pub fn cached_bytes(&self) -> u64 {
        self.index.lock().entries.values().map(|(len, _)| len).sum()
    }

    /// The image behind `key`: from disk while fresh, else fetched (once, however many
    /// ask at the same time). `None` when there is none to show: the caller serves the
    /// placeholder.
    pub async fn get(&self, key: &str) -> Option<Image> {
        if !rules::is_key(key) {
            return None;
        }
        let cached = self.read(key).await;
        if let Some((image, fresh)) = &cached {
            if *fresh {
                return Some(image.clone());
            }
        }
        let stale = cached.map(|(image, _)| image);
        let url = self.known.lock().get(key).cloned();
        let Some(url) = url else {
            return stale;
        };
        if self
            .failed
            .lock()
            .get(key)
            .is_some_and(|at| at.elapsed() < RETRY_AFTER)
        {
            return stale;
        }
        let gate = self
            .inflight
            .lock()
            .entry(key.to_string())
            .or_default()
            .clone();
        let _one = gate.lock().await;
        // The gate's entry goes however this ends (a browser that gave up drops it).
        let _entry = Forget(&self.inflight, key);
        // Whoever held the gate may have fetched it meanwhile.
        if let Some((image, true)) = self.read(key).await {
            return Some(image);
        }
        match self.fetch(&url).await {
            Ok(image) => {
                self.failed.lock().remove(key);
                self.store(key, &image).await;
                Some(image)
            }
            Err(why) => {
                debug!(url = %url, why, "image not fetched");
                let mut failed = self.failed.lock();
                if failed.len() >= MAX_KNOWN {
                    failed.retain(|_, at| at.elapsed() < RETRY_AFTER);
                }
                failed.insert(key.to_string(), Instant::now());
                stale
            }
        }
    }

    async fn fetch(&self, url: &str) -> Result<Image, String> {
        let res = self
            .http
            .get(url)
            .timeout(FETCH_TIMEOUT)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !res.status().is_success() {
            return Err(format!("answered {}", res.status()));
        }
        let media_type = res
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(rules::image_type)
            .ok_or("not an image")?;
        let bytes = engine::limits::read_capped(res, rules::MAX_IMAGE_BYTES)
            .await
            .map_err(|e| e.to_string())?;
        Ok(Image {
            bytes,
            media_type: media_type.to_string(),
        })
    }

    /// A cached file: its media type on the first line, then the bytes. `true` while
    /// fresh.
    async fn read(&self, key: &str) -> Option<(Image, bool)> {
        let path = self.dir.join(key);
        let meta = tokio::fs::metadata(&path).await.ok()?;
        if meta.len() > rules::MAX_IMAGE_BYTES as u64 + 64 {
            return None;
        }
        let data = tokio::fs::read(&path).await.ok()?;
        let split = data.iter().position(|b| *b == b'\n')?;
        let media_type = std::str::from_utf8(&data[..split])
            .ok()
            .and_then(rules::image_type)?;
        let fresh = meta
            .modified()
            .ok()
            .and_then(|at| at.elapsed().ok())
            .is_some_and(|age| age < FRESH_FOR);
        let used = self.next_tick();
        if let Some(e) = self.index.lock().entries.get_mut(key) {
            e.1 = used;
        }
        let bytes = Bytes::from(data).slice(split + 1..);
        Some((
            Image {
                bytes,
                media_type: media_type.to_string(),
            },
            fresh,
        ))
    }

    /// Writes a fetched image (whole or not at all) and keeps the cache under its cap.
    async fn store(&self, key: &str, image: &Image) {
        let mut data = Vec::with_capacity(image.bytes.len() + 32);
        data.extend_from_slice(image.media_type.as_bytes());
        data.push(b'\n');
        data.extend_from_slice(&image.bytes);
        let len = data.len() as u64;
        let tmp = self.dir.join(format!("{key}.part"));
        let written = async {
            tokio::fs::write(&tmp, &data).await?;
            tokio::fs::rename(&tmp, self.dir.join(key)).await
        }
        .await;
        if let Err(err) = written {
            debug!(%err, "image not cached");
            let _ = tokio::fs::remove_file(&tmp).await;
            return;
        }
        let used = self.next_tick();
        self.index
            .lock()
            .entries
            .insert(key.to_string(), (len, used));
        self.enforce_cap();
    }

    fn enforce_cap(&self) {
        let gone = {
            let mut index = self.index.lock();
            let entries: Vec<Cached> = index
                .entries
                .iter()
                .map(|(k, (bytes, used))| Cached {
                    key: k.clone(),
                    bytes: *bytes,
                    used: *used,
                })
                .collect();
            let gone = rules::evict(&entries, self.cap);
            for k in &gone {
                index.entries.remove(k);
            }
            gone
        };
        for k in gone {
            let _ = std::fs::remove_file(self.dir.join(k));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;

    /// A loopback image host: `/a.png`..`/d.png` answer 1,000 bytes of PNG each,
    /// `/page` answers HTML, everything counts its requests.
    async fn host() -> (String, Arc<AtomicU64>) {
        let hits = Arc::new(AtomicU64::new(0));
        let h = hits.clone();
        let app = axum::Router::new().route(
            "/{name}",
            get(
                move |axum::extract::Path(name): axum::extract::Path<String>| {
                    let h = h.clone();
                    async move {
                        h.fetch_add(1, Ordering::SeqCst);
                        if name == "page" {
                            ([("content-type", "text/html")], vec![b'<'; 10])
                        } else {
                            ([("content-type", "image/png")], vec![7u8; 1000])
                        }
                    }
                },
            ),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (format!("http://{addr}"), hits)
    }

    #[tokio::test]
    async fn fetches_once_serves_from_disk_and_keeps_under_the_cap() {
        let dir = tempfile::tempdir().unwrap();
        let (base, hits) = host().await;
        let images = Images::open(dir.path(), 2_100);
        let path = images
            .register(&format!("{base}/a.png"), Some("ABC"))
            .unwrap();
        let key = &path["/api/v1/images/".len()..32 + "/api/v1/images/".len()];

        let got = images.get(key).await.expect("fetched");
        assert_eq!(got.media_type, "image/png");
        assert_eq!(got.bytes.len(), 1000);
        let again = images.get(key).await.expect("cached");
        assert_eq!(again.bytes, got.bytes);
        assert_eq!(
            hits.load(Ordering::SeqCst),
            1,
            "the second read is from disk"
        );

        // A restart keeps the cache.
        let reopened = Images::open(dir.path(), 2_100);
        assert!(
            reopened.get(key).await.is_some(),
            "served from disk after a restart"
        );
        assert_eq!(hits.load(Ordering::SeqCst), 1);

        // Two more images push the cache over 2,100 bytes: the least recently used goes.
        for name in ["b.png", "c.png"] {
            let p = images.register(&format!("{base}/{name}"), None).unwrap();
            images
                .get(&p["/api/v1/images/".len()..])
                .await
                .expect("fetched");
        }
        assert!(images.cached_bytes() <= 2_100, "{}", images.cached_bytes());
        let files = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(files, 2, "one file was evicted");
        assert!(
            !dir.path().join(key).exists(),
            "the least recently used image went"
        );
    }

    #[tokio::test]
    async fn a_request_given_up_mid_fetch_leaves_no_gate_behind() {
        let dir = tempfile::tempdir().unwrap();
        // A host that never answers in time.
        let app = axum::Router::new().route(
            "/slow.png",
            get(|| async {
                tokio::time::sleep(std::time::Duration::from_secs(30)).await;
                "late"
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let images = Images::open(dir.path(), 1 << 20);
        let p = images
            .register(&format!("http://{addr}/slow.png"), None)
            .unwrap();
        let key = &p["/api/v1/images/".len()..];
        // The browser gives up (the request's future is dropped during the fetch).
        let gave_up =
            tokio::time::timeout(std::time::Duration::from_millis(200), images.get(key)).await;
        assert!(gave_up.is_err(), "still fetching when dropped");
        assert!(
            images.inflight.lock().is_empty(),
            "the fetch gate went with it"
        );
    }

    #[tokio::test]
    async fn unknown_keys_non_images_and_forbidden_urls_give_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (base, hits) = host().await;
        let images = Images::open(dir.path(), 1 << 20);
        assert!(images
            .get(&rules::key("http://never-registered/x.png"))
            .await
            .is_none());
        assert!(images.get("../../etc/passwd").await.is_none());
        let p = images.register(&format!("{base}/page"), None).unwrap();
        let key = p["/api/v1/images/".len()..].to_string();
        assert!(images.get(&key).await.is_none(), "HTML is not an image");
        assert!(images.get(&key).await.is_none());
        assert_eq!(
            hits.load(Ordering::SeqCst),
            1,
            "a failure is not retried at once"
        );
        assert!(images
            .register("http://169.254.169.254/latest/meta-data", None)
            .is_none());
        assert!(images.register("file:///etc/passwd", None).is_none());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
