//! The boot sequence, from the first Rust instruction to the first user instruction.

use crate::arch;
use crate::mem;
use crate::object;
use crate::sched;
use crate::thread::threads;
use kernel_core::boot_info::BootInfo;
use kernel_core::cmdline::kernel_options;
use kernel_core::memory::PhysRange;
use syscall_abi::boot_info::ENCODED_MAX;

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

/// The root task's boot information, encoded once for the `BootInfo` call.
static ENCODED_BOOT_INFO: spin::Once<([u8; ENCODED_MAX], usize)> = spin::Once::new();

fn encode_boot_info(info: &syscall_abi::boot_info::BootInfo) -> &'static [u8] {
    let (bytes, len) = ENCODED_BOOT_INFO.call_once(|| {
        let mut bytes = [0u8; ENCODED_MAX];
        let len = info.encode(&mut bytes).expect("ENCODED_MAX holds any boot information");
        (bytes, len)
    });
    &bytes[..*len]
}

fn start_root_task(boot_info: &BootInfo) -> ! {
    let module = boot_info
        .modules()
        .next()
        .unwrap_or_else(|| panic!("no boot module: nothing to run as the root task"));
    let mut thread = crate::loader::load(module, &mut mem::frames()).unwrap_or_else(|error| {
        panic!("cannot start the root task '{}': {error}", module.line.as_str())
    });
    let cspace = object::root::build(boot_info, mem::frames(), crate::loader::IPC_BUFFER_ADDRESS);
    log!(
        "root CSpace: {} slots, {} untyped capabilities ({} MiB), {} boot modules, slots {}..{} free",
        1u64 << cspace.boot_info.cnode_radix_bits,
        cspace.boot_info.untyped().len(),
        cspace
            .boot_info
            .untyped()
            .iter()
            .filter(|u| !u.device)
            .map(|u| 1u64 << u.size_bits)
            .sum::<u64>()
            >> 20,
        cspace.boot_info.modules().len(),
        cspace.boot_info.empty.start,
        cspace.boot_info.empty.end,
    );
    thread.cspace_root = cspace.root;
    thread.boot_info = Some(encode_boot_info(&cspace.boot_info));
    log!("starting root task {} (args '{}')", thread.name, thread.boot_args);
    threads().add(thread).unwrap_or_else(|_| panic!("thread table full at boot"));
    sched::start()
}
