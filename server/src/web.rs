//! Wiring between the Leptos app and the running monitor.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use app::services::{AppServices, BoxFuture, SharedServices};
use app::types::{DiagnoseReport, DvrOverview, Overview};
use leptos::prelude::LeptosOptions;

use crate::http::dvrs::DvrObject;
use crate::http::Services;

struct Monitor(Arc<Services>);

impl AppServices for Monitor {
    fn overview(&self) -> BoxFuture<'_, Result<Overview, String>> {
        Box::pin(async move {
            let records = self
                .0
                .registry
                .list()
                .await
                .map_err(|e| format!("cannot list DVRs: {e}"))?;
            let engine = &self.0.engine;
            let dvrs = records
                .into_iter()
                .map(|r| {
                    let sessions = engine
                        .slot(&r.dvr_id)
                        .map(|s| s.with_state(|st| st.session_count()))
                        .unwrap_or(0);
                    let health = engine.health(&r.dvr_id);
                    let o = DvrObject::build(r, health);
                    DvrOverview {
                        dvr_id: o.dvr_id,
                        name: o.name,
                        host: o.host,
                        port: o.port,
                        status: o.health.status.to_string(),
                        connected: o.health.connected,
                        sessions,
                    }
                })
                .collect();
            Ok(Overview {
                version: crate::VERSION.to_string(),
                dvrs,
            })
        })
    }

    fn diagnose(&self, dvr_id: String) -> BoxFuture<'_, Result<DiagnoseReport, String>> {
        Box::pin(self.diagnose_dvr(dvr_id))
    }
}

impl Monitor {
    async fn diagnose_dvr(&self, dvr_id: String) -> Result<DiagnoseReport, String> {
        let record = self
            .0
            .registry
            .get(&dvr_id)
            .await
            .map_err(|e| e.to_string())?;
        let http = crate::dvr::client::DvrClient::shared_http();
        Ok(crate::doctor::diagnose(
            &http,
            &record,
            &self.0.engine.disk_thresholds(),
            crate::doctor::DoctorTimeouts::default(),
        )
        .await)
    }
}

/// The context value server functions look up.
pub fn services_context(services: Arc<Services>) -> SharedServices {
    Arc::new(Monitor(services))
}

/// Leptos options for serving: cargo-leptos's environment when present, else the
/// built site next to the workspace or the binary.
pub fn leptos_options(addr: std::net::SocketAddr) -> LeptosOptions {
    let mut options = leptos::config::get_configuration(None)
        .map(|c| c.leptos_options)
        .unwrap_or_else(|_| LeptosOptions::builder().output_name("channelwatch").build());
    if std::env::var_os("LEPTOS_SITE_ROOT").is_none() {
        options.site_root = site_root().display().to_string().into();
    }
    options.site_addr = addr;
    options
}

/// Where the built site (`pkg/channelwatch.{js,wasm,css}`) is: `./target/site` when run
/// from the workspace, `<exe>/../site` or `<exe>/site` when installed (the container).
fn site_root() -> PathBuf {
    let mut candidates = vec![PathBuf::from("target/site")];
    if let Ok(exe) = std::env::current_exe() {
        if let Some(dir) = exe.parent() {
            candidates.push(dir.join("site"));
            // target/debug/channelwatch → target/site
            candidates.push(dir.join("../site"));
        }
    }
    candidates.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/site"));
    candidates
        .into_iter()
        .find(|p| p.join("pkg").is_dir())
        .unwrap_or_else(|| PathBuf::from("target/site"))
}
