//! In-kernel tests of the x86_64 layer: what the page tables, control registers, MSRs and
//! descriptor tables really contain after boot.

use super::context::SYSCALL_VECTOR;
use super::cpu::CpuFeatures;
use super::lapic;
use super::paging::{KERNEL_VIRT_OFFSET, kernel_mapping};
use super::percpu::{KERNEL_CODE_SELECTOR, SYSRET_BASE_SELECTOR, cpu_index};
use super::phys::{read, window_covers};
use crate::ktest::{KernelTest, TestResult, ensure};
use core::arch::x86_64::__cpuid;
use kernel_core::boot_info::BootInfo;
use kernel_core::memory::PhysRange;
use x86_64::VirtAddr;
use x86_64::instructions::tables::sidt;
use x86_64::registers::control::{Cr0, Cr0Flags, Cr4, Cr4Flags};
use x86_64::registers::model_specific::{Efer, EferFlags, GsBase, LStar, Msr, SFMask};
use x86_64::registers::rflags::RFlags;

pub const TESTS: &[KernelTest] = &[
    KernelTest {
        name: "kernel::paging::window_maps_ram_and_firmware_tables",
        run: window_maps_ram_and_firmware_tables,
    },
    KernelTest {
        name: "kernel::paging::kernel_sections_have_their_permissions",
        run: kernel_sections_have_their_permissions,
    },
    KernelTest { name: "kernel::cpu::protections_match_cpuid", run: protections_match_cpuid },
    KernelTest {
        name: "kernel::cpu::syscall_msrs_point_at_the_entry",
        run: syscall_msrs_point_at_the_entry,
    },
    KernelTest { name: "kernel::cpu::gs_base_points_at_this_cpu", run: gs_base_points_at_this_cpu },
    KernelTest { name: "kernel::idt::gates_point_at_their_stubs", run: gates_point_at_their_stubs },
    KernelTest {
        name: "kernel::timer::ticks_arrive_and_return_to_the_kernel",
        run: ticks_arrive_and_return_to_the_kernel,
    },
    KernelTest {
        name: "kernel::fpu::state_round_trips_between_threads",
        run: fpu_state_round_trips_between_threads,
    },
    KernelTest {
        name: "kernel::irq::pit_interrupt_arrives_through_the_io_apic",
        run: pit_interrupt_arrives_through_the_io_apic,
    },
    KernelTest { name: "kernel::acpi::bootstrap_cpu_is_listed", run: bootstrap_cpu_is_listed },
];

fn window_maps_ram_and_firmware_tables(boot_info: &BootInfo) -> TestResult {
    for region in boot_info.regions().filter(|r| r.kind.in_physical_window() && !r.range.is_empty())
    {
        ensure!(
            window_covers(region.range),
            "window misses {:x?} ({:?})",
            region.range,
            region.kind
        );
        let mut first_and_last = [0u8; 1];
        ensure!(
            read(region.range.start, &mut first_and_last),
            "cannot read {:#x}",
            region.range.start
        );
        ensure!(
            read(region.range.end - 1, &mut first_and_last),
            "cannot read {:#x}",
            region.range.end - 1
        );
    }
    let io_apic = PhysRange::from_start_len(0xfec0_0000, 0x1000);
    let mapped_as_ram =
        boot_info.regions().any(|r| r.kind.in_physical_window() && r.range.overlaps(&io_apic));
    ensure!(
        mapped_as_ram || !window_covers(io_apic),
        "device memory at {io_apic:x?} is in the window"
    );
    Ok(())
}

unsafe extern "C" {
    static __text_start: u8;
    static __rodata_start: u8;
    static __data_start: u8;
}

fn kernel_sections_have_their_permissions(_: &BootInfo) -> TestResult {
    let address = |symbol: &u8| VirtAddr::from_ptr(symbol);
    // SAFETY: only the linker symbols' addresses are taken.
    let (text, rodata, data) =
        unsafe { (address(&__text_start), address(&__rodata_start), address(&__data_start)) };
    let nx = Efer::read().contains(EferFlags::NO_EXECUTE_ENABLE);
    ensure!(kernel_mapping(text) == Some((false, true)), "text maps as {:?}", kernel_mapping(text));
    ensure!(
        kernel_mapping(rodata) == Some((false, !nx)),
        "rodata maps as {:?}",
        kernel_mapping(rodata)
    );
    ensure!(kernel_mapping(data) == Some((true, !nx)), "data maps as {:?}", kernel_mapping(data));
    for guard in super::stacks::guard_pages() {
        ensure!(kernel_mapping(guard).is_none(), "stack guard page {guard:?} is mapped");
    }
    let boot_identity = VirtAddr::new(0x20_0000);
    ensure!(kernel_mapping(boot_identity).is_none(), "the boot identity map survived");
    let image_start = VirtAddr::new(KERNEL_VIRT_OFFSET + crate::mem::kernel_image().start);
    ensure!(kernel_mapping(image_start).is_none(), "the 32-bit boot code is still mapped");
    ensure!(
        Cr0::read().contains(Cr0Flags::WRITE_PROTECT),
        "CR0.WP is off: the kernel could write read-only pages"
    );
    Ok(())
}

