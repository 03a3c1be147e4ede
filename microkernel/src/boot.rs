//! The boot sequence, from the first Rust instruction to the first user instruction.

use crate::arch;
use crate::mem;
use crate::object;
use crate::sched;
use kernel_core::boot_info::BootInfo;
use kernel_core::cmdline::kernel_options;
use kernel_core::memory::PhysRange;
use kernel_core::mitigation::{Asi, Mitigations};

/// Brings the machine up and starts the root task; a test build first runs the in-kernel
/// tests and stops there if any failed. Never returns.
pub fn kernel_main(multiboot_magic: u32, multiboot_info: u64) -> ! {
    let features = arch::early_init();
    log!("booting");
    let boot_info = BootInfo::from_multiboot(multiboot_magic, multiboot_info, &arch::read_physical)
        .unwrap_or_else(|error| panic!("unusable boot information: {error:?}"));
    let mut options = heapless::String::<{ kernel_core::boot_info::MAX_COMMAND_LINE }>::new();
    for option in kernel_options(boot_info.command_line.as_str()) {
        let _ = options.push_str(option);
        let _ = options.push(' ');
    }
    log!("command line: {}", options.trim_end());
    log_memory_map(&boot_info);

    mem::init(mem::free_memory(&boot_info));
    let regions: heapless::Vec<_, { kernel_core::boot_info::MAX_MEMORY_REGIONS }> =
        boot_info.regions().copied().collect();
    arch::init_kernel_space(&regions, &features, &mut mem::frames());
    let fpu = arch::init_bootstrap_cpu(&mut mem::frames());
    log!(
        "cpu: nx={} smep={} smap={} umip={} pcid={} xsave={} avx={}",
        features.nx,
        features.smep,
        features.smap,
        features.umip,
        features.pcid,
        fpu.xsave,
        fpu.avx
    );
    log_cpus();
    init_mitigations(boot_info.command_line.as_str());
    match arch::init_interrupt_routing(&mut mem::frames()) {
        Ok(inputs) => log!("irq: I/O APIC with {inputs} inputs, all masked"),
        Err(reason) => log!("irq: no interrupts for user space ({reason})"),
    }
    match arch::start_preemption_timer(sched::TIMESLICE_MS) {
        Ok(timer) => log!(
            "timer: local APIC timer at {} ticks/ms, timeslice {} ms",
            timer.ticks_per_ms,
            sched::TIMESLICE_MS
        ),
        Err(error) => log!("timer: unavailable ({error:?}); user threads are not preempted"),
    }
    let (used, free) = mem::frames().usage();
    log!("memory: {} KiB used by the kernel at boot, {} MiB free", used * 4, free >> 20);

    #[cfg(feature = "ktest")]
    crate::ktest::run_all(&boot_info);

    start_root_task(&boot_info)
}

/// Chooses the mitigation mode and ASI setting the command line asks for (moving the CPU
/// onto the kernel's restricted table) and says what the CPU offers.
fn init_mitigations(command_line: &str) {
    let mode = Mitigations::from_command_line(command_line).unwrap_or_else(|unknown| {
        log!("mitigations: unknown mode '{unknown}', using off");
        Mitigations::Off
    });
    let asi = Asi::from_command_line(command_line).unwrap_or_else(|unknown| {
        log!("mitigations: unknown asi setting '{unknown}', using on");
        Asi::On
    });
    let support = arch::init_mitigations(mode);
    arch::init_asi(asi);
    let found = |present: bool| if present { "found" } else { "absent" };
    log!(
        "mitigations: {}; asi {}; ibpb {}, l1d flush {}, verw (md_clear) {}, pcid {}",
        mode.name(),
        asi.name(),
        found(support.ibpb),
        if support.l1d_flush { "by MSR" } else { "in software (no MSR)" },
        found(support.md_clear),
        if support.pcid { "found (PCID pairs in use)" } else { "absent" }
    );
}

fn log_memory_map(boot_info: &BootInfo) {
    for region in boot_info.regions() {
        log!("memory: {:#014x}..{:#014x} {:?}", region.range.start, region.range.end, region.kind);
    }
    for module in boot_info.modules() {
        let PhysRange { start, end } = module.range;
        log!("module: {start:#x}..{end:#x} '{}'", module.line.as_str());
    }
}

fn log_cpus() {
    match arch::cpus() {
        Ok(cpus) => {
            let mut ids = heapless::String::<256>::new();
            for id in cpus.apic_ids() {
                use core::fmt::Write;
                let _ = write!(ids, " {id}");
            }
            log!("acpi: {} CPUs (APIC ids{ids})", cpus.apic_ids().len());
            if cpus.ignored > 0 {
                log!(
                    "acpi: {} more CPUs beyond the kernel's limit of {}",
                    cpus.ignored,
                    arch::MAX_CPUS
                );
            }
        }
        Err(error) => log!("acpi: no CPU list ({error}); running on the bootstrap CPU only"),
    }
}

fn start_root_task(boot_info: &BootInfo) -> ! {
    let module = boot_info
        .modules()
        .next()
        .unwrap_or_else(|| panic!("no boot module: nothing to run as the root task"));
    let image = crate::loader::load(module, &mut mem::frames()).unwrap_or_else(|error| {
        panic!("cannot start the root task '{}': {error}", module.line.as_str())
    });
    let root = object::root::build(boot_info, image, mem::frames());
    let info = &root.boot_info;
    log!(
        "root CSpace: {} slots, {} untyped capabilities ({} MiB), {} boot modules, slots {}..{} free",
        1u64 << info.cnode_radix_bits,
        info.untyped().len(),
        info.untyped().iter().filter(|u| !u.device).map(|u| 1u64 << u.size_bits).sum::<u64>() >> 20,
        info.modules().len(),
        info.empty.start,
        info.empty.end,
    );
    log!("starting root task {} (args '{}')", root.thread().name(), root.boot_args);
    sched::make_runnable(root.thread());
    sched::run()
}
