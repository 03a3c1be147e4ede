//! A guest test program and root task: starts memsrv (`memsrv-server`, its one module)
//! with two regions of two pageblocks each, one sensitive and one not, and the ASI
//! control capability, then checks it as three clients with badged endpoints (the first
//! is the manager): frames and frame batches of each sensitivity (the frame, the
//! kernel's `AsiControl::verify` and the restricted view agree), kernel objects, flips
//! forced both ways with the verifier after each, frees that revoke and give the counts
//! back, frames kept for their client (reused, and taken back), reclaiming what a live
//! client holds and what a dead one (`memhog`, its second
//! module) left, and refusals of bad requests.
//!
//! Prints `TEST PASS memsrv::<case>` or `TEST FAIL memsrv::<case> <message>` per case,
//! then `TEST DONE <passed> <failed>`. Cases run in order and each frees what it took.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]
#![allow(
    clippy::result_large_err,
    reason = "a failure carries its message inline (no heap here) and is the rare path"
)]

mod alloc_cases;
mod env;
mod kept_cases;
mod random_cases;
mod refuse_cases;
mod workload_cases;

use case_report::{Outcome, Tally};

use crate::env::Env;

libasi::entry!(main);

type Case = (&'static str, fn(&mut Env) -> Outcome);

const CASES: &[Case] = &[
    ("memsrv::alloc::nonsensitive_4k", alloc_cases::nonsensitive_4k),
    ("memsrv::alloc::sensitive_4k", alloc_cases::sensitive_4k),
    ("memsrv::alloc::flip_when_one_sensitivity_runs_out", alloc_cases::flip_when_one_runs_out),
    ("memsrv::alloc::frames_in_one_request", alloc_cases::frames_in_one_request),
    ("memsrv::alloc::kernel_objects", alloc_cases::kernel_objects),
    ("memsrv::free::revokes_every_copy_and_counts_return", alloc_cases::free_revokes),
    ("memsrv::kept::reuse_is_the_same_frame", kept_cases::reuse_is_the_same_frame),
    ("memsrv::kept::taken_back_for_the_quota", kept_cases::taken_back_for_the_quota),
    ("memsrv::kept::taken_back_when_memory_runs_out", kept_cases::taken_back_when_memory_runs_out),
    ("memsrv::kept::reclaimed_with_the_client", kept_cases::reclaimed_with_the_client),
    ("memsrv::refuse::bad_order_and_count", refuse_cases::bad_order_and_count),
    ("memsrv::refuse::bad_object", refuse_cases::bad_object),
    ("memsrv::refuse::out_of_memory", refuse_cases::out_of_memory),
    ("memsrv::refuse::quota_exceeded", refuse_cases::quota_exceeded),
    ("memsrv::refuse::not_yours_double_free_and_forged", refuse_cases::not_yours),
    ("memsrv::refuse::reclaim_needs_the_manager", refuse_cases::reclaim_needs_the_manager),
    ("memsrv::refuse::malformed_and_unbadged", refuse_cases::malformed_and_unbadged),
    ("memsrv::refuse::undelivered_capability_given_back", refuse_cases::undelivered_capability),
    ("memsrv::smoke::many_frames_mapped_or_not_as_asked", workload_cases::smoke),
    (
        "memsrv::alloc::cached_halves_give_way_when_slots_run_low",
        workload_cases::cached_halves_give_way,
    ),
    ("memsrv::mixed::flips_both_ways_the_forced_minimum", workload_cases::mixed_flips),
    ("memsrv::reclaim::a_live_client_loses_everything", workload_cases::reclaim),
    ("memsrv::reclaim::a_client_that_died", workload_cases::reclaim_dead),
    // Last: the flips random requests make leave the pageblocks split as no case expects.
    ("memsrv::refuse::random_messages_leave_nothing_held", random_cases::random_messages),
];

fn main() -> u64 {
    let mut tally = Tally::default();
    match env::setup() {
        Ok(mut env) => {
            for (name, case) in CASES {
                tally.record(name, case(&mut env));
            }
        }
        Err(failure) => tally.record("memsrv::setup", Err(failure)),
    }
    tally.finish();
    0
}
