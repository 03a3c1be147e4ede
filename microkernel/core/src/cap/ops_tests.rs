//! Tests of the derivation tree and the operations on it.

use super::capability::{Asid, CapData, Capability, Mapping};
use super::error::CapError;
use super::mdb::{MdbNode, SlotStore, has_children, is_final, is_parent_of};
use super::object::{FrameSize, ObjectType, PtLevel};
use super::ops::*;
use super::retype::plan_retype;
use super::rights::Rights;
use super::test_store::TestStore;

const CNODE: u64 = 0x100_0000;
const UNTYPED_BASE: u64 = 0x1000_0000;
const UNTYPED_SLOT: u64 = CNODE;

fn slot(index: u64) -> u64 {
    CNODE + index * 64
}

fn untyped_cap() -> Capability {
    Capability::Untyped { base: UNTYPED_BASE, size_bits: 20, device: false, watermark: 0 }
}

/// A store with one untyped capability, as the kernel leaves it at boot, in slot 0.
fn booted() -> TestStore {
    let mut store = TestStore::new();
    insert_root(&mut store, UNTYPED_SLOT, untyped_cap()).unwrap();
    store
}

/// Retypes one object from the untyped capability in `from` into `dst`.
fn retype_one(store: &mut TestStore, from: u64, object_type: ObjectType, user_bits: u8, dst: u64) {
    let plan = plan_retype(
        &store.cap(from),
        has_children(store, from, &store.cap(from)),
        object_type,
        user_bits,
        1,
        |_| store.cap(dst).is_null(),
    )
    .unwrap();
    plan.apply(store, from, |_| dst).unwrap();
}

/// A store with an endpoint retyped into slot 1.
fn with_endpoint() -> TestStore {
    let mut store = booted();
    retype_one(&mut store, UNTYPED_SLOT, ObjectType::Endpoint, 0, slot(1));
    store
}

fn badge_of(store: &TestStore, at: u64) -> u64 {
    store.cap(at).badge().unwrap()
}

/// Runs `operation`, expects `error`, and checks that nothing changed.
fn refused(
    store: &mut TestStore,
    error: CapError,
    operation: impl FnOnce(&mut TestStore) -> Result<(), CapError>,
) {
    let before = store.clone();
    assert_eq!(operation(store), Err(error));
    assert_eq!(*store, before);
}

fn deleted(store: &mut TestStore, at: u64) -> (Capability, bool) {
    match delete(store, at) {
        DeleteOutcome::Deleted { cap, is_final } => (cap, is_final),
        DeleteOutcome::Empty => panic!("slot {at:#x} was empty"),
    }
}

fn revoked(store: &mut TestStore, at: u64) -> Vec<(u64, bool)> {
    let mut seen = Vec::new();
    revoke(store, at, |slot, cap, is_final| {
        assert!(!cap.is_null());
        seen.push((slot, is_final));
    });
    store.lists();
    seen
}

#[test]
fn insert_root_makes_a_lone_original() {
    let store = booted();
    assert_eq!(store.cap(UNTYPED_SLOT), untyped_cap());
    assert_eq!(
        store.mdb(UNTYPED_SLOT),
        MdbNode { prev: None, next: None, revocable: true, first_badged: true }
    );
    assert!(!has_children(&store, UNTYPED_SLOT, &store.cap(UNTYPED_SLOT)));
    assert!(is_final(&store, UNTYPED_SLOT, &store.cap(UNTYPED_SLOT)));
}

#[test]
fn insert_root_refuses_occupied_slots_and_null() {
    let mut store = booted();
    refused(&mut store, CapError::DestinationOccupied, |s| {
        insert_root(s, UNTYPED_SLOT, Capability::IrqControl)
    });
    refused(&mut store, CapError::NullCapability, |s| insert_root(s, slot(1), Capability::Null));
}

