//! Who may use the listener, and how much: connection slots (in all and per source address),
//! transfer slots (in all, for pushes, and per source address), the bytes of partly read
//! messages, GOSSIP_REPLY token buckets per source address, and the bytes that pushes
//! being received may add under the storage quota. Plain bookkeeping, `now` passed in,
//! memory bounded by the connections open and by [`MAX_SOURCES`]. The listener owns one
//! [`Admission`].

use super::Limits;
use crate::protocol::MAX_SMALL_MESSAGE;
use crate::refusal::Reason;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

/// Most connections handled at once, from all sources together.
pub const MAX_CONNECTIONS: usize = 512;
/// Most source addresses with a GOSSIP_REPLY bucket.
pub const MAX_SOURCES: usize = 4096;
/// The least a pushed file counts against the storage quota, while it arrives and once kept:
/// a file costs an index entry and a place in every GOSSIP_REPLY we send, whatever its size,
/// so tiny or empty pushes must not be free. With the default quota, at most 2,048 files.
pub const MIN_PUSH_CHARGE: u64 = 1 << 20;
/// A source may send this many seconds' worth of GOSSIP_REPLYs at once.
const BURST_SECONDS: f64 = 5.0;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// The listener's shared bookkeeping.
pub struct Admission {
    max_per_source: usize,
    max_transfers: usize,
    transfers: Mutex<Transfers>,
    max_buffered: usize,
    buffered: Mutex<usize>,
    open: Mutex<Open>,
    buckets: Mutex<Buckets>,
    pushes: PushBytes,
}

#[derive(Default)]
struct Open {
    total: usize,
    per_source: HashMap<IpAddr, usize>,
}

/// Transfer slots taken.
#[derive(Default)]
struct Transfers {
    total: usize,
    pushes: usize,
    per_source: HashMap<IpAddr, usize>,
}

/// What a transfer slot is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Moving {
    /// A push to us being received.
    Push,
    /// Our reply to a GET_FILE.
    Reply,
}

/// A connection's place in the listener; dropping it frees the place.
pub struct Slot {
    admission: Arc<Admission>,
    source: IpAddr,
}

impl Admission {
    /// Bookkeeping for the listener under `limits`.
    pub fn new(limits: &Limits) -> Arc<Self> {
        Arc::new(Admission {
            max_per_source: limits.max_per_source,
            max_transfers: limits.max_transfers,
            transfers: Mutex::default(),
            max_buffered: limits.max_buffered,
            buffered: Mutex::default(),
            open: Mutex::default(),
            buckets: Mutex::new(Buckets::new(limits.gossip_reply_rate, MAX_SOURCES)),
            pushes: PushBytes::default(),
        })
    }

    /// A slot for a new connection from `source`, or the reason it is refused.
    pub fn admit(self: &Arc<Self>, source: IpAddr) -> Result<Slot, Reason> {
        let mut open = lock(&self.open);
        if open.total >= MAX_CONNECTIONS {
            return Err(Reason::Connections);
        }
        let from_source = open.per_source.entry(source).or_default();
        if *from_source >= self.max_per_source {
            return Err(Reason::ConnectionsPerSource);
        }
        *from_source += 1;
        open.total += 1;
        Ok(Slot {
            admission: self.clone(),
            source,
        })
    }

    /// A slot for moving a file's content for `source`, if one is free. Pushes may hold
    /// half of the slots and one source an eighth (at least one each): a push is cut only
    /// when a rate window ends with too little content, so a few strangers trickling pushes
    /// could otherwise hold every slot and stop us serving anyone.
    pub fn transfer(self: &Arc<Self>, source: IpAddr, moving: Moving) -> Option<TransferSlot> {
        let mut taken = lock(&self.transfers);
        let from_source = taken.per_source.get(&source).copied().unwrap_or(0);
        let full = taken.total >= self.max_transfers
            || from_source >= (self.max_transfers / 8).max(1)
            || (moving == Moving::Push && taken.pushes >= (self.max_transfers / 2).max(1));
        if full {
            return None;
        }
        taken.total += 1;
        taken.pushes += usize::from(moving == Moving::Push);
        *taken.per_source.entry(source).or_default() += 1;
        Some(TransferSlot {
            admission: self.clone(),
            source,
            moving,
        })
    }

    /// A connection's share of the bytes of partly read messages, empty for now.
    pub fn buffer_share(&self) -> BufferShare<'_> {
        BufferShare {
            admission: self,
            held: 0,
        }
    }

    /// Whether a GOSSIP_REPLY from `source` at `now` is within its rate.
    pub fn gossip_reply(&self, source: IpAddr, now: Instant) -> bool {
        lock(&self.buckets).allow(source, now)
    }

    /// The pushes being received.
    pub fn pushes(&self) -> &PushBytes {
        &self.pushes
    }
}

