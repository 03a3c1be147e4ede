//! The root task: the first program the kernel starts in user mode.
//!
//! It starts the system's servers from their boot modules: `memsrv-server` (the memory
//! server: owns the memory and hands out sensitive and nonsensitive frames and objects),
//! `console` (prints lines for the others), `echo` (answers requests), `client` (asks
//! echo, checks the answers, reports), `keystore` (keys in sensitive memory) and `signer`
//! (the keystore's client). It makes their endpoints, hands each process exactly the
//! capabilities it needs (badged, with the rights it needs: [`protocol`],
//! [`memsrv_api`] and `keystore_api` list them), waits for the client's report and prints
//! a summary through the console, then runs the signer's mix and reports what it cost
//! the kernel ([`keystore`]). Then it uses memsrv as a client ([`memory`]), prints a
//! report of what memsrv and the kernel did and exits. memsrv, the console and echo then wait for requests that never come; with every
//! thread blocked and no IRQ routed the kernel shuts down: that is how the system ends.
//! With the boot argument `console=interactive` the console also reads COM1's input and
//! the client answers each line typed, until Ctrl-D ([`console_input`]).
//!
//! Booted without those modules (`just qemu --module init`), it greets and exits.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

mod console_input;
mod keystore;
mod memory;

use core::fmt::{self, Write};

use console_input::ConsoleInput;
use libasi::boot::{self, BootInfo, ModuleDescriptor};
use libasi::cap::{
    AsiControl, CNodeAt, Cap, CapData, Endpoint, ObjectKind, Rights, Sensitivity, Slot,
    SlotAllocator, SlotRef, Untyped,
};
use libasi::fault::FaultMessage;
use libasi::ipc::IpcBuffer;
use libasi::memsrv::Client;
use libasi::message::Message;
use libasi::println;
use libasi::process::{Process, SpawnError, SpawnOptions, Spawner};
use memsrv_api::Object;
use protocol::{MAX_WORDS, OK, Text, badge, client};

libasi::entry!(main);

/// The servers, by module name, in the order they start.
const SERVERS: [&str; 6] = ["memsrv-server", "console", "echo", "client", "keystore", "signer"];

/// Priorities: memsrv and the console outrank their clients, so a request is served (a
/// line printed) as soon as it is sent; init (255, the root task's) outranks everything.
const MEMSRV_PRIORITY: u8 = 210;
const CONSOLE_PRIORITY: u8 = 200;
const ECHO_PRIORITY: u8 = 150;
const CLIENT_PRIORITY: u8 = 100;
const KEYSTORE_PRIORITY: u8 = 180;
const SIGNER_PRIORITY: u8 = 90;

fn main() -> u64 {
    println!("init: hello from user mode");
    let mut buf = [0; 256];
    let interactive = match boot::args(&mut buf) {
        Ok("") => false,
        Ok(args) => {
            println!("init: boot args: {args}");
            args.split_whitespace().any(|arg| arg == console_input::INTERACTIVE)
        }
        Err(error) => {
            println!("init: {error}");
            return 1;
        }
    };
    match run(interactive) {
        Ok(()) => 0,
        Err(error) => {
            println!("init: {error}");
            1
        }
    }
}

