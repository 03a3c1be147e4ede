use super::*;
use crate::test_rng::XorShift;
use core::convert::Infallible;
use std::collections::BTreeMap;

const S: Sensitivity = Sensitivity::Sensitive;
const N: Sensitivity = Sensitivity::Nonsensitive;
const FRAMES: usize = 1 << PAGEBLOCK_ORDER;

/// Pageblock `i` sits at 1 GiB + 2i pageblocks: the gaps between them are unmanaged, and
/// they are registered highest first so that construction has to sort.
fn base(i: usize) -> u64 {
    0x4000_0000 + 2 * i as u64 * PAGEBLOCK_SIZE
}

fn allocator<const P: usize>(sensitivities: &[Sensitivity]) -> Allocator<P> {
    let pageblocks = sensitivities
        .iter()
        .enumerate()
        .rev()
        .map(|(i, &s)| (PageblockAddr::new(base(i)).unwrap(), s));
    let allocator = Allocator::new(pageblocks).unwrap();
    allocator.check_invariants().unwrap();
    allocator
}

fn alloc<const P: usize>(
    allocator: &mut Allocator<P>,
    order: u8,
    sensitivity: Sensitivity,
) -> Result<Allocation, AllocError<Infallible>> {
    allocator.allocate(order, sensitivity, |_, _| Ok(()))
}

fn bytes(order: u8) -> u64 {
    order_bytes(order).unwrap()
}

/// Free blocks of `sensitivity` of order `order` or larger.
fn free_at_or_above(stats: &Stats, sensitivity: Sensitivity, order: u8) -> u64 {
    (order..=PAGEBLOCK_ORDER)
        .map(|o| stats.free_blocks(FreeList::new(sensitivity, o).unwrap()))
        .sum()
}

fn all_wholly_free<const P: usize>(allocator: &Allocator<P>, pageblocks: u64) -> bool {
    let stats = allocator.stats();
    let top: u64 =
        Sensitivity::ALL.iter().map(|&s| stats.free_blocks(FreeList::pageblocks(s))).sum();
    let lower: u64 = FreeList::all()
        .filter(|list| list.order() < PAGEBLOCK_ORDER)
        .map(|list| stats.free_blocks(list))
        .sum();
    top == pageblocks
        && lower == 0
        && Sensitivity::ALL.iter().all(|&s| stats.allocated_bytes(s) == 0)
}

#[test]
fn construction_sorts_counts_and_rejects_bad_sets() {
    let allocator: Allocator<4> = allocator(&[S, N, S]);
    let stats = allocator.stats();
    assert_eq!((stats.pageblocks(S), stats.pageblocks(N), stats.flips()), (2, 1, 0));
    assert_eq!(stats.free_blocks(FreeList::pageblocks(S)), 2);
    assert_eq!(stats.free_bytes_total(N), PAGEBLOCK_SIZE);
    assert_eq!(allocator.sensitivity_of(base(1) + 0x1234), Some(N));
    assert_eq!(allocator.sensitivity_of(base(1) + PAGEBLOCK_SIZE), None);

    let twice = PageblockAddr::new(base(0)).unwrap();
    assert_eq!(
        Allocator::<4>::new([(twice, S), (twice, N)]).unwrap_err(),
        InitError::DuplicatePageblock(twice)
    );
    let three = (0..3).map(|i| (PageblockAddr::new(base(i)).unwrap(), S));
    assert_eq!(
        Allocator::<2>::new(three).unwrap_err(),
        InitError::TooManyPageblocks { capacity: 2 }
    );
}

#[test]
fn allocations_have_the_order_alignment_and_sensitivity_asked_for() {
    let mut allocator: Allocator<2> = allocator(&[S, N]);
    for order in [0, 3, 9, 1] {
        for sensitivity in [S, N] {
            let wanted = if order == 9 { 0 } else { order };
            let Allocation { block, flipped } = alloc(&mut allocator, wanted, sensitivity).unwrap();
            assert_eq!(flipped, None);
            assert_eq!(block.order, wanted);
            assert_eq!(block.addr % bytes(wanted), 0);
            assert_eq!(allocator.sensitivity_of(block.addr), Some(sensitivity));
            assert!(allocator.is_allocated(block));
            allocator.check_invariants().unwrap();
        }
    }
}

