//! The root task's CSpace: made at boot from memory the kernel takes before handing
//! the rest out, and described to the root task by its boot information.

use super::slots::Slots;
use super::tcb::{Tcb, TcbSlot};
use crate::arch::{self, UserContext};
use crate::loader::{IPC_BUFFER_ADDRESS, MAX_BOOT_ARGS, RootImage};
use crate::mem::BootFrames;
use kernel_core::boot_info::BootInfo as LoaderInfo;
use kernel_core::cap::object::{SLOT_SIZE_BITS, TCB_SIZE_BITS};
use kernel_core::cap::ops::{copy, insert_root};
use kernel_core::cap::{Capability, FrameSize, Rights, SlotStore};
use kernel_core::cmdline::split_module_line;
use kernel_core::memory::{PAGE_SIZE, PhysRange, RegionKind};
use kernel_core::range_set::RangeSet;
use kernel_core::untyped_split::split;
use syscall_abi::boot_info::{
    BootInfo, ENCODED_MAX, ModuleDescriptor, SlotRange, UntypedDescriptor, slot,
};

/// The root CNode has 2^12 = 4096 slots.
pub const ROOT_CNODE_RADIX: u8 = 12;
/// Device memory handed out as device untyped: the gaps in the memory map between the
/// first MiB and the interrupt controllers, which the kernel keeps.
const DEVICE_WINDOW: PhysRange = PhysRange { start: 0x10_0000, end: 0xfec0_0000 };

/// The root CNode capability: 2^12 slots, with a guard of 52 zero bits so that a
/// capability pointer resolves through it at the full depth of 64.
fn root_cnode_cap(base: u64) -> Capability {
    Capability::CNode {
        object: base,
        radix_bits: ROOT_CNODE_RADIX,
        guard: 0,
        guard_bits: 64 - ROOT_CNODE_RADIX,
    }
}

/// The root task starts at the highest priority, and may hand out any.
const ROOT_PRIORITY: u8 = u8::MAX;

/// What only the root task has: its boot arguments and boot information.
#[derive(Debug)]
pub struct RootTask {
    /// The root task's TCB (its address: a `Tcb` handle is not shared between CPUs).
    tcb: u64,
    pub boot_args: heapless::String<MAX_BOOT_ARGS>,
    pub boot_info: BootInfo,
    encoded: ([u8; ENCODED_MAX], usize),
}

impl RootTask {
    pub fn thread(&self) -> Tcb {
        Tcb::at(self.tcb)
    }

    /// Whether `thread` is the root task's thread.
    pub fn is(&self, thread: Tcb) -> bool {
        thread.address() == self.tcb
    }

    /// The boot information as the `BootInfo` call copies it out.
    pub fn encoded_boot_info(&self) -> &[u8] {
        &self.encoded.0[..self.encoded.1]
    }
}

static ROOT_TASK: spin::Once<RootTask> = spin::Once::new();

/// The root task, once it exists.
pub fn root_task() -> Option<&'static RootTask> {
    ROOT_TASK.get()
}

struct SlotCursor {
    cnode: Capability,
    next: u64,
}

impl SlotCursor {
    /// Puts `cap` in the next slot; `None` once the CNode is full.
    fn insert(&mut self, cap: Capability) -> Option<u64> {
        if self.next >= 1 << ROOT_CNODE_RADIX {
            return None;
        }
        let index = self.next;
        insert_root(&mut Slots, Slots.cnode_slot(&self.cnode, index), cap).ok()?;
        self.next += 1;
        Some(index)
    }
}

/// Allocates and zeroes a naturally aligned block of `2^size_bits` bytes at boot.
fn zeroed_block(frames: &mut BootFrames<'_>, size_bits: u8, what: &str) -> u64 {
    let base =
        frames.allocate_aligned(size_bits).unwrap_or_else(|| panic!("no memory for the {what}"));
    arch::zero_physical(PhysRange::from_start_len(base, 1 << size_bits));
    base
}

