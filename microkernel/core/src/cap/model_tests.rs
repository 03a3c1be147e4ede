//! Long random sequences of operations checked against a reference model that keeps every
//! capability's parent explicitly, instead of deriving it from list order and flags.

use std::collections::BTreeMap;

use super::capability::{Asid, CapData, Capability, Mapping};
use super::error::CapError;
use super::mdb::{SlotStore, has_children, is_final, is_parent_of};
use super::object::{FrameSize, ObjectType, PtLevel};
use super::ops::{self, DeleteOutcome};
use super::retype::{RetypeError, plan_retype};
use super::rights::Rights;
use super::test_store::TestStore;

const SLOTS: u64 = 48;
const CNODE: u64 = 0x100_0000;
const ASID: Asid = Asid::new(7).unwrap();

fn slot(index: u64) -> u64 {
    CNODE + index * 64
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    cap: Capability,
    parent: Option<u64>,
    /// Made by boot, retype, IRQ issue, an untyped copy or a badging mint: the entries
    /// that can have children.
    original: bool,
}

#[derive(Default)]
struct Model {
    entries: BTreeMap<u64, Entry>,
}

impl Model {
    fn cap(&self, at: u64) -> Capability {
        self.entries.get(&at).map_or(Capability::Null, |entry| entry.cap)
    }

    fn has_children(&self, at: u64) -> bool {
        self.entries.values().any(|entry| entry.parent == Some(at))
    }

    fn is_descendant(&self, mut at: u64, of: u64) -> bool {
        while let Some(parent) = self.entries[&at].parent {
            if parent == of {
                return true;
            }
            at = parent;
        }
        false
    }

    fn is_final(&self, at: u64) -> bool {
        let cap = self.cap(at);
        !self.entries.iter().any(|(&other, entry)| other != at && entry.cap.is_same_object(&cap))
    }

    /// Removes `at`; its children move up to its parent.
    fn remove(&mut self, at: u64) {
        let removed = self.entries.remove(&at).unwrap();
        for entry in self.entries.values_mut() {
            if entry.parent == Some(at) {
                entry.parent = removed.parent;
            }
        }
    }

    fn rename(&mut self, from: u64, to: u64, cap: Capability) {
        let entry = self.entries.remove(&from).unwrap();
        self.entries.insert(to, Entry { cap, ..entry });
        for entry in self.entries.values_mut() {
            if entry.parent == Some(from) {
                entry.parent = Some(to);
            }
        }
    }
}

/// The parent of each slot as the derivation tree implies it: the deepest earlier node of
/// the same list that `is_parent_of` accepts.
fn implied_parents(store: &TestStore) -> BTreeMap<u64, Option<u64>> {
    let mut parents = BTreeMap::new();
    for list in store.lists() {
        let mut open: Vec<u64> = Vec::new();
        for node in list {
            while let Some(&top) = open.last() {
                if is_parent_of(store, top, node) {
                    break;
                }
                open.pop();
            }
            parents.insert(node, open.last().copied());
            open.push(node);
        }
    }
    parents
}

fn check(store: &TestStore, model: &Model, step: usize) {
    let parents = implied_parents(store);
    assert_eq!(store.occupied(), model.entries.keys().copied().collect::<Vec<_>>(), "step {step}");
    for (&at, entry) in &model.entries {
        assert_eq!(store.cap(at), entry.cap, "step {step}: slot {at:#x}");
        assert_eq!(parents[&at], entry.parent, "step {step}: parent of {at:#x}");
        assert_eq!(
            is_final(store, at, &store.cap(at)),
            model.is_final(at),
            "step {step}: final {at:#x}"
        );
        assert_eq!(
            has_children(store, at, &store.cap(at)),
            model.has_children(at),
            "step {step}: {at:#x}"
        );
    }
    // No memory is handed out twice: overlapping objects are the same object, or one is
    // an untyped region the other was retyped from.
    for (&a, first) in &model.entries {
        for (&b, second) in &model.entries {
            let (Some(ra), Some(rb)) = (first.cap.region(), second.cap.region()) else {
                continue;
            };
            if a == b || !ra.overlaps(rb) || first.cap.is_same_object(&second.cap) {
                continue;
            }
            let nested = matches!(first.cap, Capability::Untyped { .. })
                && model.is_descendant(b, a)
                || matches!(second.cap, Capability::Untyped { .. }) && model.is_descendant(a, b);
            assert!(
                nested,
                "step {step}: {:?} at {a:#x} overlaps {:?} at {b:#x}",
                first.cap, second.cap
            );
        }
    }
}

fn random_data(rng: &mut Rng) -> CapData {
    match rng.below(4) {
        0 | 1 => CapData::None,
        2 => CapData::Badge(rng.below(3)),
        _ => CapData::Guard { guard: rng.below(2), guard_bits: rng.below(3) as u8 },
    }
}