#[test]
fn all_frames_of_a_pageblock_freed_in_random_order_merge_to_one_block() {
    let mut rng = XorShift::new(0x5eed);
    let mut allocator: Allocator<1> = allocator(&[S]);
    for _ in 0..3 {
        let mut blocks: Vec<Block> =
            (0..FRAMES).map(|_| alloc(&mut allocator, 0, S).unwrap().block).collect();
        assert_eq!(alloc(&mut allocator, 0, S), Err(AllocError::OutOfMemory));
        assert_eq!(allocator.stats().allocated_bytes(S), PAGEBLOCK_SIZE);
        rng.shuffle(&mut blocks);
        for block in blocks {
            allocator.free(block).unwrap();
            allocator.check_invariants().unwrap();
        }
        assert!(all_wholly_free(&allocator, 1));
    }
}

/// Everything the random test knows about the blocks it holds.
struct Live {
    blocks: BTreeMap<u64, (Block, Sensitivity)>,
}

impl Live {
    fn overlaps(&self, block: Block) -> bool {
        let end = block.addr + bytes(block.order);
        let before = self.blocks.range(..end).next_back();
        before.is_some_and(|(_, (b, _))| b.addr + bytes(b.order) > block.addr)
    }

    fn bytes(&self, sensitivity: Sensitivity) -> u64 {
        self.blocks.values().filter(|(_, s)| *s == sensitivity).map(|(b, _)| bytes(b.order)).sum()
    }
}

/// Small orders are common, as they will be for memsrv's clients.
fn random_order(rng: &mut XorShift) -> u8 {
    rng.below(ORDERS).min(rng.below(ORDERS)) as u8
}

/// Tries a request that must fail and checks that it changed nothing.
fn bad_request<const P: usize>(allocator: &mut Allocator<P>, live: &Live, rng: &mut XorShift) {
    let before = allocator.clone();
    let (&addr, &(block, _)) = live.blocks.iter().nth(rng.below(live.blocks.len())).unwrap();
    let bad = match rng.below(4) {
        0 => Block { addr, order: PAGEBLOCK_ORDER + 1 + rng.below(10) as u8 },
        1 => Block { addr: addr + FRAME_SIZE / 2, order: 0 },
        2 => Block { addr: base(P + rng.below(4)), order: 0 },
        _ => Block { addr, order: (block.order + 1 + rng.below(9) as u8) % ORDERS as u8 },
    };
    // Every case differs from the live block at `addr` in address or order.
    assert!(!allocator.is_allocated(bad));
    assert!(allocator.free(bad).is_err(), "{bad:?} was freed");
    assert_eq!(
        alloc(allocator, PAGEBLOCK_ORDER + 1, S),
        Err(AllocError::InvalidOrder { order: 10 })
    );
    assert!(*allocator == before);
}

