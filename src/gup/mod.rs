//! `get_user_pages_fast` over live tables, shaped like Linux `mm/gup.c`: one
//! lockless walk ([`fast`]) whose [`policy`] is each variant of the 2020
//! folding bug and its fixes, and whose [`hooks`] explain it; its PTE loop
//! ([`pte`]); `struct page` reference counts and compound pages ([`page`]); the
//! locked slow path and the entry points ([`slow`]).
pub mod fast;
pub mod flags;
pub mod hooks;
pub mod page;
pub mod policy;
pub mod pte;
pub mod scenario;
pub mod slow;

pub use fast::{gup_fast, GupFast, GupOutcome};
pub use flags::{GupFlags, GUP_PIN_COUNTING_BIAS};
pub use hooks::{Explain, Hooks, NoHooks, Step, Violation};
pub use page::{
    release_each, release_pages, unpin_user_pages, CompoundError, Grab, Page, PageMap, StructPage, UnpinError,
    PG_DIRTY, PG_REFERENCED,
};
pub use policy::{prefix_walks_off, LinuxFrame, Variant, WalkStack};
pub use slow::{
    get_user_pages_fast, get_user_pages_fast_only, gup_locked, pin_user_pages_fast, pin_user_pages_fast_only,
    GupContext, GupError,
};
