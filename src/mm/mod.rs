//! Memory management: addresses, levels, entries, frames, the Linux-shaped walk API
//! (`pgtable`), address spaces (`space`), table dumps (`ptdump`), and a scripted
//! racing writer for tests (`race`).
pub mod addr;
pub mod debug_vm_pgtable;
pub mod entry;
pub mod frame;
#[cfg(not(target_arch = "s390x"))]
pub mod host;
pub mod level;
pub mod pgtable;
pub mod platform;
pub mod ptdump;
pub mod race;
pub mod space;

pub use addr::{PhysAddr, VirtAddr, PAGE_SHIFT, PAGE_SIZE};
pub use entry::{Asce, P4d, Pgd, Pmd, Pte, Pud};
pub use frame::{AllocError, FrameAllocator};
pub use level::{AsceType, Level};
pub use pgtable::{Defect, EntryPtr, Object, WalkError};
pub use platform::Platform;
pub use space::{AddressSpace, FaultError, MapError, Prot, Translation};