#[test]
fn insert_child_issues_irq_handlers_under_irq_control() {
    let mut store = TestStore::new();
    insert_root(&mut store, slot(0), Capability::IrqControl).unwrap();
    insert_child(&mut store, slot(0), slot(1), Capability::IrqHandler { irq: 4 }).unwrap();
    insert_child(&mut store, slot(0), slot(2), Capability::IrqHandler { irq: 5 }).unwrap();
    assert_eq!(store.lists(), [vec![slot(0), slot(2), slot(1)]]);
    assert!(is_parent_of(&store, slot(0), slot(1)));
    assert!(!is_parent_of(&store, slot(2), slot(1)));
    copy(&mut store, slot(1), slot(3)).unwrap();
    assert_eq!(revoked(&mut store, slot(0)), [(slot(2), true), (slot(1), false), (slot(3), true)]);
}

#[test]
fn insert_child_checks_parent_destination_and_region() {
    let mut store = with_endpoint();
    let outside = Capability::Tcb { object: UNTYPED_BASE + (1 << 20) };
    let inside = Capability::Tcb { object: UNTYPED_BASE + 0x800 };
    refused(&mut store, CapError::NotParent, |s| insert_child(s, UNTYPED_SLOT, slot(2), outside));
    refused(&mut store, CapError::SourceEmpty, |s| insert_child(s, slot(9), slot(2), inside));
    refused(&mut store, CapError::DestinationOccupied, |s| {
        insert_child(s, UNTYPED_SLOT, slot(1), inside)
    });
    refused(&mut store, CapError::NullCapability, |s| {
        insert_child(s, UNTYPED_SLOT, slot(2), Capability::Null)
    });
}

#[test]
fn a_copy_of_a_control_capability_issues_under_the_original() {
    let mut store = TestStore::new();
    let ports = Capability::IoPort { first: 0x40, last: 0x43 };
    insert_root(&mut store, slot(0), Capability::IoPortControl).unwrap();
    copy(&mut store, slot(0), slot(1)).unwrap();
    copy(&mut store, slot(0), slot(2)).unwrap();
    refused(&mut store, CapError::NotParent, |s| {
        insert_child(s, slot(1), slot(3), Capability::IrqHandler { irq: 0 })
    });
    insert_child(&mut store, slot(1), slot(3), ports).unwrap();
    assert_eq!(store.lists(), [vec![slot(0), slot(2), slot(1), slot(3)]]);
    assert!(is_parent_of(&store, slot(0), slot(3)));
    assert!(!is_final(&store, slot(1), &store.cap(slot(1))));
    // A copy cannot have children, so revoking it takes nothing; the original takes all.
    assert_eq!(revoked(&mut store, slot(1)), []);
    assert_eq!(revoked(&mut store, slot(0)), [(slot(2), false), (slot(1), false), (slot(3), true)]);
}

#[test]
fn a_copy_outliving_its_original_issues_parentless_capabilities() {
    let mut store = TestStore::new();
    insert_root(&mut store, slot(0), Capability::IrqControl).unwrap();
    copy(&mut store, slot(0), slot(1)).unwrap();
    assert_eq!(deleted(&mut store, slot(0)), (Capability::IrqControl, false));
    insert_child(&mut store, slot(1), slot(2), Capability::IrqHandler { irq: 3 }).unwrap();
    assert!(
        is_final(&store, slot(1), &store.cap(slot(1)))
            && is_final(&store, slot(2), &store.cap(slot(2)))
    );
    assert_eq!(revoked(&mut store, slot(1)), []);
    copy(&mut store, slot(2), slot(3)).unwrap();
    assert_eq!(revoked(&mut store, slot(2)), [(slot(3), false)]);
}

#[test]
fn copy_inserts_a_child_right_after_its_source() {
    let mut store = with_endpoint();
    copy(&mut store, slot(1), slot(2)).unwrap();
    assert_eq!(store.cap(slot(2)), store.cap(slot(1)));
    assert_eq!(store.lists(), [vec![UNTYPED_SLOT, slot(1), slot(2)]]);
    let node = store.mdb(slot(2));
    assert!(!node.revocable && !node.first_badged);
    assert!(is_parent_of(&store, slot(1), slot(2)));
    assert!(has_children(&store, slot(1), &store.cap(slot(1))));
    assert!(!has_children(&store, slot(2), &store.cap(slot(2))));
}

