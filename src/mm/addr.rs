//! Physical and virtual address newtypes.
use core::fmt;

/// Bits of a page offset (Linux `PAGE_SHIFT`): a frame number is an address >> 12.
pub const PAGE_SHIFT: u32 = 12;
/// Bytes in a page (PoP: 4 KiB pages; Linux `PAGE_SIZE`).
pub const PAGE_SIZE: u64 = 1 << PAGE_SHIFT;

/// A physical (absolute, identity-mapped in the kernel) address.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct PhysAddr(pub(crate) u64);

/// A virtual address in some address space: a plain `u64`, as the Linux walk
/// API this code mirrors takes `unsigned long addr` (and wraps at 2^64, where
/// `end == 0` stands for 2^64).
pub type VirtAddr = u64;

macro_rules! addr_common {
    ($t:ident, $p:literal) => {
        impl $t {
            /// The address `v`.
            pub const fn new(v: u64) -> Self {
                Self(v)
            }
            /// The raw value.
            pub const fn as_u64(self) -> u64 {
                self.0
            }
            /// Whether the address is a multiple of `align` (a power of two).
            pub const fn is_aligned(self, align: u64) -> bool {
                self.0 & (align - 1) == 0
            }
            /// Round down to a multiple of `align` (a power of two).
            pub const fn align_down(self, align: u64) -> Self {
                Self(self.0 & !(align - 1))
            }
            /// `self + off` (wrapping is a caller bug caught in debug builds).
            pub const fn add(self, off: u64) -> Self {
                Self(self.0 + off)
            }
        }
        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($p, "{:#x}"), self.0)
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{:#x}", self.0)
            }
        }
    };
}
addr_common!(PhysAddr, "P:");