/// Why init gave up.
enum InitError {
    Kernel(&'static str, libasi::Error),
    Spawn(&'static str, SpawnError),
    NoMemory,
    NoSlots,
    TooManyRegions,
    Fault(&'static str, FaultMessage),
    Unexpected(u64, u64),
    ChecksFailed(u64, u64),
    Memsrv(&'static str, libasi::memsrv::Error),
    WrongSensitivity(Sensitivity, Sensitivity),
    Usage(u64),
    SignerFailed(u64),
}

impl fmt::Display for InitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Kernel(what, error) => write!(f, "{what}: {error}"),
            Self::Spawn(name, error) => write!(f, "cannot start {name}: {error}"),
            Self::NoMemory => f.write_str("the boot information lists no untyped RAM"),
            Self::NoSlots => f.write_str("no free slots left"),
            Self::TooManyRegions => f.write_str("more memory regions than memsrv can be granted"),
            Self::Fault(name, fault) => write!(
                f,
                "{name} faulted: {:?} {} at rip={:#x} address={:#x}",
                fault.kind, fault.code, fault.rip, fault.address
            ),
            Self::Unexpected(sender, label) => {
                write!(f, "unexpected message {label:#x} from badge {sender:#x}")
            }
            Self::ChecksFailed(passed, failed) => {
                write!(f, "client: {failed} checks failed ({passed} passed)")
            }
            Self::Memsrv(what, error) => write!(f, "{what}: memsrv: {error:?}"),
            Self::WrongSensitivity(asked, got) => {
                write!(f, "memsrv: asked for a {asked:?} frame, got a {got:?} one")
            }
            Self::Usage(pages) => write!(f, "memsrv: init holds {pages} pages, not as counted"),
            Self::SignerFailed(failed) => {
                write!(f, "signer: {failed} keystore answers were not as computed")
            }
        }
    }
}

trait Context<T> {
    fn context(self, what: &'static str) -> Result<T, InitError>;
}

impl<T> Context<T> for Result<T, libasi::Error> {
    fn context(self, what: &'static str) -> Result<T, InitError> {
        self.map_err(|error| InitError::Kernel(what, error))
    }
}

fn run(interactive: bool) -> Result<(), InitError> {
    let info = boot::info().context("boot information")?;
    let Some(modules) = find_servers(&info) else {
        println!(
            "init: no servers to start (boot modules memsrv-server, console, echo, client, keystore, signer)"
        );
        return Ok(());
    };
    let [memsrv_module, console_module, echo_module, client_module, keystore_module, signer_module] =
        modules;
    let buffer = IpcBuffer::root().context("the IPC buffer")?;
    let mut slots = SlotAllocator::new(info.empty);
    let division = memory::divide(&info, &mut slots)?;
    let bootstrap = division.bootstrap;

    // The endpoints: memsrv's, the console's, echo's, init's own for reports and faults,
    // and the keystore's.
    let first = slots.alloc_range(5).ok_or(InitError::NoSlots)?;
    bootstrap
        .retype(ObjectKind::Endpoint, 0, CNodeAt::ROOT, first, 5)
        .context("retype endpoints")?;
    let memsrv = Cap::<Endpoint>::from_slot(first);
    let console = Cap::<Endpoint>::from_slot(first + 1);
    let echo = Cap::<Endpoint>::from_slot(first + 2);
    let report = Cap::<Endpoint>::from_slot(first + 3);
    let keystore = Cap::<Endpoint>::from_slot(first + 4);

    // Each process's fault endpoint: the report endpoint, badged FAULT | its own badge.
    let mut fault_for = |badge: u64| -> Result<Cap<Endpoint>, InitError> {
        mint(&mut slots, report, Rights::WRITE, badge::FAULT | badge)
    };
    let memsrv_faults = fault_for(badge::MEMSRV)?;
    let console_faults = fault_for(badge::CONSOLE)?;
    let echo_faults = fault_for(badge::ECHO)?;
    let client_faults = fault_for(badge::CLIENT)?;
    let keystore_faults = fault_for(badge::KEYSTORE)?;
    let signer_faults = fault_for(badge::SIGNER)?;
    let init_console = mint(&mut slots, console, Rights::WRITE, badge::INIT)?;
    // init's own memsrv client capability: what memsrv hands out comes in the reply. init
    // is the manager: it may reclaim what a client held.
    let init_memsrv = mint(
        &mut slots,
        memsrv,
        Rights::WRITE | Rights::GRANT_REPLY,
        memsrv_api::badge::manager(memory::CLIENT_ID, memory::QUOTA_PAGES),
    )?;

    let input = if interactive { Some(ConsoleInput::new(bootstrap, &mut slots)?) } else { None };
    let input_badge = if input.is_some() { badge::INPUT } else { 0 };

    // memsrv, from the bootstrap region: its endpoint, the ASI control capability and
    // every other pageblock, moved (nobody else may carve from them).
    let mut memsrv_options = SpawnOptions::new(MEMSRV_PRIORITY)
        .cnode_radix(memsrv_api::CNODE_RADIX)
        .memory_bits(memory::MEMSRV_MEMORY_BITS)
        .fault_endpoint(memsrv_faults.cptr())
        .grant(memsrv.cptr(), Rights::READ)
        .grant(Cap::<AsiControl>::BOOT.cptr(), Rights::ALL);
    for region in &division.regions {
        memsrv_options = memsrv_options.grant_moved(region.cptr());
    }
    let _: Process = Spawner::new(bootstrap, &mut slots)
        .spawn(memsrv_module, &memsrv_options)
        .map_err(|error| InitError::Spawn("memsrv", error))?;

    // The other servers, each built from a pageblock init asks memsrv for.
    let client = Client::new(init_memsrv, buffer, Cap::ROOT);
    let mut spawn = |name: &'static str, module: &ModuleDescriptor, options: SpawnOptions| {
        let slot = slots.alloc().ok_or(InitError::NoSlots)?;
        let region = client
            .alloc::<Untyped>(Object::Untyped { size_bits: memory::PAGEBLOCK_BITS }, slot)
            .map_err(|error| InitError::Memsrv("memory for a server", error))?;
        Spawner::new(region.cap, &mut slots)
            .spawn(module, &options.memory_bits(memory::SERVER_MEMORY_BITS))
            .map_err(|error| InitError::Spawn(name, error))
    };
    let console_options = SpawnOptions::new(CONSOLE_PRIORITY)
        .fault_endpoint(console_faults.cptr())
        .grant(console.cptr(), Rights::READ);
    let console_options =
        input.as_ref().map_or(console_options, |input| input.console(console_options));
    let _: Process = spawn("console", console_module, console_options)?;
    let _: Process = spawn(
        "echo",
        echo_module,
        SpawnOptions::new(ECHO_PRIORITY)
            .fault_endpoint(echo_faults.cptr())
            .grant(echo.cptr(), Rights::READ)
            .grant_badged(console.cptr(), Rights::WRITE, badge::ECHO),
    )?;
    let client_options = SpawnOptions::new(CLIENT_PRIORITY)
        .fault_endpoint(client_faults.cptr())
        .grant_badged(console.cptr(), Rights::WRITE, badge::CLIENT | input_badge)
        .grant_badged(echo.cptr(), Rights::WRITE, badge::CLIENT)
        .grant_badged(report.cptr(), Rights::WRITE, badge::CLIENT);
    let client_options =
        input.as_ref().map_or(client_options, |input| input.client(client_options));
    let _: Process = spawn("client", client_module, client_options)?;
    let keystore_memsrv =
        memsrv_api::badge::client(keystore::MEMSRV_CLIENT_ID, keystore::MEMSRV_QUOTA_PAGES);
    let _: Process = spawn(
        "keystore",
        keystore_module,
        SpawnOptions::new(KEYSTORE_PRIORITY)
            .fault_endpoint(keystore_faults.cptr())
            .grant(keystore.cptr(), Rights::READ)
            .grant_badged(memsrv.cptr(), Rights::WRITE | Rights::GRANT_REPLY, keystore_memsrv)
            .grant_memory(keystore::TABLE_MEMORY_BITS),
    )?;
    // Started once the client has reported, so that their reports do not cross.
    let signer_process = spawn(
        "signer",
        signer_module,
        SpawnOptions::new(SIGNER_PRIORITY)
            .fault_endpoint(signer_faults.cptr())
            .grant_badged(keystore.cptr(), Rights::WRITE, badge::SIGNER)
            .grant_badged(keystore.cptr(), Rights::WRITE, badge::SIGNER_OTHER)
            .grant_badged(report.cptr(), Rights::WRITE, badge::SIGNER)
            .stopped(),
    )?;
    println!(
        "init: started memsrv, then console, echo, client, keystore and signer from memory memsrv gave"
    );