fn random_workload(seed: u64, ops: usize) {
    const P: usize = 16;
    let mut rng = XorShift::new(seed);
    let initial: Vec<Sensitivity> = (0..P).map(|_| Sensitivity::ALL[rng.below(2)]).collect();
    let mut allocator: Allocator<P> = allocator(&initial);
    let mut live = Live { blocks: BTreeMap::new() };
    let (mut successes, mut ooms, mut flips) = (0, 0, 0);
    let (mut alloc_percent, mut nonsensitive_percent) = (0, 0);
    for op in 0..ops {
        // Demand shifts between phases (grow, shrink, steady; mostly one sensitivity or
        // the other), which is what forces flips in both directions.
        if op % 1000 == 0 {
            alloc_percent = [35, 60, 85][rng.below(3)];
            nonsensitive_percent = [0, 10, 50, 90, 100][rng.below(5)];
        }
        let roll = rng.below(100);
        if roll < 5 && !live.blocks.is_empty() {
            bad_request(&mut allocator, &live, &mut rng);
        } else if roll < alloc_percent || live.blocks.is_empty() {
            let sensitivity = if rng.below(100) < nonsensitive_percent { N } else { S };
            let order = random_order(&mut rng);
            let before = *allocator.stats();
            match alloc(&mut allocator, order, sensitivity) {
                Ok(Allocation { block, flipped }) => {
                    successes += 1;
                    assert_eq!(block.order, order);
                    assert_eq!(block.addr % bytes(order), 0);
                    assert_eq!(allocator.sensitivity_of(block.addr), Some(sensitivity));
                    assert!(!live.overlaps(block), "{block:?} handed out twice");
                    assert!(allocator.is_allocated(block));
                    let could_serve = free_at_or_above(&before, sensitivity, order) > 0;
                    match flipped {
                        None => assert!(could_serve, "served without a block to serve from"),
                        Some(pageblock) => {
                            flips += 1;
                            assert!(!could_serve, "flipped although {sensitivity:?} could serve");
                            assert_eq!(PageblockAddr::containing(block.addr), pageblock);
                        }
                    }
                    live.blocks.insert(block.addr, (block, sensitivity));
                }
                Err(error) => {
                    ooms += 1;
                    assert_eq!(error, AllocError::OutOfMemory);
                    assert_eq!(free_at_or_above(&before, sensitivity, order), 0);
                    assert_eq!(before.free_blocks(FreeList::pageblocks(sensitivity.other())), 0);
                    assert_eq!(*allocator.stats(), before);
                }
            }
        } else {
            let addr = *live.blocks.keys().nth(rng.below(live.blocks.len())).unwrap();
            let (block, _) = live.blocks.remove(&addr).unwrap();
            allocator.free(block).unwrap();
            assert!(!allocator.is_allocated(block));
        }
        allocator.check_invariants().unwrap();
        assert_eq!(allocator.stats().flips(), flips);
        for sensitivity in Sensitivity::ALL {
            assert_eq!(allocator.stats().allocated_bytes(sensitivity), live.bytes(sensitivity));
        }
        for (block, sensitivity) in live.blocks.values() {
            assert_eq!(allocator.sensitivity_of(block.addr), Some(*sensitivity));
        }
    }
    // The workload must have exercised every path, or it proves little.
    println!("seed {seed:#x}: {successes} allocations, {ooms} out of memory, {flips} flips");
    assert!(successes > ops / 3 && ooms > 0 && flips > 10);
    let mut rest: Vec<Block> = live.blocks.values().map(|(block, _)| *block).collect();
    rng.shuffle(&mut rest);
    for block in rest {
        allocator.free(block).unwrap();
        allocator.check_invariants().unwrap();
    }
    assert!(all_wholly_free(&allocator, P as u64));
}

#[test]
fn random_workloads_never_double_allocate_and_free_back_to_whole_pageblocks() {
    for seed in [1, 0xdead_beef, 0x1234_5678_9abc] {
        random_workload(seed, 20_000);
    }
}

#[test]
fn nonsensitive_frames_needing_k_pageblocks_flip_exactly_k() {
    for k in 0..=4 {
        let mut allocator: Allocator<4> = allocator(&[S; 4]);
        for _ in 0..k * FRAMES {
            alloc(&mut allocator, 0, N).unwrap();
        }
        assert_eq!(allocator.stats().flips(), k as u64);
        assert_eq!(allocator.stats().pageblocks(N), k as u64);
        allocator.check_invariants().unwrap();
    }
    let mut allocator: Allocator<4> = allocator(&[S; 4]);
    for _ in 0..FRAMES + 1 {
        alloc(&mut allocator, 0, N).unwrap();
    }
    assert_eq!(allocator.stats().flips(), 2);
}

#[test]
fn allocation_only_workloads_flip_once_per_pageblock_they_fill() {
    // With no frees, the free blocks of the flipped-to sensitivity are all of different
    // orders below the request, so a flip happens only when the allocated bytes would
    // otherwise not fit: flips == ceil(allocated / pageblock) after every request.
    for seed in [7, 8, 9] {
        let mut rng = XorShift::new(seed);
        let mut allocator: Allocator<8> = allocator(&[S; 8]);
        let mut flips = 0;
        while let Ok(allocation) = alloc(&mut allocator, random_order(&mut rng), N) {
            let minimum = allocator.stats().allocated_bytes(N).div_ceil(PAGEBLOCK_SIZE);
            assert_eq!(allocator.stats().flips(), minimum);
            assert_eq!(allocation.flipped.is_some(), minimum > flips);
            flips = minimum;
        }
        assert_eq!(flips, 8);
        allocator.check_invariants().unwrap();
    }
}

