//! The physical window: all RAM mapped at [`PHYS_WINDOW_BASE`], so the kernel reaches any
//! frame at `PHYS_WINDOW_BASE + physical address` without mapping it first.
//!
//! Until the kernel's own tables are active the boot tables provide the first GiB of the
//! window; afterwards the window covers the pageblocks in [`MappedBlocks`].

use super::boot_constant::BootConstant;
use core::cell::Cell;
use core::sync::atomic::{AtomicU64, Ordering};
use kernel_core::memory::{
    PAGE_SIZE, PAGEBLOCK_SIZE, PhysRange, object_in_window, object_window_bound,
};
use x86_64::{PhysAddr, VirtAddr};

/// Where physical address 0 appears in every address space (PML4 slot 256).
pub const PHYS_WINDOW_BASE: u64 = 0xFFFF_8000_0000_0000;
/// The most physical memory the window maps: 64 GiB.
pub const WINDOW_MAX: u64 = 64 * 1024 * 1024 * 1024;
const BLOCK_WORDS: usize = (WINDOW_MAX / PAGEBLOCK_SIZE / 64) as usize;
/// What the boot page tables map of the window.
const BOOT_WINDOW: u64 = 1024 * 1024 * 1024;

/// One bit per pageblock of the window: set where the block is mapped.
pub struct MappedBlocks {
    words: [AtomicU64; BLOCK_WORDS],
}

impl MappedBlocks {
    const fn new() -> Self {
        Self { words: [const { AtomicU64::new(0) }; BLOCK_WORDS] }
    }

    pub fn set(&self, block_start: u64) {
        let index = (block_start / PAGEBLOCK_SIZE) as usize;
        self.words[index / 64].fetch_or(1 << (index % 64), Ordering::Relaxed);
    }

    /// Whether pageblock number `index` is mapped.
    /// Whether the window maps the pageblock starting at `block`.
    pub(super) fn contains(&self, block: u64) -> bool {
        self.contains_block(block / PAGEBLOCK_SIZE)
    }

    fn contains_block(&self, index: u64) -> bool {
        self.words
            .get((index / 64) as usize)
            .is_some_and(|word| word.load(Ordering::Relaxed) & (1 << (index % 64)) != 0)
    }
}

static MAPPED: MappedBlocks = MappedBlocks::new();
/// Zero while the boot tables are active: then the whole first GiB of the window works.
static KERNEL_TABLES_ACTIVE: AtomicU64 = AtomicU64::new(0);
/// The end of the window's mapped RAM, once the kernel's tables are active.
/// The [`object_window_bound`] for objects of up to [`MAX_OBJECT_WORDS`] words; until
/// the kernel's tables are active, 0, which only address 0 (in the boot window) meets.
static OBJECT_BOUND: BootConstant<u64> = BootConstant::new(0);

/// The most words [`object_words`] hands out at once (a TCB's 2 KiB).
const MAX_OBJECT_WORDS: usize = 256;

/// Where `phys` appears in the window.
pub fn window_address(phys: PhysAddr) -> VirtAddr {
    // Callers pass addresses the window maps (below WINDOW_MAX), so the sum is canonical:
    // no check is needed on this path, which every access to kernel objects takes.
    VirtAddr::new_truncate(PHYS_WINDOW_BASE + phys.as_u64())
}

/// The window's pageblock map, filled as the kernel tables are built.
/// The physical address of object memory the kernel holds `words` of.
#[inline(always)]
pub fn object_address<const N: usize>(words: &'static [Cell<u64>; N]) -> u64 {
    words.as_ptr() as u64 - PHYS_WINDOW_BASE
}

pub(super) fn mapped_blocks() -> &'static MappedBlocks {
    &MAPPED
}

pub(super) fn mark_kernel_tables_active(window_end: u64) {
    let bound = object_window_bound(window_end, (MAX_OBJECT_WORDS * 8) as u64);
    // SAFETY: this runs once, on the bootstrap CPU while it sets the kernel up, before
    // any other CPU runs and before any kernel object is reached.
    unsafe { OBJECT_BOUND.set(bound) };
    KERNEL_TABLES_ACTIVE.store(1, Ordering::Release);
}

/// Whether every byte of `range` is mapped in the window right now.
pub fn window_covers(range: PhysRange) -> bool {
    if range.is_empty() {
        return true;
    }
    if KERNEL_TABLES_ACTIVE.load(Ordering::Acquire) == 0 {
        return range.end <= BOOT_WINDOW;
    }
    // Objects the kernel reaches are small and naturally aligned, so this is nearly always
    // one block: checked on every access to kernel-object memory, it is on the hot path.
    let (first, last) = (range.start / PAGEBLOCK_SIZE, (range.end - 1) / PAGEBLOCK_SIZE);
    (first..=last).all(|block| MAPPED.contains_block(block))
}