#[test]
fn copy_refuses_empty_sources_and_occupied_destinations() {
    let mut store = with_endpoint();
    refused(&mut store, CapError::SourceEmpty, |s| copy(s, slot(5), slot(6)));
    refused(&mut store, CapError::DestinationOccupied, |s| copy(s, slot(1), UNTYPED_SLOT));
    refused(&mut store, CapError::DestinationOccupied, |s| copy(s, slot(1), slot(1)));
}

#[test]
fn copies_of_copies_are_siblings_under_the_original() {
    let mut store = with_endpoint();
    copy(&mut store, slot(1), slot(2)).unwrap();
    copy(&mut store, slot(2), slot(3)).unwrap();
    copy(&mut store, slot(3), slot(4)).unwrap();
    assert_eq!(store.lists(), [vec![UNTYPED_SLOT, slot(1), slot(2), slot(3), slot(4)]]);
    assert!(revoked(&mut store, slot(3)).is_empty());
    assert_eq!(
        revoked(&mut store, slot(1)),
        [(slot(2), false), (slot(3), false), (slot(4), false)]
    );
    assert_eq!(store.occupied(), [UNTYPED_SLOT, slot(1)]);
}

#[test]
fn minting_a_badge_starts_a_subtree() {
    let mut store = with_endpoint();
    mint(&mut store, slot(1), slot(2), Rights::WRITE, CapData::Badge(7)).unwrap();
    assert_eq!(
        store.cap(slot(2)),
        Capability::Endpoint { object: UNTYPED_BASE, badge: 7, rights: Rights::WRITE }
    );
    let node = store.mdb(slot(2));
    assert!(node.revocable && node.first_badged);
    copy(&mut store, slot(2), slot(3)).unwrap();
    assert_eq!(badge_of(&store, slot(3)), 7);
    assert!(is_parent_of(&store, slot(2), slot(3)));
    assert!(is_parent_of(&store, slot(1), slot(2)) && is_parent_of(&store, slot(1), slot(3)));
    assert_eq!(revoked(&mut store, slot(2)), [(slot(3), false)]);
    assert_eq!(store.occupied(), [UNTYPED_SLOT, slot(1), slot(2)]);
}

#[test]
fn mint_refuses_rebadging_and_bad_data_without_changes() {
    let mut store = with_endpoint();
    mint(&mut store, slot(1), slot(2), Rights::ALL, CapData::Badge(7)).unwrap();
    refused(&mut store, CapError::AlreadyBadged, |s| {
        mint(s, slot(2), slot(3), Rights::ALL, CapData::Badge(8))
    });
    refused(&mut store, CapError::ZeroBadge, |s| {
        mint(s, slot(1), slot(3), Rights::ALL, CapData::Badge(0))
    });
    refused(&mut store, CapError::NotBadgeable, |s| {
        mint(s, UNTYPED_SLOT, slot(3), Rights::ALL, CapData::Badge(1))
    });
    refused(&mut store, CapError::NotACNode, |s| {
        mint(s, slot(1), slot(3), Rights::ALL, CapData::Guard { guard: 0, guard_bits: 1 })
    });
    refused(&mut store, CapError::SourceEmpty, |s| {
        mint(s, slot(9), slot(3), Rights::ALL, CapData::None)
    });
    refused(&mut store, CapError::DestinationOccupied, |s| {
        mint(s, slot(1), slot(2), Rights::ALL, CapData::Badge(3))
    });
}

#[test]
fn reduced_rights_with_the_same_badge_stay_in_the_badge_subtree() {
    let mut store = with_endpoint();
    mint(&mut store, slot(1), slot(2), Rights::ALL, CapData::Badge(7)).unwrap();
    mint(&mut store, slot(2), slot(3), Rights::READ, CapData::None).unwrap();
    assert_eq!(
        store.cap(slot(3)),
        Capability::Endpoint { object: UNTYPED_BASE, badge: 7, rights: Rights::READ }
    );
    assert!(!store.mdb(slot(3)).revocable);
    assert!(is_parent_of(&store, slot(2), slot(3)));
}

