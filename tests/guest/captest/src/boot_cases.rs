//! `cap::boot::*`: the boot information and the root CNode it describes.

use libasi::Error;
use libasi::boot::{BootInfo, slot};
use libasi::cap::{CPtr, CapKind};
use syscall_abi::boot_info::ENCODED_MAX;
use syscall_abi::ipc::ipc_buffer;

use crate::env::Scratch;
use crate::report::{Outcome, holds, identify, ok, refused};
use crate::{Case, ensure, fail};

pub const CASES: &[Case] = &[
    ("cap::boot::fixed_slots", fixed_slots),
    ("cap::boot::ranges_are_ordered", ranges_are_ordered),
    ("cap::boot::untyped_slots_hold_untyped", untyped_slots_hold_untyped),
    ("cap::boot::untyped_sizes_are_sane", untyped_sizes_are_sane),
    ("cap::boot::module_frames_are_frames", module_frames_are_frames),
    ("cap::boot::empty_range_is_empty", empty_range_is_empty),
    ("cap::boot::buffer_too_small_says_the_length", buffer_too_small),
    ("cap::boot::buffer_in_kernel_half_is_refused", buffer_in_kernel_half),
];

/// `cap::boot::info_decodes`: run by `main` on the record it decoded.
pub fn decodes(info: &BootInfo) -> Outcome {
    ensure!(info.cnode_radix_bits == 12, "root CNode radix {}, expected 12", info.cnode_radix_bits);
    ensure!(
        info.ipc_buffer != 0 && info.ipc_buffer.is_multiple_of(ipc_buffer::SIZE as u64),
        "IPC buffer at {:#x}: not a 1 KiB-aligned address",
        info.ipc_buffer
    );
    ensure!(
        libasi::syscall::ipc_buffer_address() == Some(info.ipc_buffer),
        "libasi did not record the IPC buffer address"
    );
    ensure!(
        info.untyped().len() as u64 == info.untyped_slots.len(),
        "{} untyped descriptors for {} untyped slots",
        info.untyped().len(),
        info.untyped_slots.len()
    );
    ensure!(!info.untyped().is_empty(), "no untyped memory");
    Ok(())
}

fn fixed_slots(_: &mut Scratch<'_>) -> Outcome {
    holds(CPtr(slot::NULL), CapKind::Null, "NULL slot")?;
    holds(CPtr(slot::CNODE), CapKind::CNode, "CNODE slot")?;
    holds(CPtr(slot::IRQ_CONTROL), CapKind::IrqControl, "IRQ_CONTROL slot")?;
    holds(CPtr(slot::ASI_CONTROL), CapKind::AsiControl, "ASI_CONTROL slot")?;
    holds(CPtr(slot::TCB), CapKind::Tcb, "TCB slot")?;
    holds(CPtr(slot::VSPACE), CapKind::VSpace, "VSPACE slot")?;
    holds(CPtr(slot::IPC_BUFFER), CapKind::Frame, "IPC_BUFFER slot")
}

fn ranges_are_ordered(s: &mut Scratch<'_>) -> Outcome {
    let info = s.info();
    let mut next = slot::FIRST_FREE;
    for module in info.modules() {
        ensure!(
            module.frames.start == next,
            "module {} frames start at {}, expected {next}",
            module.name(),
            module.frames.start
        );
        next = module.frames.end;
    }
    let (untyped, empty) = (info.untyped_slots, info.empty);
    ensure!(untyped.start == next, "untyped slots start at {}, expected {next}", untyped.start);
    ensure!(
        empty.start == untyped.end,
        "empty slots start at {}, untyped end at {}",
        empty.start,
        untyped.end
    );
    ensure!(empty.end == 1 << info.cnode_radix_bits, "empty slots end at {}", empty.end);
    Ok(())
}

fn untyped_slots_hold_untyped(s: &mut Scratch<'_>) -> Outcome {
    let range = s.info().untyped_slots;
    for slot in range.start..range.end {
        holds(CPtr(slot), CapKind::Untyped, "untyped slot")?;
    }
    Ok(())
}

fn untyped_sizes_are_sane(s: &mut Scratch<'_>) -> Outcome {
    let (mut ram, mut device) = (0u64, 0u64);
    for untyped in s.info().untyped() {
        ensure!(
            (4..=47).contains(&untyped.size_bits),
            "untyped at {:#x} of 2^{} bytes",
            untyped.base,
            untyped.size_bits
        );
        ensure!(
            untyped.base.trailing_zeros() >= u32::from(untyped.size_bits),
            "untyped at {:#x} not aligned to its size 2^{}",
            untyped.base,
            untyped.size_bits
        );
        if untyped.device {
            device += 1 << untyped.size_bits;
        } else {
            ram += 1 << untyped.size_bits;
        }
    }
    // QEMU gives the guest 256 MiB; the kernel, its tables and the modules take some.
    ensure!((128 << 20..256 << 20).contains(&ram), "{} KiB of untyped RAM", ram >> 10);
    ensure!(device > 0, "no device untyped memory");
    ensure!(s.env.pool_bits >= 24, "largest RAM untyped is only 2^{} bytes", s.env.pool_bits);
    Ok(())
}

fn module_frames_are_frames(s: &mut Scratch<'_>) -> Outcome {
    let modules = s.info().modules();
    let Some(first) = modules.first() else { fail!("no boot modules listed") };
    ensure!(first.name() == "captest", "first module is named {:?}", first.name());
    for module in modules {
        let pages = module.size.div_ceil(4096);
        ensure!(
            module.frames.len() == pages,
            "module {} of {} bytes has {} frames",
            module.name(),
            module.size,
            module.frames.len()
        );
        for slot in module.frames.start..module.frames.end {
            holds(CPtr(slot), CapKind::Frame, "module frame")?;
        }
    }
    Ok(())
}

fn empty_range_is_empty(s: &mut Scratch<'_>) -> Outcome {
    let empty = s.info().empty;
    for slot in empty.start..empty.end {
        let kind = identify(CPtr(slot))?;
        ensure!(
            kind == CapKind::Null || s.env.slots.is_allocated(slot),
            "empty slot {slot} holds {kind:?}"
        );
    }
    Ok(())
}

fn buffer_too_small(_: &mut Scratch<'_>) -> Outcome {
    let mut full = [0u8; ENCODED_MAX];
    let len = ok(libasi::boot::info_into(&mut full), "BootInfo into a full-size buffer")?;
    let mut small = [0u8; 16];
    refused(
        libasi::boot::info_into(&mut small),
        Error::BufferTooSmall { needed: len as u64 },
        "BootInfo into 16 bytes",
    )?;
    ensure!(small == [0; 16], "a refused BootInfo wrote the buffer");
    Ok(())
}

fn buffer_in_kernel_half(_: &mut Scratch<'_>) -> Outcome {
    refused(
        crate::raw::boot_info_to_kernel_half(),
        Error::InvalidAddress,
        "BootInfo to the kernel half",
    )
}