#[test]
fn freeing_and_reallocating_the_same_sensitivity_does_not_flip_again() {
    let mut allocator: Allocator<4> = allocator(&[S; 4]);
    for _ in 0..3 {
        let blocks: Vec<Block> =
            (0..700).map(|_| alloc(&mut allocator, 0, N).unwrap().block).collect();
        assert_eq!(allocator.stats().flips(), 2);
        for block in blocks {
            allocator.free(block).unwrap();
        }
        // Freed pageblocks keep their sensitivity until demand elsewhere needs them.
        assert_eq!(allocator.stats().pageblocks(N), 2);
        allocator.check_invariants().unwrap();
    }
}

#[test]
fn alternating_requests_that_fit_existing_pageblocks_never_flip() {
    let mut allocator: Allocator<4> = allocator(&[S, N, S, N]);
    // Each round takes four frames of each sensitivity; 256 rounds fill both pairs.
    for _ in 0..FRAMES / 2 {
        for (order, sensitivity) in [(1, S), (0, N), (0, S), (0, N), (0, S), (1, N)] {
            let allocation = alloc(&mut allocator, order, sensitivity).unwrap();
            assert_eq!(allocation.flipped, None);
        }
    }
    assert_eq!(allocator.stats().flips(), 0);
    assert_eq!(allocator.stats().free_bytes_total(S), 0);
    assert_eq!(allocator.stats().free_bytes_total(N), 0);
    allocator.check_invariants().unwrap();
}

#[test]
fn a_partly_used_pageblock_is_never_flipped() {
    let mut allocator: Allocator<2> = allocator(&[S, N]);
    let lone = alloc(&mut allocator, 0, N).unwrap().block;
    alloc(&mut allocator, PAGEBLOCK_ORDER, S).unwrap();
    let before = allocator.clone();
    assert_eq!(alloc(&mut allocator, 0, S), Err(AllocError::OutOfMemory));
    assert!(allocator == before);
    // Once its last block comes back the pageblock is whole again and may flip.
    allocator.free(lone).unwrap();
    let flipped = alloc(&mut allocator, 0, S).unwrap().flipped;
    assert_eq!(flipped, PageblockAddr::new(base(1)));
    assert_eq!(allocator.stats().pageblocks(S), 2);
    allocator.check_invariants().unwrap();
}

#[test]
fn the_flip_hook_sees_each_flip_and_only_flips() {
    let mut allocator: Allocator<2> = allocator(&[S, S]);
    let mut seen = Vec::new();
    let mut hook = |pageblock, sensitivity| {
        seen.push((pageblock, sensitivity));
        Ok::<(), Infallible>(())
    };
    let first = allocator.allocate(0, N, &mut hook).unwrap();
    let second = allocator.allocate(0, N, &mut hook).unwrap();
    let third = allocator.allocate(0, S, &mut hook).unwrap();
    assert_eq!(second.flipped, None);
    assert_eq!(third.flipped, None);
    let flipped = first.flipped.unwrap();
    assert_eq!(seen, [(flipped, N)]);
    assert_eq!(allocator.sensitivity_of(flipped.get()), Some(N));
    assert_eq!(allocator.sensitivity_of(third.block.addr), Some(S));
}

#[test]
fn a_refused_flip_changes_nothing() {
    #[derive(Debug, PartialEq)]
    struct Busy;
    let mut allocator: Allocator<2> = allocator(&[S, S]);
    let used = alloc(&mut allocator, 3, S).unwrap().block;
    let before = allocator.clone();
    let refused = allocator.allocate(0, N, |_, _| Err(Busy));
    let pageblock = PageblockAddr::new(base(1)).unwrap();
    assert_ne!(PageblockAddr::containing(used.addr), pageblock);
    assert_eq!(refused, Err(AllocError::FlipRefused { pageblock, error: Busy }));
    assert!(allocator == before);
    allocator.check_invariants().unwrap();
    let accepted = allocator.allocate(0, N, |_, _| Ok::<(), Busy>(())).unwrap();
    assert_eq!(accepted.flipped, Some(pageblock));
    assert_eq!(allocator.stats().flips(), 1);
}

