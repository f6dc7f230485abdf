//! The one definition of a lost write, which every workload that can see
//! one uses (the set's elements, list-append's appends; docs/checker.md,
//! "Lost writes"):
//!
//! A write is *known* from the moment it was acknowledged, or from the
//! end of the first read that saw it, whichever came first. Of the reads
//! that began after it was known (in the order they began; the final read,
//! made after the faults were healed and the cluster recovered, when no
//! write is in flight, comes last):
//!
//! - **lost**: the final read misses it: it was known, and after the
//!   faults and the recovery it is gone. A lost write is an anomaly under
//!   every consistency model: no order of the operations makes an
//!   acknowledged write vanish from a read made when nothing is in flight;
//! - **stale**: a read misses it, and a later one has it, or the last read
//!   misses it but is not a final read (a run cut short: gone for good
//!   cannot be told from not yet seen). Allowed by models without
//!   real-time order, such as serializability;
//! - **never read**: no read began after it was known (nothing can be
//!   said);
//! - **ok**: every one of them has it.
//!
//! Pure: observations in, a fate out.

/// One read that began after the write was known: did it see the write?
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    pub present: bool,
    /// The final read, after the recovery.
    pub final_read: bool,
}

/// What became of a known write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fate {
    Ok,
    Stale,
    Lost,
    NeverRead,
}

impl Fate {
    pub fn as_str(self) -> &'static str {
        match self {
            Fate::Ok => "ok",
            Fate::Stale => "stale",
            Fate::Lost => "lost",
            Fate::NeverRead => "never-read",
        }
    }
}

/// The fate of a known write, from the reads that began after it was known,
/// in the order they began.
pub fn fate(reads: &[Seen]) -> Fate {
    match reads.last() {
        None => Fate::NeverRead,
        Some(last) if !last.present && last.final_read => Fate::Lost,
        Some(_) if reads.iter().any(|r| !r.present) => Fate::Stale,
        Some(_) => Fate::Ok,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `+` saw it, `-` missed it; a trailing `F` makes the last read final.
    fn seen(s: &str) -> Vec<Seen> {
        let fin = s.ends_with('F');
        let s = s.trim_end_matches('F');
        s.chars()
            .enumerate()
            .map(|(i, c)| Seen {
                present: c == '+',
                final_read: fin && i + 1 == s.len(),
            })
            .collect()
    }

    #[test]
    fn the_fates() {
        assert_eq!(fate(&seen("")), Fate::NeverRead);
        assert_eq!(fate(&seen("+++F")), Fate::Ok);
        assert_eq!(fate(&seen("+-+F")), Fate::Stale);
        assert_eq!(fate(&seen("-++")), Fate::Stale);
        assert_eq!(fate(&seen("++-F")), Fate::Lost);
        assert_eq!(fate(&seen("-F")), Fate::Lost);
        // Without a final read, a miss at the end is not yet a loss.
        assert_eq!(fate(&seen("++-")), Fate::Stale);
    }
}
