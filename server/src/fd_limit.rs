//! The open-file limit. Containers often start with a soft limit of 1024, which a few
//! hundred DVRs exhaust (each holds its event stream open); the hard limit is usually
//! far higher, so it is raised at start and the log says how many DVRs it allows.

/// Descriptors kept for everything but DVR connections: the HTTP listener and its
/// clients, the database and its WAL, log files, provider sends.
pub const RESERVED: u64 = 256;

/// About how many DVRs a limit allows: two descriptors each (the event stream, and a
/// poll that may overlap it), after [`RESERVED`].
pub fn dvr_capacity(limit: u64) -> u64 {
    limit.saturating_sub(RESERVED) / 2
}

/// The limit before and after raising it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdLimit {
    pub before: u64,
    pub soft: u64,
    pub hard: u64,
}

/// Raises the soft open-file limit as far as the hard one allows.
pub fn raise() -> std::io::Result<FdLimit> {
    let (before, hard) = rlimit::Resource::NOFILE.get()?;
    let soft = rlimit::increase_nofile_limit(u64::MAX)?;
    Ok(FdLimit { before, soft, hard })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacity_leaves_room_for_the_rest() {
        assert_eq!(dvr_capacity(1024), 384);
        assert_eq!(dvr_capacity(20_000), 9_872);
        assert_eq!(dvr_capacity(100), 0, "never negative");
    }

    #[cfg(unix)]
    #[test]
    fn the_soft_limit_is_raised_toward_the_hard_one() {
        let l = raise().unwrap();
        assert!(l.soft >= l.before, "{l:?}");
        assert!(l.soft <= l.hard, "{l:?}");
        assert_eq!(rlimit::Resource::NOFILE.get().unwrap().0, l.soft);
    }
}