#[test]
fn two_subtrees_of_the_same_badge_are_revoked_separately() {
    let mut store = with_endpoint();
    mint(&mut store, slot(1), slot(2), Rights::ALL, CapData::Badge(7)).unwrap();
    copy(&mut store, slot(2), slot(3)).unwrap();
    mint(&mut store, slot(1), slot(4), Rights::ALL, CapData::Badge(7)).unwrap();
    copy(&mut store, slot(4), slot(5)).unwrap();
    assert_eq!(store.lists(), [vec![UNTYPED_SLOT, slot(1), slot(4), slot(5), slot(2), slot(3)]]);
    assert!(!is_parent_of(&store, slot(4), slot(2)));
    assert_eq!(revoked(&mut store, slot(4)), [(slot(5), false)]);
    assert_eq!(store.occupied(), [UNTYPED_SLOT, slot(1), slot(2), slot(3), slot(4)]);
}

#[test]
fn deleting_a_first_badged_capability_passes_the_mark_on() {
    let mut store = with_endpoint();
    mint(&mut store, slot(1), slot(2), Rights::ALL, CapData::Badge(7)).unwrap();
    copy(&mut store, slot(2), slot(3)).unwrap();
    mint(&mut store, slot(1), slot(4), Rights::ALL, CapData::Badge(7)).unwrap();
    // List: untyped, 1, 4, 2, 3. Without the mark, 3 would fall under 4.
    assert_eq!(deleted(&mut store, slot(2)), (store_endpoint(7), false));
    assert!(store.mdb(slot(3)).first_badged);
    assert!(!is_parent_of(&store, slot(4), slot(3)));
    assert!(revoked(&mut store, slot(4)).is_empty());
    assert!(is_parent_of(&store, slot(1), slot(3)));
}

fn store_endpoint(badge: u64) -> Capability {
    Capability::Endpoint { object: UNTYPED_BASE, badge, rights: Rights::ALL }
}

#[test]
fn revoking_the_unbadged_original_removes_every_badge() {
    let mut store = with_endpoint();
    mint(&mut store, slot(1), slot(2), Rights::ALL, CapData::Badge(1)).unwrap();
    copy(&mut store, slot(2), slot(3)).unwrap();
    mint(&mut store, slot(1), slot(4), Rights::ALL, CapData::Badge(2)).unwrap();
    copy(&mut store, slot(1), slot(5)).unwrap();
    assert_eq!(revoked(&mut store, slot(1)).len(), 4);
    assert_eq!(store.occupied(), [UNTYPED_SLOT, slot(1)]);
    assert!(is_final(&store, slot(1), &store.cap(slot(1))));
}

#[test]
fn the_last_copy_is_final() {
    let mut store = with_endpoint();
    copy(&mut store, slot(1), slot(2)).unwrap();
    copy(&mut store, slot(1), slot(3)).unwrap();
    assert!(!is_final(&store, slot(1), &store.cap(slot(1))));
    assert_eq!(deleted(&mut store, slot(1)), (store_endpoint(0), false));
    assert_eq!(deleted(&mut store, slot(3)), (store_endpoint(0), false));
    assert_eq!(deleted(&mut store, slot(2)), (store_endpoint(0), true));
    assert_eq!(delete(&mut store, slot(2)), DeleteOutcome::Empty);
    assert_eq!(store.occupied(), [UNTYPED_SLOT]);
    assert_eq!(store.mdb(UNTYPED_SLOT).next, None);
}

#[test]
fn neighbouring_capabilities_to_other_objects_do_not_stop_finality() {
    let mut store = with_endpoint();
    retype_one(&mut store, UNTYPED_SLOT, ObjectType::Notification, 0, slot(2));
    retype_one(&mut store, UNTYPED_SLOT, ObjectType::Tcb, 0, slot(3));
    assert_eq!(store.lists(), [vec![UNTYPED_SLOT, slot(3), slot(2), slot(1)]]);
    for at in [slot(1), slot(2), slot(3)] {
        assert!(is_final(&store, at, &store.cap(at)));
    }
    assert!(deleted(&mut store, slot(2)).1);
}