fn random_rights(rng: &mut Rng) -> Rights {
    if rng.below(2) == 0 { Rights::ALL } else { Rights::from_bits(rng.below(16) as u8).unwrap() }
}

const TYPES: [(ObjectType, u8); 9] = [
    (ObjectType::Endpoint, 0),
    (ObjectType::Notification, 0),
    (ObjectType::Tcb, 0),
    (ObjectType::CNode, 1),
    (ObjectType::Frame(FrameSize::Small4K), 0),
    (ObjectType::PageTable(PtLevel::Pt), 0),
    (ObjectType::VSpace, 0),
    (ObjectType::Untyped, 12),
    (ObjectType::Untyped, 9),
];

fn boot(store: &mut TestStore, model: &mut Model) {
    let roots = [
        (
            slot(0),
            Capability::Untyped { base: 0x4000_0000, size_bits: 16, device: false, watermark: 0 },
        ),
        (
            slot(1),
            Capability::Untyped { base: 0x8000_0000, size_bits: 14, device: true, watermark: 0 },
        ),
        (slot(2), Capability::IrqControl),
    ];
    for (at, cap) in roots {
        ops::insert_root(store, at, cap).unwrap();
        model.entries.insert(at, Entry { cap, parent: None, original: true });
    }
}

/// One random operation, applied to the store and predicted by the model.
fn step(store: &mut TestStore, model: &mut Model, rng: &mut Rng) {
    let occupied: Vec<u64> = model.entries.keys().copied().collect();
    let src = if rng.below(5) > 0 && !occupied.is_empty() {
        occupied[rng.below(occupied.len() as u64) as usize]
    } else {
        slot(rng.below(SLOTS))
    };
    let dst = slot(rng.below(SLOTS));
    let before = store.clone();
    match rng.below(20) {
        0..=5 => {
            let (rights, data) = if rng.below(2) == 0 {
                (Rights::ALL, CapData::None)
            } else {
                (random_rights(rng), random_data(rng))
            };
            let result = ops::mint(store, src, dst, rights, data);
            let expected = predict_mint(model, src, dst, rights, data);
            assert_eq!(result.map(|()| store.cap(dst)), expected.map(|(cap, ..)| cap));
            match expected {
                Ok((cap, original, parent)) => {
                    if let Capability::Untyped { base, size_bits, device, .. } = model.cap(src) {
                        let full = Capability::Untyped {
                            base,
                            size_bits,
                            device,
                            watermark: 1 << size_bits,
                        };
                        model.entries.get_mut(&src).unwrap().cap = full;
                    }
                    model.entries.insert(dst, Entry { cap, parent, original });
                }
                Err(_) => assert_eq!(*store, before),
            }
        }
        6 | 7 => {
            let (rights, data) = if rng.below(2) == 0 {
                (Rights::ALL, CapData::None)
            } else {
                (random_rights(rng), random_data(rng))
            };
            let result = ops::mutate(store, src, dst, rights, data);
            let expected = if model.cap(src).is_null() {
                Err(CapError::SourceEmpty)
            } else {
                model.cap(src).mutated(rights, data).and_then(|cap| {
                    if model.cap(dst).is_null() {
                        Ok(cap)
                    } else {
                        Err(CapError::DestinationOccupied)
                    }
                })
            };
            assert_eq!(result.map(|()| store.cap(dst)), expected);
            match expected {
                Ok(cap) => model.rename(src, dst, cap),
                Err(_) => assert_eq!(*store, before),
            }
        }
        8 | 9 => {
            let expected_final = !model.cap(src).is_null() && model.is_final(src);
            match ops::delete(store, src) {
                DeleteOutcome::Empty => assert!(model.cap(src).is_null()),
                DeleteOutcome::Deleted { cap, is_final } => {
                    assert_eq!((cap, is_final), (model.cap(src), expected_final));
                    model.remove(src);
                }
            }
        }
        10 => {
            let mut deleted = Vec::new();
            ops::revoke(store, src, |at, cap, is_final| deleted.push((at, cap, is_final)));
            for (at, cap, is_final) in deleted {
                assert!(model.is_descendant(at, src), "revoked {at:#x}, not under {src:#x}");
                assert_eq!((cap, is_final), (model.cap(at), model.is_final(at)));
                model.remove(at);
            }
            assert!(!model.has_children(src), "revoke left children of {src:#x}");
        }
        11..=15 => retype(store, model, rng, src, &before),
        16 => {
            let irq = rng.below(4) as u8;
            let control = model
                .entries
                .iter()
                .find(|(_, entry)| entry.original && entry.cap == Capability::IrqControl)
                .map(|(&at, _)| at);
            let issued = model.entries.values().any(|e| e.cap == Capability::IrqHandler { irq });
            if let Some(control) = control.filter(|_| !issued && model.cap(dst).is_null()) {
                let cap = Capability::IrqHandler { irq };
                ops::insert_child(store, control, dst, cap).unwrap();
                model.entries.insert(dst, Entry { cap, parent: Some(control), original: true });
            }
        }
        _ => map(store, model, src),
    }
}