/// The bytes of a partly read message that count against [`Limits::max_buffered`]: those
/// past the first [`MAX_SMALL_MESSAGE`]. Dropping it gives them back.
pub struct BufferShare<'a> {
    admission: &'a Admission,
    held: usize,
}

impl BufferShare<'_> {
    /// The message now takes `bytes`; false (and nothing changed) when the listener's
    /// connections would then hold more than allowed.
    pub fn set(&mut self, bytes: usize) -> bool {
        let counted = bytes.saturating_sub(MAX_SMALL_MESSAGE);
        if counted == self.held {
            return true;
        }
        let mut buffered = lock(&self.admission.buffered);
        let others = *buffered - self.held;
        if counted > self.held && others + counted > self.admission.max_buffered {
            return false;
        }
        *buffered = others + counted;
        self.held = counted;
        true
    }
}

impl Drop for BufferShare<'_> {
    fn drop(&mut self) {
        *lock(&self.admission.buffered) -= self.held;
    }
}

/// A transfer's place; dropping it frees the place.
pub struct TransferSlot {
    admission: Arc<Admission>,
    source: IpAddr,
    moving: Moving,
}

impl Drop for TransferSlot {
    fn drop(&mut self) {
        let mut taken = lock(&self.admission.transfers);
        taken.total -= 1;
        taken.pushes -= usize::from(self.moving == Moving::Push);
        if let Some(n) = taken.per_source.get_mut(&self.source) {
            *n -= 1;
            if *n == 0 {
                taken.per_source.remove(&self.source);
            }
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = lock(&self.admission.open);
        open.total -= 1;
        if let Some(n) = open.per_source.get_mut(&self.source) {
            *n -= 1;
            if *n == 0 {
                open.per_source.remove(&self.source);
            }
        }
    }
}

/// Token buckets, one per source address: `rate` tokens a second, at most five seconds' worth
/// saved up. A rate of 0 turns the limit off.
pub struct Buckets {
    rate: f64,
    capacity: f64,
    max_sources: usize,
    map: HashMap<IpAddr, Bucket>,
}

/// One token bucket; its rate and capacity are its owner's to pass in.
pub struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    /// A bucket holding `capacity` tokens at `now`.
    pub fn full(capacity: f64, now: Instant) -> Self {
        Bucket {
            tokens: capacity,
            at: now,
        }
    }

    /// The tokens at `now`, refilled at `rate` a second up to `capacity`.
    fn refilled(&self, now: Instant, rate: f64, capacity: f64) -> f64 {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        (self.tokens + elapsed * rate).min(capacity)
    }

    /// Takes a token at `now` if there is one, after refilling at `rate` up to `capacity`.
    pub fn take(&mut self, now: Instant, rate: f64, capacity: f64) -> bool {
        let tokens = self.refilled(now, rate, capacity);
        self.at = self.at.max(now);
        let allowed = tokens >= 1.0;
        self.tokens = if allowed { tokens - 1.0 } else { tokens };
        allowed
    }
}

impl Buckets {
    /// Buckets refilled at `rate` a second, for at most `max_sources` addresses.
    pub fn new(rate: u32, max_sources: usize) -> Self {
        Buckets {
            rate: f64::from(rate),
            capacity: f64::from(rate) * BURST_SECONDS,
            max_sources: max_sources.max(1),
            map: HashMap::new(),
        }
    }

    /// Takes a token from `source`'s bucket if it has one.
    pub fn allow(&mut self, source: IpAddr, now: Instant) -> bool {
        if self.rate == 0.0 {
            return true;
        }
        if !self.map.contains_key(&source) && self.map.len() >= self.max_sources {
            self.make_room(now);
        }
        let (rate, capacity) = (self.rate, self.capacity);
        let bucket = (self.map.entry(source)).or_insert_with(|| Bucket::full(capacity, now));
        bucket.take(now, rate, capacity)
    }

    /// Forgets full buckets (a full bucket is the same as none), else the longest unused one.
    fn make_room(&mut self, now: Instant) {
        let full: Vec<IpAddr> = self
            .map
            .iter()
            .filter(|(_, b)| b.refilled(now, self.rate, self.capacity) >= self.capacity)
            .map(|(ip, _)| *ip)
            .collect();
        for ip in full {
            self.map.remove(&ip);
        }
        if self.map.len() >= self.max_sources {
            if let Some(oldest) = self.map.iter().min_by_key(|(_, b)| b.at).map(|(ip, _)| *ip) {
                self.map.remove(&oldest);
            }
        }
    }