#[test]
fn every_bad_request_is_rejected_and_changes_nothing() {
    let mut allocator: Allocator<2> = allocator(&[S, N]);
    let big = alloc(&mut allocator, 4, S).unwrap().block;
    let small = alloc(&mut allocator, 0, N).unwrap().block;
    allocator.free(small).unwrap();
    let before = allocator.clone();
    let cases = [
        (
            Block { addr: big.addr, order: PAGEBLOCK_ORDER + 1 },
            FreeError::InvalidOrder { order: 10 },
        ),
        (Block { addr: big.addr, order: u8::MAX }, FreeError::InvalidOrder { order: u8::MAX }),
        (Block { addr: big.addr + FRAME_SIZE, order: 4 }, FreeError::Misaligned),
        (Block { addr: big.addr + 1, order: 0 }, FreeError::Misaligned),
        (Block { addr: base(0) - FRAME_SIZE, order: 0 }, FreeError::NotManaged),
        (Block { addr: base(0) + PAGEBLOCK_SIZE, order: 0 }, FreeError::NotManaged),
        (Block { addr: base(2), order: PAGEBLOCK_ORDER }, FreeError::NotManaged),
        (Block { addr: !(FRAME_SIZE - 1), order: 0 }, FreeError::NotManaged),
        (small, FreeError::AlreadyFree),
        (Block { addr: big.addr, order: 3 }, FreeError::WrongOrder { allocated_order: 4 }),
        (
            Block { addr: big.addr, order: PAGEBLOCK_ORDER },
            FreeError::WrongOrder { allocated_order: 4 },
        ),
        (Block { addr: big.addr + FRAME_SIZE, order: 0 }, FreeError::NotAllocated),
    ];
    for (block, error) in cases {
        assert!(!allocator.is_allocated(block), "{block:?}");
        assert_eq!(allocator.free(block), Err(error), "{block:?}");
        assert!(allocator == before, "{block:?} changed the allocator");
    }
    for order in [PAGEBLOCK_ORDER + 1, u8::MAX] {
        assert_eq!(alloc(&mut allocator, order, N), Err(AllocError::InvalidOrder { order }));
    }
    assert!(allocator == before);
    allocator.check_invariants().unwrap();
    allocator.free(big).unwrap();
    assert!(all_wholly_free(&allocator, 2));
}

#[test]
fn out_of_memory_when_everything_is_allocated() {
    let mut allocator: Allocator<3> = allocator(&[S, N, S]);
    while alloc(&mut allocator, 0, S).is_ok() {}
    assert_eq!(allocator.stats().pageblocks(S), 3);
    let before = allocator.clone();
    for order in 0..=PAGEBLOCK_ORDER {
        for sensitivity in Sensitivity::ALL {
            assert_eq!(alloc(&mut allocator, order, sensitivity), Err(AllocError::OutOfMemory));
        }
    }
    assert!(allocator == before);
    let mut empty: Allocator<0> = Allocator::new([]).unwrap();
    assert_eq!(alloc(&mut empty, 0, S), Err(AllocError::OutOfMemory));
    empty.check_invariants().unwrap();
}

#[test]
fn check_invariants_catches_counters_that_drift() {
    let mut allocator: Allocator<1> = allocator(&[S]);
    allocator.stats.allocated_bytes[S.index()] += FRAME_SIZE;
    assert_eq!(
        allocator.check_invariants().unwrap_err().reason,
        "the statistics disagree with the pageblocks"
    );
}

#[test]
fn reset_in_place_equals_a_fresh_allocator_whatever_came_before() {
    let mut used: Allocator<4> = allocator(&[S, N, S]);
    alloc(&mut used, 0, N).unwrap();
    alloc(&mut used, 3, S).unwrap();
    alloc(&mut used, 0, N).unwrap();
    let pageblocks = [(PageblockAddr::new(base(1)).unwrap(), N)];
    used.reset(pageblocks).unwrap();
    assert_eq!(used, Allocator::<4>::new(pageblocks).unwrap());
    used.check_invariants().unwrap();

    let too_many = (0..5).map(|i| (PageblockAddr::new(base(i)).unwrap(), S));
    assert_eq!(used.reset(too_many), Err(InitError::TooManyPageblocks { capacity: 4 }));
    assert_eq!(used, Allocator::<4>::EMPTY);
    let twice = [pageblocks[0], pageblocks[0]];
    assert_eq!(used.reset(twice), Err(InitError::DuplicatePageblock(pageblocks[0].0)));
    assert_eq!(used, Allocator::<4>::EMPTY);
}
