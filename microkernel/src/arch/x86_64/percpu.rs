//! Per-CPU state of the arch layer, reached through the GS base.
//!
//! While the kernel runs, `IA32_GS_BASE` points at this CPU's [`CpuBlock`]; while user
//! code runs, the kernel's value waits in `IA32_KERNEL_GS_BASE` and `swapgs` on every
//! entry and exit exchanges the two. The entry assembly relies on the block's field
//! offsets, which are fixed by `repr(C)` and checked below.

use super::stacks::{BOOT_IST_STACKS, BOOT_STACK};
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU64, Ordering};
use kernel_core::pcid::PcidCache;
use spin::Once;
use syscall_abi::counters::{self, Counter};
use x86_64::VirtAddr;
use x86_64::instructions::segmentation::{CS, DS, ES, SS, Segment};
use x86_64::instructions::tables::load_tss;
use x86_64::registers::model_specific::{GsBase, KernelGsBase};
use x86_64::registers::segmentation::SegmentSelector;
use x86_64::structures::gdt::{Descriptor, GlobalDescriptorTable};
use x86_64::structures::tss::TaskStateSegment;

/// The most CPUs the kernel supports.
pub const MAX_CPUS: usize = 64;

/// Selectors fixed by the GDT layout, which `syscall`/`sysret` dictate: kernel code, then
/// kernel data; a 32-bit user code slot (unused), user data, then 64-bit user code.
pub const KERNEL_CODE_SELECTOR: u16 = 0x08;
pub const KERNEL_DATA_SELECTOR: u16 = 0x10;
pub const SYSRET_BASE_SELECTOR: u16 = 0x18;
pub const USER_DATA_SELECTOR: u16 = 0x20 | 3;
pub const USER_CODE_SELECTOR: u16 = 0x28 | 3;

/// The part of a CPU's state that entry assembly reads through `gs:`.
#[repr(C)]
pub struct CpuBlock {
    /// `gs:0`: where the block itself is, so Rust can find it from `gs`.
    self_address: AtomicU64,
    /// `gs:8`: the top of this CPU's kernel stack, loaded on `syscall`.
    kernel_stack_top: AtomicU64,
    /// `gs:16`: the user stack pointer, parked during `syscall` entry.
    user_stack_scratch: AtomicU64,
    /// `gs:24`: this CPU's index, 0 for the bootstrap CPU.
    index: AtomicU64,
    /// `gs:32`: this CPU's TSS. Its `rsp0` (`gs:36`) is the top of the running thread's
    /// register area (in its TCB), where interrupts from user mode and, reading it from
    /// here, `syscall` save its registers: one word for both, written with one
    /// `gs:`-relative store on a thread switch.
    tss: TssCell,
    /// `gs:136`: the FPU's owner and trap setting (see `fpu`), read by the IPC fastpath.
    fpu: AtomicU64,
    /// `gs:144` on: the event counters, in `syscall_abi::counters::Counter` order.
    counters: [AtomicU64; counters::COUNT],
    /// Nonzero while this CPU runs on an unrestricted table after an ASI exit (`asi`).
    unrestricted: AtomicU64,
    /// The PCID pairs this CPU gives its tables (`pcid`; unused without PCID).
    pcids: PcidCache,
    /// The generic kernel's state of this CPU, found through `gs:0`.
    kernel: crate::cpu::Cpu,
}

pub const CPU_BLOCK_KERNEL_STACK_OFFSET: usize = 8;
pub const CPU_BLOCK_USER_STACK_OFFSET: usize = 16;
const CPU_BLOCK_TSS_OFFSET: usize = 32;
/// Where the TSS keeps `rsp0`.
const TSS_RSP0_OFFSET: usize = 4;
pub const CPU_BLOCK_USER_FRAME_OFFSET: usize = CPU_BLOCK_TSS_OFFSET + TSS_RSP0_OFFSET;
const CPU_BLOCK_FPU_OFFSET: usize = 136;
const CPU_BLOCK_COUNTERS_OFFSET: usize = 144;
/// Where the `syscall` entry counts itself.
pub const CPU_BLOCK_SYSCALL_COUNTER_OFFSET: usize =
    CPU_BLOCK_COUNTERS_OFFSET + 8 * Counter::SyscallEntries as usize;
const _: () = {
    assert!(core::mem::offset_of!(CpuBlock, self_address) == 0);
    assert!(core::mem::offset_of!(CpuBlock, kernel_stack_top) == CPU_BLOCK_KERNEL_STACK_OFFSET);
    assert!(core::mem::offset_of!(CpuBlock, user_stack_scratch) == CPU_BLOCK_USER_STACK_OFFSET);
    assert!(core::mem::offset_of!(CpuBlock, index) == 24);
    assert!(core::mem::offset_of!(CpuBlock, tss) == CPU_BLOCK_TSS_OFFSET);
    assert!(core::mem::offset_of!(TaskStateSegment, privilege_stack_table) == TSS_RSP0_OFFSET);
    assert!(core::mem::offset_of!(CpuBlock, fpu) == CPU_BLOCK_FPU_OFFSET);
    assert!(core::mem::offset_of!(CpuBlock, counters) == CPU_BLOCK_COUNTERS_OFFSET);
};

