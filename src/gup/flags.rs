//! `FOLL_*` flags (Linux `include/linux/mm.h`), the subset gup here takes.
use bitflags::bitflags;

/// What a FOLL_PIN reference adds to a page's count (Linux
/// `GUP_PIN_COUNTING_BIAS`, beside the flags in `mm.h`); a FOLL_GET reference adds 1.
pub const GUP_PIN_COUNTING_BIAS: u32 = 1024;

bitflags! {
    /// `FOLL_*` flags.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct GupFlags: u32 {
        /// `FOLL_WRITE`: the caller will write; read-only PTEs stop the fast walk.
        const WRITE = 0x01;
        /// `FOLL_GET`: take a reference (+1), released with `put_page`.
        const GET = 0x04;
        /// `FOLL_LONGTERM`: a FOLL_PIN held indefinitely (RDMA, VFIO): pages
        /// of a CMA range are refused ([`PageMap::set_cma`]).
        const LONGTERM = 0x10000;
        /// `FOLL_POPULATE`, slow path only: map zeroed frames where nothing is
        /// mapped (a fault).
        const POPULATE = 0x40;
        /// `FOLL_PIN`: take a pin (+`GUP_PIN_COUNTING_BIAS`), released with
        /// `unpin_user_page`.
        const PIN = 0x40000;
        /// `FOLL_FAST_ONLY`: the lockless walk only, never the slow path.
        const FAST_ONLY = 0x80000;
    }
}

impl GupFlags {
    /// The references one page that is not compound takes: 1 for FOLL_GET,
    /// the pin bias for FOLL_PIN, `None` unless exactly one of the two is set (Linux warns and
    /// takes nothing then).
    pub const fn refs(self) -> Option<u32> {
        match (self.names_one_kind(), self.contains(GupFlags::PIN)) {
            (false, _) => None,
            (true, false) => Some(1),
            (true, true) => Some(GUP_PIN_COUNTING_BIAS),
        }
    }
    /// Whether exactly one of FOLL_GET and FOLL_PIN is set: the two bits
    /// compared in place (a shift and an exclusive or).
    pub const fn names_one_kind(self) -> bool {
        const GAP: u32 = GupFlags::PIN.bits().trailing_zeros() - GupFlags::GET.bits().trailing_zeros();
        (self.bits() ^ self.bits() >> GAP) & GupFlags::GET.bits() != 0
    }
    /// These flags with FOLL_GET added unless they name the reference kind
    /// (the default of the test and demo helpers, which release what they take).
    pub const fn or_get(self) -> GupFlags {
        match self.refs() {
            Some(_) => self,
            None => self.union(GupFlags::GET),
        }
    }
}
