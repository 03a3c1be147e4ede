# The everyday commands: `just qemu` boots the system, `just test` runs every test.
set shell := ["bash", "-euo", "pipefail", "-c"]

# Crates built and tested on the host.
host_crates := "-p syscall-abi -p kernel-core -p libasi -p memsrv -p tests -p protocol -p console-line -p case-protocol -p memsrv-api -p ipc-codec -p keystore-api"
# Crates built for x86_64-unknown-none: the kernel and the user programs.
guest_crates := "-p microkernel -p init -p syscall-probe -p bench -p bench-peer -p captest -p ipctest -p devtest -p console -p console-line -p echo -p client -p case-report -p case-protocol -p case-process -p testrunner -p memsrv-server -p memtest -p memhog -p keystore -p signer"

# List the recipes.
default:
    @just --list

# Install what is missing: QEMU and the Rust target.
deps:
    scripts/install-deps

# Boot the kernel with init in QEMU (TCG). Extra arguments go to the runner, e.g.
# `just qemu --smp 2 --append "..."`; ASI_KVM=1 uses KVM on a host with real VT-x/SVM.
qemu *ARGS: deps
    cargo run -q -p tests --bin run -- {{ARGS}}

# Build the kernel and the user programs (into target/guest).
build: deps
    cargo run -q -p tests --bin run -- --build-only

# Release images, TCG with icount; e.g. `just bench --iterations 5000 --json out.json`.
# Time kernel operations in guest instructions: a table, and target/bench/results.json.
bench *ARGS: deps
    cargo run -q -p tests --bin bench -- {{ARGS}}

# Fuzz the system calls longer than `just test` does: boots captest with only its fuzz
# case, e.g. `just fuzz 0x1234 1000000` (seed, calls); fails unless the case passes.
fuzz SEED="0x66757a7a63617073" CALLS="300000": deps
    ASI_TEST_TIMEOUT="${ASI_TEST_TIMEOUT:-3600}" cargo run -q -p tests --bin run -- --module "captest fuzz_seed={{SEED}} fuzz_calls={{CALLS}}" | tee /dev/stderr | grep '^TEST PASS cap::fuzz::' >/dev/null

# Run every test: host unit tests, then the in-kernel and user-mode tests in QEMU.
test: deps
    cargo test -q {{host_crates}} --lib --bins
    cargo test -q -p tests --test guest

# Lint host and guest crates with warnings as errors.
clippy: deps
    cargo clippy -q {{host_crates}} --all-targets -- -D warnings
    cargo clippy -q --target x86_64-unknown-none {{guest_crates}} -- -D warnings
    cargo clippy -q --target x86_64-unknown-none -p microkernel --features ktest -- -D warnings

# Check formatting.
fmt-check:
    cargo fmt --all --check