/// Makes the root task: a TCB for `image`, ready to run, and the root CNode filled with
/// itself, IRQ control, ASI control, the root task's TCB, address space and IPC buffer,
/// the frames of every boot module, and every byte of free memory as untyped capabilities
/// (device memory last). The boot frame allocator is used up: after this the kernel
/// allocates nothing.
pub fn build(
    loader: &LoaderInfo,
    image: RootImage,
    mut frames: BootFrames<'_>,
) -> &'static RootTask {
    let root =
        root_cnode_cap(zeroed_block(&mut frames, ROOT_CNODE_RADIX + SLOT_SIZE_BITS, "root CNode"));
    let tcb = Tcb::at(zeroed_block(&mut frames, TCB_SIZE_BITS, "root TCB"));
    tcb.initialise();
    tcb.set_name(&image.name);
    tcb.set_priority(ROOT_PRIORITY);
    tcb.set_max_controlled_priority(ROOT_PRIORITY);
    tcb.set_ipc_buffer_address(IPC_BUFFER_ADDRESS);
    tcb.set_registers(&UserContext::new_user(image.entry, image.stack_top));

    let vspace_root = image.address_space.root().as_u64();
    let asid =
        super::asid::assign(vspace_root).expect("the first address space identifier is free");
    let vspace = Capability::VSpace { object: vspace_root, asid: Some(asid) };
    let ipc_buffer = Capability::Frame {
        base: image.ipc_buffer.as_u64(),
        size: FrameSize::Small4K,
        rights: Rights::READ | Rights::WRITE,
        device: false,
        mapping: None,
    };
    let mut cursor = SlotCursor { cnode: root, next: slot::NULL + 1 };
    for (index, cap) in [
        (slot::CNODE, root),
        (slot::IRQ_CONTROL, Capability::IrqControl),
        (slot::ASI_CONTROL, Capability::AsiControl),
        (slot::TCB, Capability::Tcb { object: tcb.address() }),
        (slot::VSPACE, vspace),
        (slot::IPC_BUFFER, ipc_buffer),
        (slot::IO_PORT_CONTROL, Capability::IoPortControl),
    ] {
        assert_eq!(cursor.insert(cap), Some(index), "fixed slots out of order");
    }
    for (source, destination) in [
        (slot::CNODE, TcbSlot::CSpaceRoot),
        (slot::VSPACE, TcbSlot::VSpaceRoot),
        (slot::IPC_BUFFER, TcbSlot::IpcBuffer),
    ] {
        copy(&mut Slots, Slots.cnode_slot(&root, source), tcb.slot(destination))
            .expect("the root task's own capabilities copy into its TCB");
    }
    let mut boot_info = BootInfo::new(ROOT_CNODE_RADIX);
    boot_info.ipc_buffer = IPC_BUFFER_ADDRESS;
    for module in loader.modules() {
        let first = cursor.next;
        for page in (module.range.start..module.range.end).step_by(PAGE_SIZE as usize) {
            let frame = Capability::Frame {
                base: page,
                size: FrameSize::Small4K,
                rights: Rights::READ,
                device: false,
                mapping: None,
            };
            cursor.insert(frame).expect("root CNode too small for the boot modules");
        }
        let (name, _) = split_module_line(module.line.as_str());
        let frames = SlotRange { start: first, end: cursor.next };
        let descriptor =
            ModuleDescriptor::new(name, frames, module.range.len()).expect("module name too long");
        boot_info
            .push_module(descriptor)
            .expect("more boot modules than the boot information lists");
    }

    let untyped_start = cursor.next;
    let free = frames.retire();
    let usable: heapless::Vec<PhysRange, { kernel_core::boot_info::MAX_MEMORY_REGIONS }> = loader
        .regions()
        .filter(|region| region.kind == RegionKind::Usable)
        .map(|region| region.range)
        .collect();
    super::sensitivity::init(&usable, free.as_slice());
    log!(
        "sensitivity: {} pageblocks (2 MiB) handed out whole are sensitive; the rest is not",
        super::sensitivity::sensitive_blocks()
    );
    let device = device_memory(loader);
    let blocks =
        free.as_slice().iter().flat_map(|range| split(*range).map(|block| (block, false))).chain(
            device.as_slice().iter().flat_map(|range| split(*range).map(|block| (block, true))),
        );
    let mut dropped = 0u64;
    for (block, device) in blocks {
        let descriptor = UntypedDescriptor { base: block.base, size_bits: block.size_bits, device };
        let cap = Capability::Untyped {
            base: block.base,
            size_bits: block.size_bits,
            device,
            watermark: 0,
        };
        if boot_info.push_untyped(descriptor).is_err() || cursor.insert(cap).is_none() {
            dropped += block.size();
        }
    }
    if dropped > 0 {
        log!(
            "boot: {} KiB of memory left out: more untyped blocks than the boot information lists",
            dropped >> 10
        );
    }
    boot_info.untyped_slots = SlotRange { start: untyped_start, end: cursor.next };
    boot_info.empty = SlotRange { start: cursor.next, end: 1 << ROOT_CNODE_RADIX };
    let mut encoded = [0u8; ENCODED_MAX];
    let len = boot_info.encode(&mut encoded).expect("ENCODED_MAX holds any boot information");
    ROOT_TASK.call_once(|| RootTask {
        tcb: tcb.address(),
        boot_args: image.boot_args,
        boot_info,
        encoded: (encoded, len),
    })
}

/// Physical address space the memory map does not mention at all, inside
/// [`DEVICE_WINDOW`]: where devices' registers and memory live.
fn device_memory(loader: &LoaderInfo) -> RangeSet<64> {
    let mut device = RangeSet::<64>::new();
    device.insert(DEVICE_WINDOW).expect("one range fits");
    for region in loader.regions() {
        device.remove(region.range).expect("memory map too fragmented for the device list");
    }
    device
}