    let done = wait_for(report, buffer, badge::CLIENT, client::DONE)?;
    let (passed, failed) = (done.word(0), done.word(1));
    let mut line = Text::new();
    let _ = write!(line, "system up: client passed {passed} of {} checks", passed + failed);
    let mut words = [0; MAX_WORDS];
    let count = line.to_words(&mut words);
    let message =
        Message::with_words(protocol::console::WRITE, &words[..count]).unwrap_or(Message::new(0));
    let reply = init_console.call(buffer, &message).context("write to the console")?;
    if reply.label() != OK {
        return Err(InitError::Unexpected(badge::INIT, reply.label()));
    }
    if failed != 0 {
        return Err(InitError::ChecksFailed(passed, failed));
    }
    signer_process.start().context("start the signer")?;
    let mix = keystore::measure_mix(report, buffer)?;
    mix.print();
    if mix.failed() != 0 {
        return Err(InitError::SignerFailed(mix.failed()));
    }
    let (costs, stats) = memory::exercise(&client, &mut slots, buffer)?;
    let churn = memory::churn(client, &mut slots, buffer)?;
    memory::report(&division, &costs, &churn, &stats, buffer)
}

/// The modules of the servers, in [`SERVERS`] order; `None` unless all are there.
fn find_servers(info: &BootInfo) -> Option<[&ModuleDescriptor; SERVERS.len()]> {
    let mut found = [None; SERVERS.len()];
    for (name, module) in SERVERS.iter().zip(&mut found) {
        *module = info.modules().iter().find(|module| module.name() == *name);
    }
    let mut modules = [&info.modules()[0]; SERVERS.len()];
    for (module, found) in modules.iter_mut().zip(found) {
        *module = found?;
    }
    Some(modules)
}

/// A copy of `endpoint` with `rights` and `badge` in a new root slot.
fn mint(
    slots: &mut SlotAllocator,
    endpoint: Cap<Endpoint>,
    rights: Rights,
    badge: u64,
) -> Result<Cap<Endpoint>, InitError> {
    let slot = slots.alloc().ok_or(InitError::NoSlots)?;
    Cap::ROOT
        .mint(Slot::root(slot), SlotRef::root(endpoint.cptr().0), rights, CapData::badge(badge))
        .context("mint a badged endpoint")?;
    Ok(Cap::from_slot(slot))
}

/// Waits on the report endpoint for the message `label` from `from`; a fault of any
/// process ends the wait with an error.
fn wait_for(
    report: Cap<Endpoint>,
    buffer: IpcBuffer,
    from: u64,
    label: u64,
) -> Result<Message, InitError> {
    let (sender, message) = report.receive(buffer).context("wait for a report")?;
    if sender & badge::FAULT != 0 {
        let name = badge::name(sender & !badge::FAULT).unwrap_or("a server");
        return Err(match FaultMessage::decode(&message) {
            Ok(fault) => InitError::Fault(name, fault),
            Err(_) => InitError::Unexpected(sender, message.label()),
        });
    }
    if sender != from || message.label() != label {
        return Err(InitError::Unexpected(sender, message.label()));
    }
    Ok(message)
}
