//! x86_64: boot, CPU setup, page tables, entry and exit paths. All of the kernel's
//! hardware access and nearly all of its `unsafe` lives under this directory.

mod acpi;
mod asi;
mod boot;
mod boot_constant;
mod context;
mod cpu;
mod entry;
mod flush;
mod fpu;
mod idt;
mod ioapic;
mod ioport;
#[cfg(feature = "ktest")]
mod ktests;
mod lapic;
mod paging;
mod pcid;
mod percpu;
mod phys;
mod pic;
mod pit;
mod power;
mod restricted;
mod serial;
mod stacks;
mod syscall;
mod usercopy;
mod vspace;

pub use acpi::cpus;
pub use asi::{end_exit as end_asi_exit, init as init_asi, is_restricted as asi_restricted};
pub use context::{
    THREAD_OBJECT_WORDS, THREAD_REGISTERS_AT, ThreadObject, TrapFrame as UserContext, enter_user,
    return_from_syscall,
};
pub use cpu::CpuFeatures;
pub use entry::Exception;
pub use flush::init as init_mitigations;
pub use fpu::{
    FPU_STATE_SIZE, FpuMode, owner as fpu_owner, reset as fpu_reset, restore as fpu_restore,
    save as fpu_save, set_owner as set_fpu_owner, trap_on_use as fpu_trap_on_use,
    trap_setting_fits as fpu_trap_setting_fits,
};
pub use ioapic::{IRQS, input as irq_input, set_masked as set_irq_masked};
pub use ioport::{PortWidth, read as port_read, write as port_write};
#[cfg(feature = "ktest")]
pub use ktests::TESTS as KERNEL_TESTS;
pub use lapic::{TimerInfo, TimerUnavailable};
#[cfg(feature = "ktest")]
pub use paging::activate_kernel_tables;
pub use paging::leave_address_space;
pub use paging::{AddressSpace, FrameSource, MapError, UserAccess, install_kernel_half};
pub use percpu::{
    MAX_CPUS, count_events as count_event, counters as event_counters, kernel_cpu_state,
};
pub use phys::{
    boot_module_bytes, object_address, object_words, read as read_physical,
    write as write_physical, zero as zero_physical, zero_frame,
};
pub use power::{exit_emulator, wait_for_interrupt};
pub use restricted::{
    exclude_at_boot as exclude_from_restricted_window, raw_entry as restricted_window_entry,
    set_block as set_restricted_block, verify as verify_restricted_window,
};
pub use serial::{write_bytes as console_write, write_bytes_forced as console_write_forced};
pub use usercopy::{copy_from_user, copy_to_user};
pub use vspace::{
    FrameAccess, PageSize, TableLevel, VSpaceError, install_table, map_frame, remove_table,
    unmap_frame,
};
pub use x86_64::{PhysAddr, VirtAddr};

/// Detects the CPU's features and turns on NX, SMEP, SMAP and UMIP where offered; sets up
/// the console. The first thing the kernel does.
pub fn early_init() -> CpuFeatures {
    serial::init();
    let features = CpuFeatures::detect();
    cpu::enable_protections(&features);
    features
}

/// Builds the kernel's page tables over `regions` and switches to them.
pub fn init_kernel_space(
    regions: &[kernel_core::memory::MemoryRegion],
    features: &CpuFeatures,
    frames: &mut dyn FrameSource,
) {
    paging::init_kernel_space(regions, features.nx, frames);
}

/// Sets up the bootstrap CPU for running user code: GDT, TSS, IDT, `syscall`, FPU and
/// SIMD state for user threads, the legacy interrupt controllers masked and the local
/// APIC on (its timer still stopped).
pub fn init_bootstrap_cpu(frames: &mut dyn FrameSource) -> FpuMode {
    percpu::init_bootstrap_cpu();
    idt::load();
    syscall::init();
    usercopy::init();
    pic::disable();
    lapic::init(frames);
    fpu::init()
}

/// Finds the I/O APIC in the MADT and masks all its inputs; returns how many it has, or
/// why there is none (then no IRQ can be handed to user space).
pub fn init_interrupt_routing(frames: &mut dyn FrameSource) -> Result<u32, &'static str> {
    match acpi::interrupt_routing() {
        Ok(Some(routing)) => Ok(ioapic::init(&routing, frames)),
        Ok(None) => Err("the MADT lists no I/O APIC"),
        Err(_) => Err("no MADT"),
    }
}

/// Calibrates this CPU's local APIC timer against the PIT and starts it: from now on user
/// code is preempted every `period_ms`.
pub fn start_preemption_timer(period_ms: u64) -> Result<TimerInfo, TimerUnavailable> {
    lapic::start_timer(period_ms)
}

/// Reads a kernel address that no page table maps, to test the kernel-fault report.
#[cfg(feature = "ktest")]
pub fn touch_unmapped_kernel_page() {
    let guard = stacks::guard_pages().next().expect("the boot stack has a guard page");
    // SAFETY: the guard page is deliberately unmapped; the read faults, and the kernel's
    // fault handler reports it and stops the machine, so execution never continues.
    let value = unsafe { core::ptr::read_volatile(guard.as_ptr::<u64>()) };
    panic!("reading the unmapped guard page {guard:?} returned {value:#x}");
}

/// Whether SMAP guards user memory from the kernel on this CPU.
#[cfg(feature = "ktest")]
pub fn smap_active() -> bool {
    cpu::smap_enabled()
}