fn protections_match_cpuid(_: &BootInfo) -> TestResult {
    let features = CpuFeatures::detect();
    let cr4 = Cr4::read();
    let checks = [
        ("NXE", Efer::read().contains(EferFlags::NO_EXECUTE_ENABLE), features.nx),
        ("SMEP", cr4.contains(Cr4Flags::SUPERVISOR_MODE_EXECUTION_PROTECTION), features.smep),
        ("SMAP", cr4.contains(Cr4Flags::SUPERVISOR_MODE_ACCESS_PREVENTION), features.smap),
        ("UMIP", cr4.contains(Cr4Flags::USER_MODE_INSTRUCTION_PREVENTION), features.umip),
    ];
    for (name, enabled, offered) in checks {
        ensure!(enabled == offered, "{name} is {enabled} but CPUID offers {offered}");
    }
    ensure!(
        cr4.contains(Cr4Flags::PCID) == features.pcid,
        "CR4.PCIDE is {} but CPUID offers PCID {}",
        cr4.contains(Cr4Flags::PCID),
        features.pcid
    );
    Ok(())
}

fn syscall_msrs_point_at_the_entry(_: &BootInfo) -> TestResult {
    unsafe extern "C" {
        static syscall_entry: u8;
    }
    // SAFETY: only the symbol's address is taken.
    let entry = VirtAddr::from_ptr(unsafe { &syscall_entry });
    ensure!(LStar::read() == entry, "LSTAR is {:?}, entry is {entry:?}", LStar::read());
    // SAFETY: STAR exists on every CPU with long mode; reading it has no side effect.
    let star = unsafe { Msr::new(0xC000_0081).read() };
    let wanted = (u64::from(SYSRET_BASE_SELECTOR) << 48) | (u64::from(KERNEL_CODE_SELECTOR) << 32);
    ensure!(star == wanted, "STAR is {star:#x}, wanted {wanted:#x}");
    let mask = SFMask::read();
    for flag in
        [RFlags::INTERRUPT_FLAG, RFlags::ALIGNMENT_CHECK, RFlags::DIRECTION_FLAG, RFlags::TRAP_FLAG]
    {
        ensure!(mask.contains(flag), "SFMASK {mask:?} lets user code keep {flag:?} on entry");
    }
    ensure!(Efer::read().contains(EferFlags::SYSTEM_CALL_EXTENSIONS), "EFER.SCE is off");
    ensure!(SYSCALL_VECTOR > 255, "the syscall marker collides with a real vector");
    Ok(())
}

fn gs_base_points_at_this_cpu(_: &BootInfo) -> TestResult {
    ensure!(cpu_index() == 0, "bootstrap CPU reports index {}", cpu_index());
    let base = GsBase::read();
    let mut self_address = [0u8; 8];
    // SAFETY: the GS base points at this CPU's block, whose first word is its address.
    let first_word = unsafe { base.as_ptr::<u64>().read() };
    self_address.copy_from_slice(&first_word.to_le_bytes());
    ensure!(
        u64::from_le_bytes(self_address) == base.as_u64(),
        "gs:0 does not hold the block's address"
    );
    Ok(())
}

fn gates_point_at_their_stubs(_: &BootInfo) -> TestResult {
    unsafe extern "C" {
        static trap_stubs: u8;
    }
    // SAFETY: only the symbol's address is taken.
    let stubs = VirtAddr::from_ptr(unsafe { &trap_stubs }).as_u64();
    let table = sidt();
    ensure!(usize::from(table.limit) == 256 * 16 - 1, "IDT limit {}", table.limit);
    for vector in 0..256u64 {
        let mut gate = [0u8; 16];
        // SAFETY: the IDT register names the loaded, static table of 256 gates.
        let bytes = unsafe { table.base.as_ptr::<[u8; 16]>().add(vector as usize).read() };
        gate.copy_from_slice(&bytes);
        let offset = u64::from(u16::from_le_bytes([gate[0], gate[1]]))
            | u64::from(u16::from_le_bytes([gate[6], gate[7]])) << 16
            | u64::from(u32::from_le_bytes([gate[8], gate[9], gate[10], gate[11]])) << 32;
        ensure!(offset == stubs + vector * 16, "gate {vector} points at {offset:#x}");
        let ist = gate[4] & 7;
        let wanted_ist = match vector {
            2 => 2,
            8 => 1,
            18 => 3,
            _ => 0,
        };
        ensure!(ist == wanted_ist, "gate {vector} uses IST {ist}, wanted {wanted_ist}");
        ensure!(gate[5] == 0x8e, "gate {vector} attributes {:#x}", gate[5]);
    }
    Ok(())
}

