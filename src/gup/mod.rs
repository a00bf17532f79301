//! `get_user_pages_fast` over live tables, shaped like Linux `mm/gup.c`, in five
//! variants that differ exactly where the 2020 folding bug lived (see [`fast`]),
//! plus `struct page` reference counts and compound pages ([`page`]) and the locked slow path ([`slow`]).
pub mod fast;
pub mod page;
pub mod pte;
pub mod slow;

pub use fast::{gup_fast, prefix_walks_off, GupFast, GupFlags, GupOutcome, Step, Variant, Violation, WalkStack};
pub use page::{
    release_each, release_pages, unpin_user_pages, CompoundError, Grab, Page, PageMap, StructPage, UnpinError,
    GUP_PIN_COUNTING_BIAS, PG_DIRTY, PG_REFERENCED,
};
pub use slow::{
    get_user_pages_fast, get_user_pages_fast_only, gup_locked, pin_user_pages_fast, pin_user_pages_fast_only,
    GupContext, GupError,
};
