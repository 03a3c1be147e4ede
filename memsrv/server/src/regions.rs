//! The memory memsrv is granted: untyped regions of whole pageblocks, split into one
//! untyped capability per 2 MiB pageblock.

use libasi::cap::{
    CNode, CNodeAt, Cap, ObjectKind, Sensitivity as KernelSensitivity, SlotAllocator, Untyped,
};
use libasi::ipc::IpcBuffer;
use libasi::process::{self, layout};
use memsrv::{PAGEBLOCK_SIZE, PageblockAddr, Sensitivity};
use memsrv_api::grants;

use crate::Pageblock;

/// log2 of a pageblock's size.
const PAGEBLOCK_BITS: u8 = 21;

/// Splits every granted region into pageblock untypeds in new slots, appending them to
/// `pageblocks` with their sensitivities to `found`. The grants end at the first empty
/// granted slot. A region that is not whole pageblocks of one sensitivity is refused
/// ([`libasi::Error::NotPageblocks`]): init hands memsrv nothing else. Pageblocks beyond
/// the `N` memsrv can manage are left alone; their count is the answer.
pub fn split_granted<const N: usize>(
    buffer: IpcBuffer,
    pageblocks: &mut heapless::Vec<Pageblock, N>,
    found: &mut heapless::Vec<(PageblockAddr, Sensitivity), N>,
    slots: &mut SlotAllocator,
) -> Result<u64, libasi::Error> {
    let mut unmanaged = 0;
    for index in grants::FIRST_MEMORY..layout::MAX_GRANTED {
        let region = Cap::<Untyped>::new(process::granted(index));
        let info = match region.describe(buffer) {
            Ok(info) => info,
            Err(libasi::Error::EmptySlot) => return Ok(unmanaged),
            Err(error) => return Err(error),
        };
        let sensitivity = match info.sensitivity {
            Some(KernelSensitivity::Sensitive) => Sensitivity::Sensitive,
            Some(KernelSensitivity::Nonsensitive) => Sensitivity::Nonsensitive,
            None => return Err(libasi::Error::NotPageblocks),
        };
        if info.size_bits < PAGEBLOCK_BITS {
            return Err(libasi::Error::NotPageblocks);
        }
        let pageblocks_in_region = 1u64 << (info.size_bits - PAGEBLOCK_BITS);
        let count = pageblocks_in_region.min((N - pageblocks.len()) as u64);
        unmanaged += pageblocks_in_region - count;
        if count == 0 {
            continue;
        }
        let first = slots.alloc_range(count as usize).ok_or(libasi::Error::NotEnoughMemory)?;
        let cnode = CNodeAt::full(own_cnode());
        // In one call, so the pageblocks lie in order from the region's base.
        region.retype(ObjectKind::Untyped, PAGEBLOCK_BITS, cnode, first, count)?;
        for offset in 0..count {
            let base = PageblockAddr::new(info.base + offset * PAGEBLOCK_SIZE)
                .ok_or(libasi::Error::NotPageblocks)?;
            let untyped = Cap::from_slot(first + offset);
            pageblocks
                .push(Pageblock { base, untyped })
                .map_err(|_| libasi::Error::NotEnoughMemory)?;
            found.push((base, sensitivity)).map_err(|_| libasi::Error::NotEnoughMemory)?;
        }
    }
    Ok(unmanaged)
}

fn own_cnode() -> Cap<CNode> {
    Cap::from_slot(layout::slot::CNODE)
}