/// What mint should do: the new capability, whether it is an original, and its parent.
fn predict_mint(
    model: &Model,
    src: u64,
    dst: u64,
    rights: Rights,
    data: CapData,
) -> Result<(Capability, bool, Option<u64>), CapError> {
    let source = model.entries.get(&src).ok_or(CapError::SourceEmpty)?;
    let cap = source.cap.minted(rights, data)?;
    if !model.cap(dst).is_null() {
        return Err(CapError::DestinationOccupied);
    }
    let untyped = matches!(cap, Capability::Untyped { .. });
    if untyped && model.has_children(src) {
        return Err(CapError::RevokeFirst);
    }
    let original = untyped || cap.badge() != source.cap.badge();
    let parent = if source.original { Some(src) } else { source.parent };
    Ok((cap, original, parent))
}

fn retype(store: &mut TestStore, model: &mut Model, rng: &mut Rng, src: u64, before: &TestStore) {
    let (object_type, user_bits) = TYPES[rng.below(TYPES.len() as u64) as usize];
    let count = 1 + rng.below(3) as usize;
    let dests: Vec<u64> = (0..count).map(|_| slot(rng.below(SLOTS))).collect();
    let untyped = store.cap(src);
    let planned =
        plan_retype(&untyped, model.has_children(src), object_type, user_bits, count, |i| {
            model.cap(dests[i]).is_null()
        });
    let Ok(plan) = planned else {
        assert_eq!(*store, *before);
        return;
    };
    let result = plan.apply(store, src, |i| dests[i]);
    let duplicate = (1..count).find(|&i| dests[..i].contains(&dests[i]));
    if let Some(index) = duplicate {
        assert_eq!(result, Err(RetypeError::DeleteFirst { index }));
        assert_eq!(*store, *before);
        return;
    }
    result.unwrap();
    let region = untyped.region().unwrap();
    assert!(region.contains(plan.object(0)) && region.contains(plan.object(count - 1)));
    model.entries.get_mut(&src).unwrap().cap = store.cap(src);
    for (index, &at) in dests.iter().enumerate() {
        let cap = plan.capability(index);
        model.entries.insert(at, Entry { cap, parent: Some(src), original: true });
    }
}

/// Plays the kernel mapping a frame, page table or address space, which changes only the
/// capability in place.
fn map(store: &mut TestStore, model: &mut Model, at: u64) {
    let mapping = Some(Mapping { asid: ASID, vaddr: at << 12 });
    let mapped = match model.cap(at) {
        Capability::Frame { base, size, rights, device, mapping: None } => {
            Capability::Frame { base, size, rights, device, mapping }
        }
        Capability::PageTable { object, level, mapping: None } => {
            Capability::PageTable { object, level, mapping }
        }
        Capability::VSpace { object, asid: None } => {
            Capability::VSpace { object, asid: Some(ASID) }
        }
        _ => return,
    };
    store.set_cap(at, mapped);
    model.entries.get_mut(&at).unwrap().cap = mapped;
}

/// What a run reached, to guard against a generator that only ever produces refusals.
#[derive(Default)]
struct Reached {
    most_capabilities: usize,
    deepest_tree: usize,
    badged: bool,
}

fn run(seed: u64, steps: usize, reached: &mut Reached) {
    let mut rng = Rng(seed);
    let mut store = TestStore::new();
    let mut model = Model::default();
    boot(&mut store, &mut model);
    for index in 0..steps {
        step(&mut store, &mut model, &mut rng);
        check(&store, &model, index);
        let depth = |mut at: u64| {
            let mut depth = 0;
            while let Some(parent) = model.entries[&at].parent {
                depth += 1;
                at = parent;
            }
            depth
        };
        let deepest = model.entries.keys().map(|&at| depth(at)).max().unwrap_or(0);
        reached.deepest_tree = reached.deepest_tree.max(deepest);
        reached.most_capabilities = reached.most_capabilities.max(model.entries.len());
        reached.badged |= model.entries.values().any(|e| e.cap.badge().is_some_and(|b| b != 0));
    }
}

#[test]
fn random_operations_keep_the_tree_and_the_model_in_step() {
    let mut reached = Reached::default();
    for seed in 1..=40u64 {
        run(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15), 1500, &mut reached);
    }
    assert!(reached.most_capabilities >= 20, "{} capabilities at most", reached.most_capabilities);
    assert!(reached.deepest_tree >= 4, "trees only {} deep", reached.deepest_tree);
    assert!(reached.badged);
}
