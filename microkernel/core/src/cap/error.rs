//! Why a capability operation was refused. Every refusal leaves the slots as they were.

/// Why copying, minting, moving, mutating or inserting a capability was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CapError {
    /// The source slot is empty.
    SourceEmpty,
    /// The destination slot holds a capability; delete it first.
    DestinationOccupied,
    /// A null capability cannot be inserted.
    NullCapability,
    /// This capability cannot be copied: a reply capability (only moved), or a page table
    /// or VSpace capability that is not mapped (its one unmapped capability is what maps
    /// it, as seL4 requires).
    NotDerivable,
    /// An untyped capability with children cannot be copied: the copy would take over the
    /// children in the derivation tree. Revoke it first.
    RevokeFirst,
    /// A badge was given for a capability that has no badge.
    NotBadgeable,
    /// A badge was given for an endpoint or notification capability that already has one.
    AlreadyBadged,
    /// Badge 0 means "unbadged" and cannot be set.
    ZeroBadge,
    /// A badge can be set only while deriving (mint), never in place (mutate): it would
    /// change which capabilities the derivation tree counts as this one's children.
    CannotBadgeInPlace,
    /// Guard data was given for a capability that is not a CNode.
    NotACNode,
    /// The guard does not fit in its bit count, or guard and radix exceed 64 bits.
    InvalidGuard,
    /// A mapped frame's rights cannot be reduced in place: the mapping still grants them.
    MappedFrameRights,
    /// The capability to insert as a child does not lie within its parent's object or
    /// region.
    NotParent,
}
