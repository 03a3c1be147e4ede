//! Address space identifiers: which VSpace object each identifier names.
//!
//! Mapping capabilities record the identifier of the VSpace they were mapped into, not
//! its address: when a VSpace is destroyed its identifier is released, so a mapping
//! capability that outlives it finds nothing to unmap instead of touching reused memory.
//! The table is fixed-size kernel data (the kernel allocates nothing after boot).

use core::num::NonZeroU16;
use spin::Mutex;

/// Identifiers 1..4096 exist; 0 means none.
const ASIDS: usize = 4096;

static TABLE: Mutex<[u64; ASIDS]> = Mutex::new([0; ASIDS]);

/// Gives `root` (a VSpace object's address) a free identifier.
pub fn assign(root: u64) -> Option<NonZeroU16> {
    let mut table = TABLE.lock();
    let index = (1..ASIDS).find(|&index| table[index] == 0)?;
    table[index] = root;
    NonZeroU16::new(index as u16)
}

/// How many identifiers are free.
pub fn free() -> usize {
    TABLE.lock()[1..].iter().filter(|&&root| root == 0).count()
}

/// The VSpace an identifier names now, if any.
pub fn root_of(asid: NonZeroU16) -> Option<u64> {
    let root = *TABLE.lock().get(usize::from(asid.get()))?;
    (root != 0).then_some(root)
}

/// The VSpace at `root` is gone: its identifier is free again.
pub fn release(asid: NonZeroU16, root: u64) {
    let mut table = TABLE.lock();
    if let Some(entry) = table.get_mut(usize::from(asid.get()))
        && *entry == root
    {
        *entry = 0;
    }
}