#[test]
fn deleting_a_parent_leaves_its_children_under_the_grandparent() {
    let mut store = booted();
    retype_one(&mut store, UNTYPED_SLOT, ObjectType::Untyped, 12, slot(1));
    retype_one(&mut store, slot(1), ObjectType::Tcb, 0, slot(2));
    deleted(&mut store, slot(1));
    assert_eq!(store.lists(), [vec![UNTYPED_SLOT, slot(2)]]);
    assert!(is_parent_of(&store, UNTYPED_SLOT, slot(2)));
    assert_eq!(revoked(&mut store, UNTYPED_SLOT), [(slot(2), true)]);
}

#[test]
fn revoke_removes_exactly_the_descendants() {
    let mut store = booted();
    retype_one(&mut store, UNTYPED_SLOT, ObjectType::Untyped, 12, slot(1));
    retype_one(&mut store, UNTYPED_SLOT, ObjectType::Endpoint, 0, slot(2));
    retype_one(&mut store, slot(1), ObjectType::Tcb, 0, slot(3));
    copy(&mut store, slot(3), slot(4)).unwrap();
    retype_one(&mut store, slot(1), ObjectType::Notification, 0, slot(5));
    copy(&mut store, slot(2), slot(6)).unwrap();
    insert_root(&mut store, slot(7), Capability::AsiControl).unwrap();
    assert_eq!(revoked(&mut store, slot(1)), [(slot(5), true), (slot(3), false), (slot(4), true)]);
    assert_eq!(store.occupied(), [UNTYPED_SLOT, slot(1), slot(2), slot(6), slot(7)]);
    assert!(revoked(&mut store, slot(1)).is_empty());
    assert!(revoked(&mut store, slot(7)).is_empty());
    assert_eq!(
        revoked(&mut store, UNTYPED_SLOT),
        [(slot(2), false), (slot(6), true), (slot(1), true)]
    );
    assert_eq!(store.occupied(), [UNTYPED_SLOT, slot(7)]);
}

#[test]
fn revoke_can_go_one_step_at_a_time() {
    let mut store = with_endpoint();
    copy(&mut store, slot(1), slot(2)).unwrap();
    copy(&mut store, slot(1), slot(3)).unwrap();
    let first = revoke_next(&mut store, UNTYPED_SLOT).unwrap();
    assert_eq!(first, Revoked { slot: slot(1), cap: store_endpoint(0), is_final: false });
    store.lists();
    assert_eq!(revoke_next(&mut store, UNTYPED_SLOT).map(|r| r.slot), Some(slot(3)));
    let last = revoke_next(&mut store, UNTYPED_SLOT).unwrap();
    assert_eq!((last.slot, last.is_final), (slot(2), true));
    assert_eq!(revoke_next(&mut store, UNTYPED_SLOT), None);
    assert_eq!(revoke_next(&mut store, slot(40)), None);
}

#[test]
fn move_takes_the_place_in_the_tree_along() {
    let mut store = with_endpoint();
    copy(&mut store, slot(1), slot(2)).unwrap();
    copy(&mut store, slot(1), slot(3)).unwrap();
    let node = store.mdb(slot(3));
    move_cap(&mut store, slot(3), slot(9)).unwrap();
    assert_eq!(store.cap(slot(3)), Capability::Null);
    assert_eq!(store.mdb(slot(3)), MdbNode::empty());
    assert_eq!(store.mdb(slot(9)), node);
    assert_eq!(store.lists(), [vec![UNTYPED_SLOT, slot(1), slot(9), slot(2)]]);
    move_cap(&mut store, slot(1), slot(8)).unwrap();
    assert_eq!(store.lists(), [vec![UNTYPED_SLOT, slot(8), slot(9), slot(2)]]);
    assert_eq!(revoked(&mut store, slot(8)), [(slot(9), false), (slot(2), false)]);
}