fn bootstrap_cpu_is_listed(_: &BootInfo) -> TestResult {
    let apic_id = __cpuid(1).ebx >> 24;
    let cpus = super::acpi::cpus();
    ensure!(cpus.is_ok(), "no MADT: {:?}", cpus.err());
    let listed = cpus.map(|list| list.apic_ids().contains(&apic_id)).unwrap_or(false);
    ensure!(listed, "APIC id {apic_id} of the bootstrap CPU is not in the MADT");
    Ok(())
}

fn ticks_arrive_and_return_to_the_kernel(_: &BootInfo) -> TestResult {
    ensure!(lapic::timer_running(), "the local APIC timer did not start");
    let apic_id = __cpuid(1).ebx >> 24;
    ensure!(lapic::id() == apic_id, "APIC id register says {}, CPUID says {apic_id}", lapic::id());
    let start = lapic::ticks();
    for _ in 0..1000 {
        if lapic::ticks() >= start + 3 {
            break;
        }
        // SAFETY: interrupts are enabled only for the `hlt`: the timer interrupt returns to
        // this kernel code through `trap_common`, and they are off again before anything
        // else runs.
        unsafe { core::arch::asm!("sti", "hlt", "cli", options(nomem, nostack)) };
    }
    ensure!(
        lapic::ticks() >= start + 3,
        "only {} timer ticks while halting",
        lapic::ticks() - start
    );
    Ok(())
}

/// Puts `value` in both 64-bit halves of xmm0 and, with AVX, in the upper half of ymm0.
fn set_vector_register(value: u64, avx: bool) {
    // SAFETY: writes only xmm0/ymm0, which the kernel's own (soft-float) code never uses;
    // the FPU is enabled for SSE (and AVX when `avx`) by `fpu::init`.
    unsafe {
        core::arch::asm!("movq xmm0, {}", "punpcklqdq xmm0, xmm0", in(reg) value, options(nomem, nostack));
        if avx {
            core::arch::asm!("vinserti128 ymm0, ymm0, xmm0, 1", options(nomem, nostack));
        }
    }
}

/// The low 64 bits of xmm0 and, with AVX, of ymm0's upper half (else 0).
fn vector_register(avx: bool) -> [u64; 2] {
    let low: u64;
    let mut high = 0;
    // SAFETY: reads xmm0/ymm0 into general registers, clobbering only xmm1/ymm1, which
    // kernel code never uses.
    unsafe {
        core::arch::asm!("movq {}, xmm0", out(reg) low, options(nomem, nostack));
        if avx {
            core::arch::asm!("vextracti128 xmm1, ymm0, 1", "movq {}, xmm1", out(reg) high, options(nomem, nostack));
        }
    }
    [low, high]
}

fn fpu_state_round_trips_between_threads(_: &BootInfo) -> TestResult {
    let mode = super::fpu::init_mode();
    let cr4 = Cr4::read();
    ensure!(cr4.contains(Cr4Flags::OSFXSR), "CR4.OSFXSR is off: user SSE would fault");
    ensure!(cr4.contains(Cr4Flags::OSXSAVE) == mode.xsave, "CR4.OSXSAVE disagrees with {mode:?}");
    let wanted = |value: u64| [value, if mode.avx { value } else { 0 }];
    let mut frames = crate::mem::frames();
    let mut area = || crate::arch::FrameSource::allocate_zeroed(&mut frames).expect("test frames");
    let (first, second, fresh) = (area(), area(), area());
    drop(frames);
    for phys in [first, second, fresh] {
        super::fpu::reset(phys);
    }
    set_vector_register(0x1111_1111_1111_1111, mode.avx);
    super::fpu::save(first);
    set_vector_register(0x2222_2222_2222_2222, mode.avx);
    super::fpu::save(second);
    super::fpu::restore(first);
    let after_first = vector_register(mode.avx);
    super::fpu::restore(second);
    let after_second = vector_register(mode.avx);
    super::fpu::restore(fresh);
    let initial = vector_register(mode.avx);
    ensure!(after_first == wanted(0x1111_1111_1111_1111), "first thread got {after_first:x?}");
    ensure!(after_second == wanted(0x2222_2222_2222_2222), "second thread got {after_second:x?}");
    ensure!(initial == [0, 0], "a new thread would start with {initial:x?}");
    Ok(())
}

fn pit_interrupt_arrives_through_the_io_apic(_: &BootInfo) -> TestResult {
    const PIT_IRQ: u8 = 0;
    ensure!(super::ioapic::input(PIT_IRQ).is_some(), "ISA IRQ 0 reaches no I/O APIC input");
    let before = crate::object::irq::deliveries(PIT_IRQ);
    super::pit::start_periodic(1000);
    super::ioapic::set_masked(PIT_IRQ, false);
    for _ in 0..1000 {
        if crate::object::irq::deliveries(PIT_IRQ) > before {
            break;
        }
        super::power::wait_for_interrupt();
    }
    super::ioapic::set_masked(PIT_IRQ, true);
    let delivered = crate::object::irq::deliveries(PIT_IRQ) - before;
    ensure!(delivered == 1, "IRQ 0 delivered {delivered} times; the first delivery masks it");
    Ok(())
}