    /// Addresses with a bucket.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no address has a bucket.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// Bytes of pushes being received, and of pushes handed over for keeping, so that pushes
/// arriving side by side share one storage quota.
#[derive(Default)]
pub struct PushBytes {
    in_flight: AtomicU64,
    landed: AtomicU64,
}

impl PushBytes {
    /// A mark to take *before* measuring the quota's room: a push that lands while the room is
    /// measured is then counted once or twice, never zero times.
    pub fn mark(&self) -> u64 {
        self.landed.load(Ordering::SeqCst)
    }

    /// A reservation against `room` bytes, measured after `mark`.
    pub fn reserve(&self, mark: u64, room: u64) -> Reservation<'_> {
        Reservation {
            pushes: self,
            room,
            mark,
            mine: 0,
        }
    }
}

/// The bytes one push has received so far, counted against the room it was given.
pub struct Reservation<'a> {
    pushes: &'a PushBytes,
    room: u64,
    mark: u64,
    mine: u64,
}

impl Reservation<'_> {
    /// Grows to `total` bytes (at least [`MIN_PUSH_CHARGE`]); false when the pushes in flight
    /// and those landed since the mark would no longer fit the room.
    pub fn grow(&mut self, total: u64) -> bool {
        let total = total.max(MIN_PUSH_CHARGE);
        let delta = total.saturating_sub(self.mine);
        self.mine = self.mine.max(total);
        let in_flight = self.pushes.in_flight.fetch_add(delta, Ordering::SeqCst) + delta;
        let landed = self.pushes.landed.load(Ordering::SeqCst) - self.mark;
        in_flight.saturating_add(landed) <= self.room
    }

    /// The push was handed over to be kept: its bytes now count as landed.
    pub fn land(self) {
        // Landed before leaving the flight, so the bytes are never counted nowhere.
        self.pushes.landed.fetch_add(self.mine, Ordering::SeqCst);
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        self.pushes.in_flight.fetch_sub(self.mine, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, last])
    }

    fn admission(max_per_source: usize) -> Arc<Admission> {
        Admission::new(&Limits {
            max_per_source,
            ..Limits::default()
        })
    }

    #[test]
    fn a_source_gets_at_most_its_share_of_slots() {
        let admission = admission(2);
        let a = admission.admit(ip(1)).unwrap();
        let _b = admission.admit(ip(1)).unwrap();
        assert_eq!(
            admission.admit(ip(1)).err(),
            Some(Reason::ConnectionsPerSource)
        );
        assert!(admission.admit(ip(2)).is_ok());
        drop(a);
        assert!(admission.admit(ip(1)).is_ok());
    }

    fn transfers(max_transfers: usize) -> Arc<Admission> {
        Admission::new(&Limits {
            max_transfers,
            ..Limits::default()
        })
    }

    #[test]
    fn transfer_slots_are_capped_and_freed_on_drop() {
        let admission = transfers(16);
        let slots: Vec<TransferSlot> = (0..16)
            .map(|i| admission.transfer(ip(i), Moving::Reply).unwrap())
            .collect();
        assert!(admission.transfer(ip(16), Moving::Reply).is_none());
        assert!(
            admission.transfer(ip(16), Moving::Reply).is_none(),
            "a refusal takes no slot"
        );
        drop(slots);
        let _again = admission.transfer(ip(16), Moving::Reply).unwrap();
        assert_eq!(lock(&admission.transfers).per_source.len(), 1);
    }

    #[test]
    fn a_source_holds_at_most_an_eighth_of_the_transfer_slots() {
        let admission = transfers(16);
        let first = admission.transfer(ip(1), Moving::Push).unwrap();
        let _second = admission.transfer(ip(1), Moving::Reply).unwrap();
        assert!(admission.transfer(ip(1), Moving::Reply).is_none());
        assert!(admission.transfer(ip(2), Moving::Reply).is_some());
        drop(first);
        assert!(admission.transfer(ip(1), Moving::Push).is_some());
    }

    #[test]
    fn pushes_leave_half_of_the_transfer_slots_to_replies() {
        let admission = transfers(16);
        let _pushes: Vec<TransferSlot> = (0..8)
            .map(|i| admission.transfer(ip(i), Moving::Push).unwrap())
            .collect();
        assert!(admission.transfer(ip(8), Moving::Push).is_none());
        let _replies: Vec<TransferSlot> = (8..16)
            .map(|i| admission.transfer(ip(i), Moving::Reply).unwrap())
            .collect();
        assert!(admission.transfer(ip(16), Moving::Reply).is_none());
    }

    #[test]
    fn partly_read_messages_share_the_buffer_budget() {
        let admission = Admission::new(&Limits {
            max_buffered: 3 << 20,
            ..Limits::default()
        });
        let (mut first, mut second) = (admission.buffer_share(), admission.buffer_share());
        let small = MAX_SMALL_MESSAGE;
        assert!(first.set(small), "the first bytes of each are free");
        assert!(first.set(small + (2 << 20)));
        assert!(second.set(small + (1 << 20)));
        assert!(!second.set(small + (1 << 20) + 1), "over the budget");
        assert!(second.set(small + 1000), "shrinking is always allowed");
        drop(first);
        assert!(second.set(small + (3 << 20)));
        drop(second);
        assert_eq!(*lock(&admission.buffered), 0);
    }

    #[test]
    fn one_transfer_slot_is_one_for_everything() {
        let admission = transfers(1);
        let push = admission.transfer(ip(1), Moving::Push).unwrap();
        assert!(admission.transfer(ip(2), Moving::Reply).is_none());
        drop(push);
        assert!(admission.transfer(ip(1), Moving::Reply).is_some());
    }

    #[test]
    fn slots_are_capped_in_all() {
        let admission = admission(usize::MAX);
        let slots: Vec<Slot> = (0..MAX_CONNECTIONS)
            .map(|i| admission.admit(ip((i % 250) as u8)).unwrap())
            .collect();
        assert_eq!(admission.admit(ip(251)).err(), Some(Reason::Connections));
        drop(slots);
        assert!(lock(&admission.open).per_source.is_empty());
    }

    #[test]
    fn a_bucket_allows_a_burst_then_the_rate() {
        let t0 = Instant::now();
        let mut buckets = Buckets::new(2, 10);
        let allowed = (0..20).filter(|_| buckets.allow(ip(1), t0)).count();
        assert_eq!(allowed, 10);
        assert!(
            buckets.allow(ip(2), t0),
            "another source has its own bucket"
        );
        assert!(!buckets.allow(ip(1), t0 + Duration::from_millis(100)));
        assert!(buckets.allow(ip(1), t0 + Duration::from_millis(600)));
    }

    #[test]
    fn buckets_stay_bounded() {
        let t0 = Instant::now();
        let mut buckets = Buckets::new(1, 3);
        for i in 0..100 {
            buckets.allow(ip(i), t0 + Duration::from_millis(u64::from(i)));
        }
        assert_eq!(buckets.len(), 3);
    }

    #[test]
    fn a_rate_of_zero_allows_everything() {
        let mut buckets = Buckets::new(0, 3);
        assert!((0..1000).all(|_| buckets.allow(ip(1), Instant::now())));
        assert!(buckets.is_empty());
    }

    /// `n` of the smallest charge.
    const M: u64 = MIN_PUSH_CHARGE;

    #[test]
    fn pushes_side_by_side_share_the_room() {
        let pushes = PushBytes::default();
        let mut a = pushes.reserve(pushes.mark(), 100 * M);
        let mut b = pushes.reserve(pushes.mark(), 100 * M);
        assert!(a.grow(60 * M));
        assert!(!b.grow(41 * M));
        drop(b);
        assert!(a.grow(100 * M));
    }

    #[test]
    fn a_push_that_landed_counts_against_one_still_arriving() {
        let pushes = PushBytes::default();
        let mut a = pushes.reserve(pushes.mark(), 100 * M);
        let mut b = pushes.reserve(pushes.mark(), 100 * M);
        assert!(b.grow(70 * M));
        b.land();
        assert!(a.grow(30 * M));
        assert!(!a.grow(31 * M));
        // A push measured after the landing sees it in its room instead.
        let mut c = pushes.reserve(pushes.mark(), 30 * M);
        drop(a);
        assert!(c.grow(30 * M));
    }

    #[test]
    fn a_small_or_empty_push_counts_as_the_smallest_charge() {
        let pushes = PushBytes::default();
        let mut a = pushes.reserve(pushes.mark(), 2 * M);
        let mut b = pushes.reserve(pushes.mark(), 2 * M);
        let mut c = pushes.reserve(pushes.mark(), 2 * M);
        assert!(a.grow(1));
        assert!(b.grow(0));
        assert!(!c.grow(5));
    }
}