#[test]
fn move_refuses_empty_sources_and_occupied_destinations() {
    let mut store = with_endpoint();
    refused(&mut store, CapError::SourceEmpty, |s| move_cap(s, slot(5), slot(6)));
    refused(&mut store, CapError::DestinationOccupied, |s| move_cap(s, slot(1), UNTYPED_SLOT));
    refused(&mut store, CapError::DestinationOccupied, |s| move_cap(s, slot(1), slot(1)));
}

#[test]
fn a_lone_root_moves_without_neighbours() {
    let mut store = TestStore::new();
    insert_root(&mut store, slot(0), Capability::AsiControl).unwrap();
    move_cap(&mut store, slot(0), slot(1)).unwrap();
    assert_eq!(store.lists(), [vec![slot(1)]]);
    assert_eq!(
        store.mdb(slot(1)),
        MdbNode { prev: None, next: None, revocable: true, first_badged: true }
    );
}

#[test]
fn mutate_reduces_rights_and_sets_guards_in_place() {
    let mut store = with_endpoint();
    copy(&mut store, slot(1), slot(2)).unwrap();
    mutate(&mut store, slot(2), slot(3), Rights::READ, CapData::None).unwrap();
    assert_eq!(
        store.cap(slot(3)),
        Capability::Endpoint { object: UNTYPED_BASE, badge: 0, rights: Rights::READ }
    );
    assert_eq!(store.lists(), [vec![UNTYPED_SLOT, slot(1), slot(3)]]);
    retype_one(&mut store, UNTYPED_SLOT, ObjectType::CNode, 2, slot(4));
    let guard = CapData::Guard { guard: 0b11, guard_bits: 2 };
    mutate(&mut store, slot(4), slot(5), Rights::ALL, guard).unwrap();
    assert!(matches!(store.cap(slot(5)), Capability::CNode { guard: 0b11, guard_bits: 2, .. }));
    assert!(store.mdb(slot(5)).revocable);
}

#[test]
fn mutate_refuses_badges_and_bad_slots_without_changes() {
    let mut store = with_endpoint();
    refused(&mut store, CapError::CannotBadgeInPlace, |s| {
        mutate(s, slot(1), slot(2), Rights::ALL, CapData::Badge(5))
    });
    retype_one(&mut store, UNTYPED_SLOT, ObjectType::CNode, 4, slot(3));
    refused(&mut store, CapError::InvalidGuard, |s| {
        mutate(s, slot(3), slot(2), Rights::ALL, CapData::Guard { guard: 0, guard_bits: 61 })
    });
    refused(&mut store, CapError::NotACNode, |s| {
        mutate(s, slot(1), slot(2), Rights::ALL, CapData::Guard { guard: 0, guard_bits: 1 })
    });
    refused(&mut store, CapError::SourceEmpty, |s| {
        mutate(s, slot(7), slot(2), Rights::ALL, CapData::None)
    });
    refused(&mut store, CapError::DestinationOccupied, |s| {
        mutate(s, slot(1), UNTYPED_SLOT, Rights::READ, CapData::None)
    });
}

#[test]
fn a_mapped_frame_keeps_its_mapping_when_moved_and_loses_it_when_copied() {
    let mut store = booted();
    retype_one(&mut store, UNTYPED_SLOT, ObjectType::Frame(FrameSize::Small4K), 0, slot(1));
    let mapping = Some(Mapping { asid: Asid::new(1).unwrap(), vaddr: 0x40_0000 });
    let Capability::Frame { base, size, rights, device, .. } = store.cap(slot(1)) else {
        panic!("not a frame");
    };
    let mapped = Capability::Frame { base, size, rights, device, mapping };
    store.set_cap(slot(1), mapped);
    copy(&mut store, slot(1), slot(2)).unwrap();
    assert!(matches!(store.cap(slot(2)), Capability::Frame { mapping: None, .. }));
    refused(&mut store, CapError::MappedFrameRights, |s| {
        mutate(s, slot(1), slot(3), Rights::READ, CapData::None)
    });
    move_cap(&mut store, slot(1), slot(3)).unwrap();
    assert_eq!(store.cap(slot(3)), mapped);
    assert!(!is_final(&store, slot(3), &store.cap(slot(3))));
}

