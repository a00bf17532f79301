//! `struct page` analogue: one atomic pin count per physical frame (Linux keeps
//! `_refcount` plus a pin bias; one counter is enough to show pins balance).
use crate::mm::{PhysAddr, PAGE_SIZE};
use core::sync::atomic::{AtomicU32, Ordering};

/// Per-frame pin counts (`mem_map`).
pub struct PageMap {
    pins: &'static [AtomicU32],
}

/// Unpinning a frame that has no pins, or is not RAM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnpinError(pub PhysAddr);

impl PageMap {
    /// A map over `storage.len()` frames from physical 0.
    pub fn new(storage: &'static [AtomicU32]) -> PageMap {
        PageMap { pins: storage }
    }
    fn slot(&self, frame: PhysAddr) -> Option<&AtomicU32> {
        self.pins.get((frame.0 / PAGE_SIZE) as usize)
    }
    /// `try_grab_page(page, FOLL_PIN)`: take a pin; false if the frame has no page.
    pub fn try_grab(&self, frame: PhysAddr) -> bool {
        match self.slot(frame) {
            Some(c) => {
                c.fetch_add(1, Ordering::AcqRel);
                true
            }
            None => false,
        }
    }
    /// The counters themselves, so a hot loop (gup_fast's PTE loop) can keep the
    /// slice in registers.
    pub fn counters(&self) -> &'static [AtomicU32] {
        self.pins
    }
    /// `unpin_user_page`: drop one pin.
    pub fn unpin(&self, frame: PhysAddr) -> Result<(), UnpinError> {
        let c = self.slot(frame).ok_or(UnpinError(frame))?;
        c.fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| v.checked_sub(1))
            .map(|_| ())
            .map_err(|_| UnpinError(frame))
    }
    /// Pins held on `frame`.
    pub fn pins(&self, frame: PhysAddr) -> u32 {
        self.slot(frame).map_or(0, |c| c.load(Ordering::Acquire))
    }
    /// Sum of all pins (O(frames); for tests).
    pub fn total_pins(&self) -> u64 {
        self.pins.iter().map(|c| c.load(Ordering::Relaxed) as u64).sum()
    }
}

/// `unpin_user_pages`: drop one pin on each frame.
pub fn unpin_user_pages(map: &PageMap, frames: &[PhysAddr]) -> Result<(), UnpinError> {
    frames.iter().try_for_each(|&f| map.unpin(f))
}
