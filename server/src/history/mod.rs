//! Watch history: the recorder that keeps every play, and the reads behind the
//! History page, its CSV export and the Statistics page.

pub(crate) mod recorder;
pub mod sample;