#[test]
fn unmapped_page_tables_and_replies_are_not_copied_but_replies_move() {
    let mut store = booted();
    retype_one(&mut store, UNTYPED_SLOT, ObjectType::PageTable(PtLevel::Pd), 0, slot(1));
    refused(&mut store, CapError::NotDerivable, |s| copy(s, slot(1), slot(2)));
    insert_root(&mut store, slot(3), Capability::Reply { tcb: 0x5000, can_grant: true }).unwrap();
    refused(&mut store, CapError::NotDerivable, |s| copy(s, slot(3), slot(4)));
    mutate(&mut store, slot(3), slot(4), Rights::READ, CapData::None).unwrap();
    assert_eq!(store.cap(slot(4)), Capability::Reply { tcb: 0x5000, can_grant: false });
    assert!(deleted(&mut store, slot(4)).1);
}

#[test]
fn an_untyped_copy_takes_over_and_the_source_is_full() {
    let mut store = booted();
    copy(&mut store, UNTYPED_SLOT, slot(1)).unwrap();
    assert_eq!(store.cap(slot(1)), untyped_cap());
    assert!(matches!(store.cap(UNTYPED_SLOT), Capability::Untyped { watermark: 0x10_0000, .. }));
    assert!(store.mdb(slot(1)).revocable);
    assert!(!is_final(&store, UNTYPED_SLOT, &store.cap(UNTYPED_SLOT)));
    // The source can still retype, but only from its watermark: it is full.
    let full = plan_retype(&store.cap(UNTYPED_SLOT), true, ObjectType::Endpoint, 0, 1, |_| true);
    assert!(full.is_err());
    retype_one(&mut store, slot(1), ObjectType::Endpoint, 0, slot(2));
    assert!(is_parent_of(&store, UNTYPED_SLOT, slot(2)));
    refused(&mut store, CapError::RevokeFirst, |s| copy(s, slot(1), slot(3)));
    refused(&mut store, CapError::RevokeFirst, |s| copy(s, UNTYPED_SLOT, slot(3)));
    assert_eq!(revoked(&mut store, UNTYPED_SLOT), [(slot(1), false), (slot(2), true)]);
    // Without children, the source starts over from 0.
    retype_one(&mut store, UNTYPED_SLOT, ObjectType::Endpoint, 0, slot(3));
    assert_eq!(store.cap(slot(3)).object_address(), Some(UNTYPED_BASE));
}

#[test]
fn separate_trees_do_not_touch() {
    let mut store = booted();
    insert_root(&mut store, slot(1), Capability::IrqControl).unwrap();
    insert_root(&mut store, slot(2), Capability::AsiControl).unwrap();
    copy(&mut store, slot(2), slot(3)).unwrap();
    copy(&mut store, slot(1), slot(4)).unwrap();
    assert_eq!(store.lists().len(), 3);
    assert!(!is_parent_of(&store, slot(1), slot(3)));
    assert_eq!(revoked(&mut store, slot(2)), [(slot(3), false)]);
    assert_eq!(revoked(&mut store, slot(1)), [(slot(4), false)]);
}

#[test]
fn a_new_child_goes_after_the_parents_copies() {
    let mut store = TestStore::new();
    insert_root(&mut store, slot(0), Capability::IrqControl).unwrap();
    copy(&mut store, slot(0), slot(1)).unwrap();
    insert_child(&mut store, slot(0), slot(2), Capability::IrqHandler { irq: 1 }).unwrap();
    assert_eq!(store.lists(), [vec![slot(0), slot(1), slot(2)]]);
    assert!(!is_final(&store, slot(1), &store.cap(slot(1))));
    assert!(is_parent_of(&store, slot(0), slot(2)));
    assert_eq!(deleted(&mut store, slot(0)), (Capability::IrqControl, false));
    assert_eq!(deleted(&mut store, slot(1)), (Capability::IrqControl, true));
}
