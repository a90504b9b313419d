//! Why an edit of a setting was refused: words for the person who made it (answered
//! 422), or the database failing.

use storage::StorageError;

#[derive(Debug, thiserror::Error)]
pub enum EditError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
}