/// A CPU's TSS. The CPU reads it (the kernel stack for interrupts from user mode); the
/// kernel changes `rsp0` on every switch to another thread, so it is only ever reached
/// through raw pointers and `gs:`.
struct TssCell(UnsafeCell<TaskStateSegment>);

// SAFETY: each TSS is touched only by its own CPU (set-up, then `rsp0` on its own thread
// switches), with interrupts off.
unsafe impl Sync for TssCell {}

static CPU_BLOCKS: [CpuBlock; MAX_CPUS] = [const {
    CpuBlock {
        self_address: AtomicU64::new(0),
        kernel_stack_top: AtomicU64::new(0),
        user_stack_scratch: AtomicU64::new(0),
        index: AtomicU64::new(0),
        tss: TssCell(UnsafeCell::new(TaskStateSegment::new())),
        fpu: AtomicU64::new(0),
        counters: [const { AtomicU64::new(0) }; counters::COUNT],
        unrestricted: AtomicU64::new(0),
        pcids: PcidCache::new(),
        kernel: crate::cpu::Cpu::new(),
    }
}; MAX_CPUS];

static GDT: [Once<GlobalDescriptorTable<8>>; MAX_CPUS] = [const { Once::new() }; MAX_CPUS];

/// Sets up the bootstrap CPU: its GDT and TSS, segment registers and GS base.
pub fn init_bootstrap_cpu() {
    let index = 0;
    let block = &CPU_BLOCKS[index];
    block.self_address.store(block as *const CpuBlock as u64, Ordering::Relaxed);
    block.kernel_stack_top.store(BOOT_STACK.top().as_u64(), Ordering::Relaxed);
    block.index.store(index as u64, Ordering::Relaxed);

    let tss = block.tss.0.get();
    // SAFETY: the bootstrap CPU sets up its own TSS once, before loading it.
    unsafe {
        (*tss).privilege_stack_table[0] = BOOT_STACK.top();
        for (slot, stack) in BOOT_IST_STACKS.iter().enumerate() {
            (*tss).interrupt_stack_table[slot] = stack.top();
        }
    }
    let gdt = GDT[index].call_once(|| {
        let mut gdt = GlobalDescriptorTable::empty();
        gdt.append(Descriptor::kernel_code_segment());
        gdt.append(Descriptor::kernel_data_segment());
        gdt.append(Descriptor::UserSegment(0));
        gdt.append(Descriptor::user_data_segment());
        gdt.append(Descriptor::user_code_segment());
        // SAFETY: the TSS is static, so it outlives the GDT; it is reached only through
        // raw pointers (see `TssCell`).
        gdt.append(unsafe { Descriptor::tss_segment_unchecked(tss) });
        gdt
    });
    gdt.load();
    // SAFETY: the selectors index the GDT just loaded, whose layout is fixed above; the
    // TSS descriptor is at 0x30 and its TSS lives for the kernel's lifetime.
    unsafe {
        CS::set_reg(SegmentSelector(KERNEL_CODE_SELECTOR));
        DS::set_reg(SegmentSelector(KERNEL_DATA_SELECTOR));
        ES::set_reg(SegmentSelector(KERNEL_DATA_SELECTOR));
        SS::set_reg(SegmentSelector(KERNEL_DATA_SELECTOR));
        load_tss(SegmentSelector(0x30));
    }
    GsBase::write(VirtAddr::new(block.self_address.load(Ordering::Relaxed)));
    KernelGsBase::write(VirtAddr::zero());
}

/// The word of this CPU's block at byte `OFFSET`: one of its `u64` words that only this
/// CPU writes ([`CPU_BLOCK_USER_FRAME_OFFSET`], [`CPU_BLOCK_FPU_OFFSET`]), read with one
/// `gs:`-relative load.
#[inline(always)]
fn block_word<const OFFSET: usize>() -> u64 {
    const { assert!(OFFSET == CPU_BLOCK_USER_FRAME_OFFSET || OFFSET == CPU_BLOCK_FPU_OFFSET) };
    let word: u64;
    // SAFETY: GS base points at this CPU's block whenever kernel code runs (module docs),
    // and `OFFSET` is one of its words (checked above), which only this CPU writes.
    unsafe {
        core::arch::asm!(
            "mov {word}, gs:[{offset}]",
            word = out(reg) word,
            offset = const OFFSET,
            options(nostack, readonly, preserves_flags),
        );
    }
    word
}