/// Copies physical memory at `phys` into `buffer`; `false`, copying nothing, where the
/// window does not map all of it.
pub fn read(phys: u64, buffer: &mut [u8]) -> bool {
    if !window_covers(PhysRange::from_start_len(phys, buffer.len() as u64)) {
        return false;
    }
    let source = window_address(PhysAddr::new(phys)).as_ptr::<u8>();
    // SAFETY: the window maps every byte of the range (checked above) as ordinary
    // write-back RAM or firmware tables, and `buffer` is a distinct kernel buffer.
    unsafe { core::ptr::copy_nonoverlapping(source, buffer.as_mut_ptr(), buffer.len()) };
    true
}

/// The bytes of a boot module, borrowed through the window; `None` where the window does
/// not map all of it.
///
/// Boot modules are excluded from every allocator and nothing writes them after the
/// loader, so a shared `'static` borrow of them is sound.
pub fn boot_module_bytes(range: PhysRange) -> Option<&'static [u8]> {
    if !window_covers(range) {
        return None;
    }
    let start = window_address(PhysAddr::new(range.start)).as_ptr::<u8>();
    // SAFETY: the window maps the whole range (checked above) for the kernel's lifetime,
    // and the only callers pass boot-module memory, which the boot frame allocator never
    // hands out and nothing writes.
    Some(unsafe { core::slice::from_raw_parts(start, range.len() as usize) })
}

/// Fills `range` with zeros: memory the caller has just taken for new objects (a retype),
/// which nothing else refers to.
pub fn zero(range: PhysRange) {
    assert!(window_covers(range), "{range:x?} is outside the physical window");
    let target = window_address(PhysAddr::new(range.start)).as_mut_ptr::<u8>();
    // SAFETY: the window maps the range (asserted); the memory belongs to objects being
    // created, which nothing refers to yet (the capability system guarantees the untyped
    // region had no live objects there).
    unsafe { core::ptr::write_bytes(target, 0, range.len() as usize) };
}

/// Fills the frame at `frame` with zeros.
pub fn zero_frame(frame: PhysAddr) {
    assert!(
        window_covers(PhysRange::from_start_len(frame.as_u64(), PAGE_SIZE)),
        "frame {frame:?} is outside the physical window"
    );
    let target = window_address(frame).as_mut_ptr::<u8>();
    // SAFETY: the frame is mapped by the window (asserted) and is owned by the caller,
    // which just took it from the frame allocator: nothing else refers to it.
    unsafe { core::ptr::write_bytes(target, 0, PAGE_SIZE as usize) };
}

/// Copies `bytes` to physical memory at `phys`.
///
/// The destination is memory no kernel reference points to: a frame just taken from the
/// frame allocator, or user memory the kernel writes on a thread's behalf (its IPC
/// buffer), which user code may read and write too but the kernel never borrows.
pub fn write(phys: PhysAddr, bytes: &[u8]) {
    let range = PhysRange::from_start_len(phys.as_u64(), bytes.len() as u64);
    assert!(window_covers(range), "{range:x?} is outside the physical window");
    let target = window_address(phys).as_mut_ptr::<u8>();
    // SAFETY: the window maps the range (asserted); no Rust reference points into the
    // destination (documented contract), and it is distinct from `bytes`.
    unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), target, bytes.len()) };
}

#[cold]
fn object_outside_window(object: u64, count: usize) -> ! {
    panic!("object memory {object:#x} + {count} words lies outside the physical window")
}

/// The `N` words of kernel-object memory at physical address `object` (a kernel object's
/// address as capabilities and links hold it).
///
/// Kernel objects (CNodes, and the objects to come) live in untyped memory inside the
/// physical window, and the kernel reaches them only through these cells. That is sound
/// for whatever the memory holds: every bit pattern is a valid `u64`, the kernel forms no
/// other reference to object memory, and kernel code runs on one CPU at a time (interrupts
/// off; SMP will add the kernel lock). The capability system keeps object memory apart
/// from frames that user space maps, so nothing else writes it.
#[inline(always)]
pub fn object_words<const N: usize>(object: u64) -> &'static [Cell<u64>; N] {
    const { assert!(N <= MAX_OBJECT_WORDS) };
    // Kernel objects live only in RAM (retype refuses device memory), so below the top
    // of the window is inside it: on the hottest path the kernel has. The window ends
    // below 2^52, so that also makes `object` a valid physical address.
    if !object_in_window(object, OBJECT_BOUND.get()) {
        object_outside_window(object, N);
    }
    // Below the window's end, so `|` adds, and gives a canonical higher-half address
    // the compiler can see is not null.
    let start = (PHYS_WINDOW_BASE | object) as *const [Cell<u64>; N];
    // Aliasing is harmless: every access goes through these `Cell`s on the one CPU in the
    // kernel (see above).
    // SAFETY: the window maps the range (checked) for the kernel's lifetime, aligned for
    // u64; `Cell<u64>` has the layout of `u64` and every bit pattern is valid.
    unsafe { &*start }
}