/// Sets the word [`block_word`] reads, with one `gs:`-relative store.
#[inline(always)]
fn set_block_word<const OFFSET: usize>(word: u64) {
    const { assert!(OFFSET == CPU_BLOCK_USER_FRAME_OFFSET || OFFSET == CPU_BLOCK_FPU_OFFSET) };
    // (1) For `rsp0`: the CPU reads it only when an interrupt arrives from user mode,
    // which cannot happen now (interrupts are off in the kernel).
    // SAFETY: as in `block_word`; nothing else reads or writes the word meanwhile (1).
    unsafe {
        core::arch::asm!(
            "mov gs:[{offset}], {word}",
            word = in(reg) word,
            offset = const OFFSET,
            options(nostack, preserves_flags),
        );
    }
}

/// Makes `frame_top` (the top of a thread's register area, 16-byte aligned) where this
/// CPU saves user registers on `syscall` and on interrupts from user mode: its TSS `rsp0`.
#[inline(always)]
pub fn set_user_frame_top(frame_top: u64) {
    set_block_word::<CPU_BLOCK_USER_FRAME_OFFSET>(frame_top);
}

/// The generic kernel's state of this CPU (`crate::cpu::this_cpu`).
#[inline(always)]
pub fn kernel_cpu_state() -> &'static crate::cpu::Cpu {
    &kernel_block().kernel
}

/// Counts one event of kind `COUNTER` (a `Counter` as its index) on this CPU: one
/// instruction, so that counting stays on even on the IPC fastpath.
#[inline(always)]
pub fn count<const COUNTER: usize>() {
    const { assert!(COUNTER < counters::COUNT) };
    // SAFETY: GS base points at this CPU's block whenever kernel code runs (module docs);
    // the word at this offset is one of its counters, which only this CPU writes.
    unsafe {
        core::arch::asm!(
            "inc qword ptr gs:[{offset}]",
            offset = const CPU_BLOCK_COUNTERS_OFFSET + 8 * COUNTER,
            options(nostack),
        );
    }
}

/// Counts `events` events of kind `counter` on this CPU, for the rarer events whose kind
/// the caller picks at run time.
pub fn count_events(counter: Counter, events: u64) {
    let block = kernel_block();
    block.counters[counter as usize].fetch_add(events, Ordering::Relaxed);
}

/// Whether this CPU runs on an unrestricted table after an ASI exit. Takes no lock.
#[inline(always)]
pub fn is_unrestricted() -> bool {
    kernel_block().unrestricted.load(Ordering::Relaxed) != 0
}

/// Records whether this CPU runs on an unrestricted table.
pub fn set_unrestricted(unrestricted: bool) {
    kernel_block().unrestricted.store(u64::from(unrestricted), Ordering::Relaxed);
}

/// This CPU's PCID pairs.
pub fn pcids() -> &'static PcidCache {
    &kernel_block().pcids
}

/// This CPU's block.
#[inline(always)]
fn kernel_block() -> &'static CpuBlock {
    let block: u64;
    // (1) `gs:0` holds the address of this CPU's block, a static, written before GS base
    // points at the block and never changed: a pure read (`pure, nomem`).
    // SAFETY: GS base points at this CPU's block whenever kernel code runs (module docs),
    // so the read gives a valid, live `CpuBlock` address (1).
    unsafe {
        core::arch::asm!(
            "mov {}, gs:[0]",
            out(reg) block,
            options(pure, nomem, nostack, preserves_flags),
        );
        &*(block as *const CpuBlock)
    }
}

/// The event counters of CPU `cpu`, if it is up.
pub fn counters(cpu: usize) -> Option<[u64; counters::COUNT]> {
    let block = CPU_BLOCKS.get(cpu)?;
    (block.self_address.load(Ordering::Relaxed) != 0)
        .then(|| core::array::from_fn(|index| block.counters[index].load(Ordering::Relaxed)))
}

/// This CPU's FPU word (see `fpu`).
#[inline(always)]
pub fn fpu_word() -> u64 {
    block_word::<CPU_BLOCK_FPU_OFFSET>()
}

/// Sets this CPU's FPU word.
#[inline(always)]
pub fn set_fpu_word(word: u64) {
    set_block_word::<CPU_BLOCK_FPU_OFFSET>(word);
}

/// Where this CPU saves user registers now: read through GS, as the entry code does, since
/// every system call's way out needs it.
#[inline]
pub fn user_frame_top() -> VirtAddr {
    VirtAddr::new_truncate(block_word::<CPU_BLOCK_USER_FRAME_OFFSET>())
}

#[cfg(feature = "ktest")]
/// The index of the CPU this runs on.
#[inline(always)]
pub fn cpu_index() -> usize {
    let index: u64;
    // (1) Kernel code never moves between CPUs and the index is written before GS base
    // points at the block, so the read is a pure function (`pure, nomem`).
    // SAFETY: GS base points at this CPU's block whenever kernel code runs (set at CPU
    // bring-up, swapped on every entry and exit): `gs:24` is its index, unchanging (1).
    unsafe {
        core::arch::asm!(
            "mov {}, gs:[24]",
            out(reg) index,
            options(pure, nomem, nostack, preserves_flags),
        );
    }
    index as usize
}
