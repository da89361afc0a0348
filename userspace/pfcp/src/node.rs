//! The PFCP node (TS 29.244 §6.2 node procedures, §6.4 reliable delivery),
//! sans-IO.
//!
//! [`Node`] holds the associations with the CP functions (SMF / PGW-C), the
//! heartbeats, the sequence numbers and retransmission of the requests it
//! sends, and the response cache that answers duplicate requests. It never
//! opens a socket and never reads the clock: datagrams go in through
//! [`Node::handle_datagram`] and come out of [`Node::poll_transmit`]; time goes
//! in as `now` and [`Node::poll_timeout`] says when to call
//! [`Node::handle_timeout`] next (quinn-proto's shape). Session messages are
//! passed to a [`SessionHandler`] once the node has checked the association.
//!
//! Every error caused by network input is either answered with the Cause the
//! spec asks for or dropped and counted in [`NodeStats`]; nothing a peer sends
//! can make the node panic.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use crate::ie::{
    types, NodeId, NodeReportType, OffendingIe, RawIe, RecoveryTimeStamp, UpFunctionFeatures,
    UserPlaneIpResourceInformation,
};
use crate::message::{
    AssociationReleaseResponse, AssociationSetupRequest, AssociationSetupResponse,
    AssociationUpdateResponse, HeartbeatRequest, HeartbeatResponse, NodeReportRequest,
    SessionDeletionResponse, SessionEstablishmentResponse, SessionModificationResponse,
    SessionReportRequest,
};
use crate::{Cause, Header, HeaderError, IeError, Message, MsgType, Pdu, PFCP_PORT};

#[cfg(test)]
mod tests;

/// At most this many messages are read from one datagram (FO flag, §7.2.2.2).
pub const MAX_MESSAGES_PER_DATAGRAM: usize = 16;

/// Configuration of the node.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// Our Node ID (§8.2.38), sent in every node message.
    pub node_id: NodeId,
    /// UP Function Features octets we advertise (§8.2.25), e.g. FTUP (octet 5
    /// bit 1): we allocate F-TEIDs. Empty: the IE is not sent.
    pub up_function_features: Vec<u8>,
    /// User Plane IP Resource Information advertised in Association Setup
    /// (optional, §8.2.82).
    pub user_plane_ip_resources: Vec<UserPlaneIpResourceInformation>,
    /// The CP functions we accept; datagrams from anywhere else are dropped
    /// and counted ([`DropReason::NotAPeer`]).
    pub peers: Vec<PeerConfig>,
    /// How often a Heartbeat Request is sent to each associated peer.
    pub heartbeat_interval: Duration,
    /// N1 for heartbeats: retransmissions of an unanswered Heartbeat Request
    /// before the peer counts as lost.
    pub heartbeat_retries: u32,
    /// T1: the retransmission timer of every request we send (§6.4).
    pub t1: Duration,
    /// N1: retransmissions of a request (other than a heartbeat) before it is
    /// given up.
    pub n1: u32,
    /// How long a response is kept to answer a duplicate request; at least
    /// the peer's T1 × N1 (e.g. 60 s).
    pub response_cache_ttl: Duration,
    /// At most this many responses are cached; the oldest is evicted first.
    pub response_cache_capacity: usize,
    /// What happens to a lost peer's sessions.
    pub on_peer_loss: PeerLossPolicy,
    /// Requests accepted per peer address (a token bucket); excess requests
    /// are dropped before parsing and counted ([`DropReason::RateLimited`]).
    /// Responses to our own requests are never limited. `None`: no limit.
    pub rate_limit: Option<RateLimit>,
}

/// A peer's request budget: `per_sec` on average, `burst` at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests per second, sustained.
    pub per_sec: u32,
    /// Requests accepted back to back after a quiet time.
    pub burst: u32,
}

/// Token buckets kept at most for this many addresses (a wide peer prefix
/// and spoofed sources must not grow the table without bound): beyond it,
/// buckets idle for a second are forgotten, then new sources share one.
const MAX_BUCKETS: usize = 4096;

impl NodeConfig {
    /// A configuration with the usual timers: heartbeat every 10 s with 3
    /// retries, T1 = 3 s, N1 = 3, responses cached 60 s (64 Ki entries),
    /// sessions kept on peer loss; no features, no IP resources.
    pub fn new(node_id: NodeId, peers: Vec<PeerConfig>) -> NodeConfig {
        NodeConfig {
            node_id,
            up_function_features: Vec::new(),
            user_plane_ip_resources: Vec::new(),
            peers,
            heartbeat_interval: Duration::from_secs(10),
            heartbeat_retries: 3,
            t1: Duration::from_secs(3),
            n1: 3,
            response_cache_ttl: Duration::from_secs(60),
            response_cache_capacity: 65_536,
            on_peer_loss: PeerLossPolicy::Keep,
            rate_limit: None,
        }
    }
}

/// A CP function (or a network of them) we accept messages from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerConfig {
    /// The peer's address, or the start of its prefix.
    pub addr: IpAddr,
    /// Prefix length: 32 (IPv4) or 128 (IPv6) for one address.
    pub prefix_len: u8,
    /// We set up the association ourselves (UPF-initiated, §6.2.6.1) toward
    /// `addr`:8805, and keep trying until the peer accepts.
    pub initiate: bool,
}

impl PeerConfig {
    /// One address, the peer initiates the association.
    pub fn host(addr: IpAddr) -> PeerConfig {
        PeerConfig {
            addr,
            prefix_len: if addr.is_ipv4() { 32 } else { 128 },
            initiate: false,
        }
    }

    /// True if `ip` is in this entry's prefix.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr.to_canonical(), ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let len = u32::from(self.prefix_len.min(32));
                let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let len = u32::from(self.prefix_len.min(128));
                let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// What to do with a peer's sessions when its heartbeats go unanswered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerLossPolicy {
    /// Sessions keep forwarding; the loss is only logged and counted, and the
    /// association comes back if the peer answers again with the same
    /// Recovery Time Stamp.
    Keep,
    /// The handler is told to remove the peer's sessions
    /// ([`SessionHandler::release_peer`]) and the association is dropped.
    Delete,
}

/// An associated CP function.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PeerId {
    /// Its Node ID.
    pub node_id: NodeId,
    /// Where our requests to it go (its address, port 8805).
    pub addr: SocketAddr,
}

/// What the node does with session messages: the session manager.
pub trait SessionHandler {
    /// A session request (Establishment, Modification or Deletion) from an
    /// associated peer; returns the CP SEID to put in the response header and
    /// the response message. The node has already checked the association
    /// and parsed the message, and answers duplicates from its cache.
    fn session_request(
        &mut self,
        peer: &PeerId,
        header: &Header,
        msg: Message,
        now: Instant,
    ) -> (u64, Message);

    /// The response to a Session Report Request sent with
    /// [`Node::send_session_report`], or `None` once it was given up after N1
    /// retransmissions.
    fn session_report_response(
        &mut self,
        peer: &PeerId,
        seid: u64,
        rsp: Option<Message>,
        now: Instant,
    );

    /// The peer is gone (Association Release, a restart, or heartbeat loss
    /// under [`PeerLossPolicy::Delete`]): remove its sessions.
    fn release_peer(&mut self, peer: &PeerId, now: Instant);

    /// The CP SEID of the session `up_seid`, for the header of a response
    /// the node builds itself (a malformed Modification or Deletion
    /// Request). `None` (the default): the header carries SEID 0.
    fn cp_seid(&mut self, peer: &PeerId, up_seid: u64) -> Option<u64> {
        let _ = (peer, up_seid);
        None
    }
}

/// A datagram to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// Destination.
    pub to: SocketAddr,
    /// The PFCP message(s).
    pub bytes: Vec<u8>,
}

/// Something that happened to a peer, for logs and metrics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// An association was set up (either side initiated) or came back after
    /// a loss.
    Associated(PeerId),
    /// The peer stopped answering heartbeats.
    PeerLost(PeerId),
    /// The association was released (by the peer, or at its request).
    Released(PeerId),
    /// The peer restarted: its Recovery Time Stamp changed. Its old sessions
    /// were released.
    PeerRestarted(PeerId),
}

/// Where a peer's association stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerState {
    /// We are sending Association Setup Requests (UPF-initiated peers).
    Associating,
    /// Associated.
    Associated,
    /// Heartbeats went unanswered; sessions are kept ([`PeerLossPolicy::Keep`]).
    Lost,
}

/// A peer as [`Node::peers`] reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerStatus {
    /// Its Node ID, once known.
    pub node_id: Option<NodeId>,
    /// Its address (port 8805).
    pub addr: SocketAddr,
    /// Association state.
    pub state: PeerState,
    /// Its Recovery Time Stamp, once known.
    pub recovery_time_stamp: Option<RecoveryTimeStamp>,
    /// When we last received anything from it.
    pub last_heard: Option<Instant>,
    /// T1 expiries of the current Heartbeat Request.
    pub missed_heartbeats: u32,
}

/// Why a message was dropped without an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DropReason {
    /// The source address is not a configured peer.
    NotAPeer,
    /// Shorter than a PFCP header.
    Truncated,
    /// The length field points past the datagram.
    Length,
    /// Version other than 1 (answered with Version Not Supported).
    BadVersion,
    /// The S flag contradicts the message type.
    SeidFlag,
    /// A message type we do not know (§7.3: silently discarded).
    UnknownType,
    /// A response that could not be parsed.
    MalformedResponse,
    /// A response that matches no request we have outstanding.
    UnexpectedResponse,
    /// A request the UP function does not expect (Node Report, Session Report).
    UnexpectedRequest,
    /// A Version Not Supported Response from a peer.
    VersionNotSupported,
    /// More follow-on messages than [`MAX_MESSAGES_PER_DATAGRAM`].
    TooManyMessages,
    /// A request beyond its peer's rate limit ([`NodeConfig::rate_limit`]).
    RateLimited,
}

impl DropReason {
    /// A short name for metrics.
    pub fn name(self) -> &'static str {
        match self {
            DropReason::NotAPeer => "not_a_peer",
            DropReason::Truncated => "truncated",
            DropReason::Length => "length",
            DropReason::BadVersion => "bad_version",
            DropReason::SeidFlag => "seid_flag",
            DropReason::UnknownType => "unknown_type",
            DropReason::MalformedResponse => "malformed_response",
            DropReason::UnexpectedResponse => "unexpected_response",
            DropReason::UnexpectedRequest => "unexpected_request",
            DropReason::VersionNotSupported => "version_not_supported",
            DropReason::TooManyMessages => "too_many_messages",
            DropReason::RateLimited => "rate_limited",
        }
    }
}

/// Counters of the node.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeStats {
    /// Messages received, by type (after the peer and header checks).
    pub rx: BTreeMap<MsgType, u64>,
    /// Messages sent, by type (first transmissions and responses, including
    /// responses from the cache; retransmissions are counted apart).
    pub tx: BTreeMap<MsgType, u64>,
    /// Responses we built, by Cause.
    pub responses_by_cause: BTreeMap<Cause, u64>,
    /// Messages dropped, by reason.
    pub dropped: BTreeMap<DropReason, u64>,
    /// Retransmissions of our requests.
    pub retransmissions: u64,
    /// Our requests given up after N1 retransmissions.
    pub timeouts: u64,
    /// Session Report Requests given up after N1 retransmissions (their
    /// usage reports are logged, as the CP function never acknowledged them).
    pub session_reports_unanswered: u64,
    /// Duplicate requests answered from the response cache.
    pub duplicates: u64,
    /// Responses evicted from the cache before their time (cache full).
    pub cache_evictions: u64,
}

impl NodeStats {
    /// Messages received of type `t`.
    pub fn rx(&self, t: MsgType) -> u64 {
        self.rx.get(&t).copied().unwrap_or(0)
    }

    /// Messages sent of type `t`.
    pub fn tx(&self, t: MsgType) -> u64 {
        self.tx.get(&t).copied().unwrap_or(0)
    }

    /// Messages dropped for `reason`.
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.dropped.get(&reason).copied().unwrap_or(0)
    }

    /// Responses sent with `cause`.
    pub fn responses(&self, cause: Cause) -> u64 {
        self.responses_by_cause.get(&cause).copied().unwrap_or(0)
    }
}

/// Logs the usage reports of a Session Report Request that never reached
/// the CP function (`why`), so that the usage can still be accounted for.
pub fn log_lost_usage(peer: &str, cp_seid: u64, req: &SessionReportRequest, why: &str) {
    for u in &req.usage_report {
        tracing::warn!(
            peer,
            cp_seid,
            why,
            urr = u.urr_id.0,
            ur_seqn = u.ur_seqn.0,
            trigger = format_args!("{:#x}", u.usage_report_trigger.0),
            start = u.start_time.map(|t| t.0),
            end = u.end_time.map(|t| t.0),
            volume = ?u.volume_measurement,
            duration = u.duration_measurement.map(|d| d.0),
            "usage report lost"
        );
    }
}

/// An association as the session store keeps it across a restart.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct SavedAssociation {
    /// The peer's address.
    pub addr: IpAddr,
    /// Its Node ID.
    pub node_id: NodeId,
    /// Its Recovery Time Stamp (a different one later means it restarted).
    pub recovery: u32,
}

/// The PFCP node of the UP function.
#[derive(Debug)]
pub struct Node {
    cfg: NodeConfig,
    recovery: RecoveryTimeStamp,
    /// By the peer's IP address (canonical form).
    peers: HashMap<IpAddr, Peer>,
    /// Requests we sent and wait for, by sequence number.
    outstanding: HashMap<u32, Outstanding>,
    next_seq: u32,
    cache: ResponseCache,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    stats: NodeStats,
    /// Request budgets by source address: (tokens, last refill).
    buckets: HashMap<IpAddr, (f64, Instant)>,
}

#[derive(Debug)]
struct Peer {
    addr: SocketAddr,
    initiate: bool,
    state: PeerState,
    node_id: Option<NodeId>,
    recovery: Option<RecoveryTimeStamp>,
    last_heard: Option<Instant>,
    missed_heartbeats: u32,
    /// When to send the next Heartbeat Request; `None` while one is
    /// outstanding or when not associated.
    next_heartbeat: Option<Instant>,
    heartbeat_seq: Option<u32>,
    /// When to send the next Association Setup Request (initiating peers);
    /// `None` while one is outstanding or when associated.
    next_setup: Option<Instant>,
    setup_seq: Option<u32>,
    /// A release the peer asked for (Association Update with SARR).
    release_at: Option<Instant>,
}

impl Peer {
    fn new(ip: IpAddr, initiate: bool) -> Peer {
        Peer {
            addr: SocketAddr::new(ip, PFCP_PORT),
            initiate,
            state: PeerState::Associating,
            node_id: None,
            recovery: None,
            last_heard: None,
            missed_heartbeats: 0,
            next_heartbeat: None,
            heartbeat_seq: None,
            next_setup: None,
            setup_seq: None,
            release_at: None,
        }
    }

    /// Associated, or lost with its sessions kept: session requests are
    /// served.
    fn has_association(&self) -> bool {
        matches!(self.state, PeerState::Associated | PeerState::Lost)
    }

    fn id(&self) -> Option<PeerId> {
        Some(PeerId {
            node_id: self.node_id.clone()?,
            addr: self.addr,
        })
    }
}

#[derive(Debug)]
struct Outstanding {
    to: SocketAddr,
    request_type: MsgType,
    bytes: Vec<u8>,
    kind: RequestKind,
    next_at: Instant,
    retries_left: u32,
}

#[derive(Debug)]
enum RequestKind {
    Heartbeat(IpAddr),
    Setup(IpAddr),
    SessionReport(PeerId, u64),
    NodeReport(PeerId),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct CacheKey {
    from: SocketAddr,
    sequence: u32,
    message_type: MsgType,
}

/// Responses to the requests we answered, for duplicates (§6.4). All
/// entries live the same time, so insertion order is expiry order.
#[derive(Debug)]
struct ResponseCache {
    map: HashMap<CacheKey, (Vec<u8>, Instant)>,
    order: VecDeque<(CacheKey, Instant)>,
    ttl: Duration,
    capacity: usize,
}

impl ResponseCache {
    fn get(&self, key: &CacheKey, now: Instant) -> Option<&[u8]> {
        self.map
            .get(key)
            .filter(|(_, expires)| *expires > now)
            .map(|(bytes, _)| bytes.as_slice())
    }

    /// Inserts; returns how many entries were evicted to make room.
    fn insert(&mut self, key: CacheKey, bytes: Vec<u8>, now: Instant) -> u64 {
        self.expire(now);
        let mut evicted = 0;
        while self.map.len() >= self.capacity.max(1) {
            let Some((k, expires)) = self.order.pop_front() else {
                break;
            };
            if self.remove_if(&k, expires) {
                evicted += 1;
            }
        }
        let expires = now + self.ttl;
        self.map.insert(key, (bytes, expires));
        self.order.push_back((key, expires));
        evicted
    }

    fn expire(&mut self, now: Instant) {
        while let Some(&(k, expires)) = self.order.front() {
            if expires > now {
                break;
            }
            self.order.pop_front();
            self.remove_if(&k, expires);
        }
    }

    /// Removes `k` if it is still the entry queued with `expires` (a key
    /// inserted again later has a newer queue entry).
    fn remove_if(&mut self, k: &CacheKey, expires: Instant) -> bool {
        if self.map.get(k).is_some_and(|(_, e)| *e == expires) {
            self.map.remove(k);
            true
        } else {
            false
        }
    }
}

impl Node {
    /// A node with no association yet; UPF-initiated peers get their first
    /// Association Setup Request at the first [`Node::handle_timeout`] (at
    /// `now`).
    pub fn new(cfg: NodeConfig, recovery: RecoveryTimeStamp, now: Instant) -> Node {
        let mut peers = HashMap::new();
        for p in cfg.peers.iter().filter(|p| p.initiate) {
            let ip = p.addr.to_canonical();
            let mut peer = Peer::new(ip, true);
            peer.next_setup = Some(now);
            peers.insert(ip, peer);
        }
        let cache = ResponseCache {
            map: HashMap::new(),
            order: VecDeque::new(),
            ttl: cfg.response_cache_ttl,
            capacity: cfg.response_cache_capacity,
        };
        Node {
            cfg,
            recovery,
            peers,
            outstanding: HashMap::new(),
            next_seq: 1,
            cache,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            stats: NodeStats::default(),
            buckets: HashMap::new(),
        }
    }

    /// Takes a token from `ip`'s request budget; false when it is spent.
    fn admit(&mut self, ip: IpAddr, now: Instant) -> bool {
        let Some(l) = self.cfg.rate_limit else {
            return true;
        };
        if !self.buckets.contains_key(&ip) && self.buckets.len() >= MAX_BUCKETS {
            let idle = Duration::from_secs(1);
            self.buckets
                .retain(|_, (_, last)| now.saturating_duration_since(*last) < idle);
        }
        let key = if self.buckets.contains_key(&ip) || self.buckets.len() < MAX_BUCKETS {
            ip
        } else {
            IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)
        };
        let burst = f64::from(l.burst.max(1));
        let b = self.buckets.entry(key).or_insert((burst, now));
        let dt = now.saturating_duration_since(b.1).as_secs_f64();
        b.0 = (b.0 + dt * f64::from(l.per_sec)).min(burst);
        b.1 = now;
        if b.0 >= 1.0 {
            b.0 -= 1.0;
            true
        } else {
            false
        }
    }

    /// Our Recovery Time Stamp.
    pub fn recovery_time_stamp(&self) -> RecoveryTimeStamp {
        self.recovery
    }

    /// Handles one received datagram, which may hold several messages (FO).
    pub fn handle_datagram(
        &mut self,
        from: SocketAddr,
        datagram: &[u8],
        now: Instant,
        h: &mut dyn SessionHandler,
    ) {
        let from = SocketAddr::new(from.ip().to_canonical(), from.port());
        if !self.cfg.peers.iter().any(|p| p.contains(from.ip())) {
            self.drop_msg(DropReason::NotAPeer);
            tracing::debug!(%from, "PFCP datagram from a source that is not a configured peer");
            return;
        }
        self.cache.expire(now);
        let mut rest = datagram;
        for _ in 0..MAX_MESSAGES_PER_DATAGRAM {
            let (header, body) = match Header::parse(rest) {
                Ok(parsed) => parsed,
                Err(e) => {
                    self.header_error(from, e);
                    return;
                }
            };
            // Header::parse checked that the message fits in `rest`.
            let len = Header::message_len(rest).min(rest.len());
            if header.message_type.is_request() && !self.admit(from.ip(), now) {
                // Silently: the peer retransmits after T1, as for a loss.
                self.drop_msg(DropReason::RateLimited);
            } else {
                self.handle_message(from, header, body, now, h);
            }
            if !header.follow_on {
                return;
            }
            rest = &rest[len..];
            if rest.is_empty() {
                // FO set but nothing follows.
                self.drop_msg(DropReason::Truncated);
                return;
            }
        }
        self.drop_msg(DropReason::TooManyMessages);
    }

    /// Runs the timers that are due: retransmissions and give-ups,
    /// heartbeats, association setup attempts, scheduled releases.
    pub fn handle_timeout(&mut self, now: Instant, h: &mut dyn SessionHandler) {
        self.cache.expire(now);
        let mut due: Vec<u32> = self
            .outstanding
            .iter()
            .filter(|(_, o)| o.next_at <= now)
            .map(|(seq, _)| *seq)
            .collect();
        due.sort_unstable();
        for seq in due {
            let Some(o) = self.outstanding.get_mut(&seq) else {
                continue;
            };
            if let RequestKind::Heartbeat(ip) = o.kind {
                if let Some(p) = self.peers.get_mut(&ip) {
                    p.missed_heartbeats += 1;
                }
            }
            if o.retries_left > 0 {
                o.retries_left -= 1;
                o.next_at = now + self.cfg.t1;
                self.transmits.push_back(Transmit {
                    to: o.to,
                    bytes: o.bytes.clone(),
                });
                self.stats.retransmissions += 1;
            } else if let Some(o) = self.outstanding.remove(&seq) {
                self.stats.timeouts += 1;
                self.give_up(o, now, h);
            }
        }

        let mut ips: Vec<IpAddr> = self.peers.keys().copied().collect();
        ips.sort_unstable();
        for ip in ips {
            let Some(p) = self.peers.get(&ip) else {
                continue;
            };
            if p.release_at.is_some_and(|t| t <= now) {
                self.release(ip, now, h);
                continue;
            }
            if p.next_heartbeat.is_some_and(|t| t <= now) {
                self.send_heartbeat(ip, now);
            }
            let Some(p) = self.peers.get(&ip) else {
                continue;
            };
            if p.next_setup.is_some_and(|t| t <= now) {
                self.send_setup(ip, now);
            }
        }
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// When [`Node::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let requests = self.outstanding.values().map(|o| o.next_at);
        let peers = self
            .peers
            .values()
            .flat_map(|p| [p.next_heartbeat, p.next_setup, p.release_at])
            .flatten();
        requests.chain(peers).min()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Sends a Session Report Request (§7.5.8) for the session whose CP SEID
    /// is `cp_seid`, retransmitted after T1 up to N1 times; the outcome goes
    /// to [`SessionHandler::session_report_response`].
    pub fn send_session_report(
        &mut self,
        peer: &PeerId,
        cp_seid: u64,
        req: SessionReportRequest,
        now: Instant,
    ) {
        let header = Header::session(MsgType::SESSION_REPORT_REQUEST, cp_seid, 0);
        self.send_request(
            peer.addr,
            header,
            Message::SessionReportRequest(req),
            RequestKind::SessionReport(peer.clone(), cp_seid),
            self.cfg.n1,
            now,
        );
    }

    /// Sends a Node Report Request (§7.4.5.1), e.g. a user plane path
    /// failure report, retransmitted after T1 up to N1 times. Its Node ID is
    /// set to ours.
    pub fn send_node_report(&mut self, peer: &PeerId, mut req: NodeReportRequest, now: Instant) {
        req.node_id = self.cfg.node_id.clone();
        let header = Header::node(MsgType::NODE_REPORT_REQUEST, 0);
        self.send_request(
            peer.addr,
            header,
            Message::NodeReportRequest(req),
            RequestKind::NodeReport(peer.clone()),
            self.cfg.n1,
            now,
        );
    }

    /// A user plane path failure report (Node Report Type UPFR) for the
    /// given GTP-U peers, ready for [`Node::send_node_report`].
    pub fn path_failure_report(
        &self,
        remote_peers: Vec<crate::ie::RemoteGtpuPeer>,
    ) -> NodeReportRequest {
        NodeReportRequest {
            node_id: self.cfg.node_id.clone(),
            node_report_type: NodeReportType(1),
            user_plane_path_failure_report: Some(crate::ie::UserPlanePathFailureReport {
                remote_peers,
            }),
            unknown: Vec::new(),
        }
    }

    /// The associations a restarted daemon should re-adopt (associated
    /// peers, and lost ones whose sessions are kept), by address.
    pub fn associations(&self) -> Vec<SavedAssociation> {
        let mut v: Vec<SavedAssociation> = self
            .peers
            .iter()
            .filter(|(_, p)| p.has_association())
            .filter_map(|(ip, p)| {
                Some(SavedAssociation {
                    addr: *ip,
                    node_id: p.node_id.clone()?,
                    recovery: p.recovery?.0,
                })
            })
            .collect();
        v.sort_by_key(|a| a.addr);
        v
    }

    /// Re-adopts the associations an earlier daemon had (its sessions were
    /// re-adopted with the pinned fast path): each peer the configuration
    /// still allows is associated again, as if nothing happened, and gets a
    /// Heartbeat Request at `now` (a peer that went away meanwhile is then
    /// found lost as usual). Returns how many were re-adopted.
    pub fn restore_associations(&mut self, saved: &[SavedAssociation], now: Instant) -> usize {
        let mut n = 0;
        for a in saved {
            let ip = a.addr.to_canonical();
            let Some(conf) = self.cfg.peers.iter().find(|p| p.contains(ip)) else {
                tracing::warn!(peer = %ip, "saved PFCP association not re-adopted: the address is no longer a configured peer");
                continue;
            };
            let initiate = conf.initiate && conf.addr.to_canonical() == ip;
            let p = self
                .peers
                .entry(ip)
                .or_insert_with(|| Peer::new(ip, initiate));
            p.node_id = Some(a.node_id.clone());
            p.recovery = Some(RecoveryTimeStamp(a.recovery));
            p.state = PeerState::Associated;
            p.last_heard = Some(now);
            p.missed_heartbeats = 0;
            p.next_heartbeat = Some(now);
            p.next_setup = None;
            if let Some(id) = p.id() {
                tracing::info!(peer = %id.addr, node_id = ?id.node_id, "PFCP association re-adopted");
                self.events.push_back(Event::Associated(id));
            }
            n += 1;
        }
        n
    }

    /// Every known peer: associated, lost, or being associated.
    pub fn peers(&self) -> Vec<PeerStatus> {
        let mut v: Vec<PeerStatus> = self
            .peers
            .values()
            .map(|p| PeerStatus {
                node_id: p.node_id.clone(),
                addr: p.addr,
                state: p.state,
                recovery_time_stamp: p.recovery,
                last_heard: p.last_heard,
                missed_heartbeats: p.missed_heartbeats,
            })
            .collect();
        v.sort_by_key(|p| p.addr);
        v
    }

    /// The counters.
    pub fn stats(&self) -> &NodeStats {
        &self.stats
    }

    // ---- receiving ----

    fn header_error(&mut self, from: SocketAddr, e: HeaderError) {
        tracing::debug!(%from, error = %e, "PFCP header rejected");
        match e {
            HeaderError::Truncated => self.drop_msg(DropReason::Truncated),
            HeaderError::LengthBeyondDatagram { .. } => self.drop_msg(DropReason::Length),
            HeaderError::SeidFlag { .. } => self.drop_msg(DropReason::SeidFlag),
            HeaderError::Version { sequence, .. } => {
                self.drop_msg(DropReason::BadVersion);
                // §7.2.2.1 / §6.4: answer with our version, same sequence.
                if let Some(seq) = sequence {
                    let pdu = Pdu {
                        header: Header::node(MsgType::VERSION_NOT_SUPPORTED_RESPONSE, seq),
                        message: Message::VersionNotSupportedResponse,
                    };
                    self.transmit_response(from, &pdu);
                }
            }
        }
    }

    fn handle_message(
        &mut self,
        from: SocketAddr,
        header: Header,
        body: &[u8],
        now: Instant,
        h: &mut dyn SessionHandler,
    ) {
        let t = header.message_type;
        *self.stats.rx.entry(t).or_default() += 1;
        if t.name() == "unknown" {
            tracing::debug!(%from, message_type = t.0, "unknown PFCP message type discarded");
            self.drop_msg(DropReason::UnknownType);
            return;
        }
        if let Some(p) = self.peers.get_mut(&from.ip()) {
            p.last_heard = Some(now);
        }
        if t.is_request() {
            self.handle_request(from, header, body, now, h);
        } else {
            self.handle_response(from, header, body, now, h);
        }
    }

    fn handle_request(
        &mut self,
        from: SocketAddr,
        header: Header,
        body: &[u8],
        now: Instant,
        h: &mut dyn SessionHandler,
    ) {
        let t = header.message_type;
        let key = CacheKey {
            from,
            sequence: header.sequence,
            message_type: t,
        };
        if let Some(bytes) = self.cache.get(&key, now) {
            // §6.4: a retransmitted request gets the same response, and is
            // not processed again.
            let bytes = bytes.to_vec();
            self.stats.duplicates += 1;
            if let Ok((rh, _)) = Header::parse(&bytes) {
                *self.stats.tx.entry(rh.message_type).or_default() += 1;
            }
            self.transmits.push_back(Transmit { to: from, bytes });
            return;
        }
        let parsed = Message::parse(t, body);
        let reply = match t {
            MsgType::HEARTBEAT_REQUEST => Some(self.on_heartbeat_request(from, parsed, now, h)),
            MsgType::ASSOCIATION_SETUP_REQUEST => Some(self.on_setup_request(from, parsed, now, h)),
            MsgType::ASSOCIATION_UPDATE_REQUEST | MsgType::ASSOCIATION_RELEASE_REQUEST => {
                Some(self.on_association_request(from, t, parsed, now, h))
            }
            MsgType::SESSION_ESTABLISHMENT_REQUEST
            | MsgType::SESSION_MODIFICATION_REQUEST
            | MsgType::SESSION_DELETION_REQUEST => {
                Some(self.on_session_request(from, header, parsed, now, h))
            }
            MsgType::PFD_MANAGEMENT_REQUEST | MsgType::SESSION_SET_DELETION_REQUEST => {
                let (cause, offending) = match parsed {
                    Err(e) => (e.cause, Some(e.offending_ie)),
                    Ok(_) => (Cause::SERVICE_NOT_SUPPORTED, None),
                };
                Some((
                    Header::node(MsgType(t.0 + 1), header.sequence),
                    self.reject(t, cause, offending),
                ))
            }
            _ => {
                // Node Report and Session Report Requests go from the UP
                // function to the CP function, not the other way.
                tracing::debug!(%from, message_type = t.name(), "unexpected PFCP request");
                self.drop_msg(DropReason::UnexpectedRequest);
                None
            }
        };
        let Some((mut rh, message)) = reply else {
            return;
        };
        rh.sequence = header.sequence;
        let pdu = Pdu {
            header: rh,
            message,
        };
        let bytes = self.transmit_response(from, &pdu);
        self.stats.cache_evictions += self.cache.insert(key, bytes, now);
    }

    fn on_heartbeat_request(
        &mut self,
        from: SocketAddr,
        parsed: Result<Message, IeError>,
        now: Instant,
        h: &mut dyn SessionHandler,
    ) -> (Header, Message) {
        match parsed {
            Ok(Message::HeartbeatRequest(req)) => {
                self.heard_recovery(from.ip(), req.recovery_time_stamp, now, h)
            }
            Ok(_) => {}
            Err(e) => {
                // The response has no Cause: a heartbeat is answered anyway.
                tracing::debug!(%from, error = %e, "malformed Heartbeat Request answered");
            }
        }
        (
            Header::node(MsgType::HEARTBEAT_RESPONSE, 0),
            Message::HeartbeatResponse(HeartbeatResponse {
                recovery_time_stamp: self.recovery,
                unknown: Vec::new(),
            }),
        )
    }

    fn on_setup_request(
        &mut self,
        from: SocketAddr,
        parsed: Result<Message, IeError>,
        now: Instant,
        h: &mut dyn SessionHandler,
    ) -> (Header, Message) {
        let header = Header::node(MsgType::ASSOCIATION_SETUP_RESPONSE, 0);
        let req = match parsed {
            Ok(Message::AssociationSetupRequest(req)) => req,
            Ok(_) => {
                return (
                    header,
                    self.reject(
                        MsgType::ASSOCIATION_SETUP_REQUEST,
                        Cause::SYSTEM_FAILURE,
                        None,
                    ),
                )
            }
            Err(e) => {
                tracing::info!(%from, error = %e, "Association Setup Request rejected");
                return (
                    header,
                    self.reject(
                        MsgType::ASSOCIATION_SETUP_REQUEST,
                        e.cause,
                        Some(e.offending_ie),
                    ),
                );
            }
        };
        self.establish(from.ip(), req.node_id, req.recovery_time_stamp, now, h);
        (
            header,
            Message::AssociationSetupResponse(AssociationSetupResponse {
                node_id: self.cfg.node_id.clone(),
                cause: Cause::REQUEST_ACCEPTED,
                recovery_time_stamp: self.recovery,
                up_function_features: self.features(),
                cp_function_features: None,
                user_plane_ip_resource_information: self.cfg.user_plane_ip_resources.clone(),
                unknown: Vec::new(),
            }),
        )
    }

    /// Association Update and Release Requests (§6.2.7, §6.2.8).
    fn on_association_request(
        &mut self,
        from: SocketAddr,
        t: MsgType,
        parsed: Result<Message, IeError>,
        now: Instant,
        h: &mut dyn SessionHandler,
    ) -> (Header, Message) {
        let header = Header::node(MsgType(t.0 + 1), 0);
        let (node_id, release_at) = match parsed {
            Err(e) => {
                tracing::info!(%from, request = t.name(), error = %e, "rejected");
                return (header, self.reject(t, e.cause, Some(e.offending_ie)));
            }
            Ok(Message::AssociationUpdateRequest(req)) => {
                // SARR (bit 1): release the association, after the graceful
                // release period if one is given.
                let release = req.association_release_request.is_some_and(|f| f & 1 != 0);
                let delay = req
                    .graceful_release_period
                    .and_then(timer_duration)
                    .unwrap_or_default();
                (req.node_id, release.then(|| now + delay))
            }
            Ok(Message::AssociationReleaseRequest(req)) => (req.node_id, Some(now)),
            Ok(_) => return (header, self.reject(t, Cause::SYSTEM_FAILURE, None)),
        };
        let ip = from.ip();
        let Some(peer) = self.peers.get_mut(&ip).filter(|p| p.has_association()) else {
            return (
                header,
                self.reject(t, Cause::NO_ESTABLISHED_PFCP_ASSOCIATION, None),
            );
        };
        if peer.node_id.as_ref() != Some(&node_id) {
            tracing::info!(%from, request = t.name(), ?node_id, "Node ID does not match the association");
            return (
                header,
                self.reject(t, Cause::MANDATORY_IE_INCORRECT, Some(types::NODE_ID)),
            );
        }
        if t == MsgType::ASSOCIATION_RELEASE_REQUEST {
            self.release(ip, now, h);
        } else {
            peer.release_at = release_at;
        }
        (header, self.reject(t, Cause::REQUEST_ACCEPTED, None))
    }

    fn on_session_request(
        &mut self,
        from: SocketAddr,
        header: Header,
        parsed: Result<Message, IeError>,
        now: Instant,
        h: &mut dyn SessionHandler,
    ) -> (Header, Message) {
        let t = header.message_type;
        let rt = MsgType(t.0 + 1);
        let peer = self
            .peers
            .get(&from.ip())
            .filter(|p| p.has_association())
            .and_then(Peer::id);
        let Some(peer) = peer else {
            // §6.2.6.1 / §7.2.3: no association, no session.
            let seid = match &parsed {
                Ok(Message::SessionEstablishmentRequest(r)) => r.cp_f_seid.seid,
                _ => 0,
            };
            return (
                Header::session(rt, seid, 0),
                self.reject(t, Cause::NO_ESTABLISHED_PFCP_ASSOCIATION, None),
            );
        };
        match parsed {
            Ok(msg) => {
                let (seid, rsp) = h.session_request(&peer, &header, msg, now);
                if rsp.message_type() != rt {
                    tracing::warn!(
                        request = t.name(),
                        response = rsp.message_type().name(),
                        "session handler answered with an unexpected message type"
                    );
                }
                (Header::session(rt, seid, 0), rsp)
            }
            Err(e) => {
                tracing::info!(%from, request = t.name(), error = %e, "rejected");
                // The CP F-SEID of a malformed Establishment Request may not
                // be readable: answer with SEID 0.
                let seid = if t == MsgType::SESSION_ESTABLISHMENT_REQUEST {
                    0
                } else {
                    h.cp_seid(&peer, header.seid.unwrap_or(0)).unwrap_or(0)
                };
                (
                    Header::session(rt, seid, 0),
                    self.reject(t, e.cause, Some(e.offending_ie)),
                )
            }
        }
    }

    fn handle_response(
        &mut self,
        from: SocketAddr,
        header: Header,
        body: &[u8],
        now: Instant,
        h: &mut dyn SessionHandler,
    ) {
        let t = header.message_type;
        let seq = header.sequence;
        let matches = self
            .outstanding
            .get(&seq)
            .is_some_and(|o| o.to.ip() == from.ip() && o.request_type.response() == Some(t));
        if !matches {
            if t == MsgType::VERSION_NOT_SUPPORTED_RESPONSE {
                tracing::warn!(%from, "peer answered Version Not Supported");
                self.drop_msg(DropReason::VersionNotSupported);
            } else {
                tracing::debug!(%from, response = t.name(), seq, "response matches no request");
                self.drop_msg(DropReason::UnexpectedResponse);
            }
            return;
        }
        let msg = match Message::parse(t, body) {
            Ok(m) => m,
            Err(e) => {
                // Left outstanding: a retransmission may get a good answer.
                tracing::info!(%from, response = t.name(), error = %e, "malformed response dropped");
                self.drop_msg(DropReason::MalformedResponse);
                return;
            }
        };
        let Some(o) = self.outstanding.remove(&seq) else {
            return;
        };
        match (o.kind, msg) {
            (RequestKind::Heartbeat(ip), Message::HeartbeatResponse(r)) => {
                if let Some(p) = self.peers.get_mut(&ip) {
                    p.heartbeat_seq = None;
                    p.missed_heartbeats = 0;
                    if p.has_association() {
                        p.next_heartbeat = Some(now + self.cfg.heartbeat_interval);
                    }
                }
                self.heard_recovery(ip, r.recovery_time_stamp, now, h);
            }
            (RequestKind::Setup(ip), Message::AssociationSetupResponse(r)) => {
                let Some(p) = self.peers.get_mut(&ip) else {
                    return;
                };
                p.setup_seq = None;
                if r.cause.is_accepted() {
                    self.establish(ip, r.node_id, r.recovery_time_stamp, now, h);
                } else {
                    tracing::warn!(peer = %ip, cause = %r.cause, "Association Setup rejected; retrying later");
                    p.next_setup = Some(now + self.cfg.heartbeat_interval);
                }
            }
            (RequestKind::SessionReport(peer, seid), m) => {
                h.session_report_response(&peer, seid, Some(m), now);
            }
            (RequestKind::NodeReport(peer), Message::NodeReportResponse(r)) => {
                if !r.cause.is_accepted() {
                    tracing::warn!(peer = %peer.addr, cause = %r.cause, "Node Report rejected");
                }
            }
            _ => self.drop_msg(DropReason::UnexpectedResponse),
        }
    }

    // ---- association state ----

    /// A Recovery Time Stamp heard from `ip` in a heartbeat: a change means
    /// the peer restarted; an answer from a lost peer brings it back.
    fn heard_recovery(
        &mut self,
        ip: IpAddr,
        ts: RecoveryTimeStamp,
        now: Instant,
        h: &mut dyn SessionHandler,
    ) {
        let Some(p) = self.peers.get_mut(&ip).filter(|p| p.has_association()) else {
            return;
        };
        if p.recovery != Some(ts) {
            self.restarted(ip, now, h);
            self.drop_association(ip, now);
        } else if p.state == PeerState::Lost {
            p.state = PeerState::Associated;
            p.missed_heartbeats = 0;
            p.next_setup = None;
            if let Some(seq) = p.setup_seq.take() {
                self.outstanding.remove(&seq);
            }
            if let Some(id) = p.id() {
                tracing::info!(peer = %id.addr, node_id = ?id.node_id, "PFCP peer answers again");
                self.events.push_back(Event::Associated(id));
            }
        }
    }

    /// The association at `ip` belongs to a restarted peer: release its old
    /// sessions.
    fn restarted(&mut self, ip: IpAddr, now: Instant, h: &mut dyn SessionHandler) {
        let Some(id) = self.peers.get(&ip).and_then(Peer::id) else {
            return;
        };
        tracing::warn!(peer = %id.addr, node_id = ?id.node_id, "PFCP peer restarted (Recovery Time Stamp changed); releasing its sessions");
        h.release_peer(&id, now);
        self.events.push_back(Event::PeerRestarted(id));
    }

    /// An accepted Association Setup (either direction) with `node_id` at
    /// `ip` (§6.2.6): it replaces any association with the same node or at
    /// the same address.
    fn establish(
        &mut self,
        ip: IpAddr,
        node_id: NodeId,
        recovery: RecoveryTimeStamp,
        now: Instant,
        h: &mut dyn SessionHandler,
    ) {
        // The same node associated from another address: it moved.
        let moved: Vec<IpAddr> = self
            .peers
            .iter()
            .filter(|(k, p)| {
                **k != ip && p.has_association() && p.node_id.as_ref() == Some(&node_id)
            })
            .map(|(k, _)| *k)
            .collect();
        for old in moved {
            if let Some(id) = self.peers.get(&old).and_then(Peer::id) {
                // Its sessions are known by the old PeerId: release them.
                h.release_peer(&id, now);
                self.events.push_back(Event::Released(id));
            }
            self.drop_association(old, now);
        }
        let initiate = self
            .cfg
            .peers
            .iter()
            .any(|p| p.initiate && p.addr.to_canonical() == ip);
        let p = self
            .peers
            .entry(ip)
            .or_insert_with(|| Peer::new(ip, initiate));
        if p.has_association() {
            if p.node_id.as_ref() != Some(&node_id) {
                // Another node took this address.
                if let Some(id) = p.id() {
                    h.release_peer(&id, now);
                    self.events.push_back(Event::Released(id));
                }
            } else if p.recovery != Some(recovery) {
                // §6.2.6.2.2: the node set up again after a restart.
                self.restarted(ip, now, h);
            }
        } else if p.node_id.as_ref() == Some(&node_id) && p.recovery.is_some_and(|r| r != recovery)
        {
            // Nothing kept from the old association (its sessions were
            // released when it was dropped); just note the restart.
            if let Some(id) = p.id() {
                self.events.push_back(Event::PeerRestarted(id));
            }
        }
        let Some(p) = self.peers.get_mut(&ip) else {
            return;
        };
        p.node_id = Some(node_id);
        p.recovery = Some(recovery);
        p.state = PeerState::Associated;
        p.last_heard = Some(now);
        p.missed_heartbeats = 0;
        p.next_heartbeat = Some(now + self.cfg.heartbeat_interval);
        p.next_setup = None;
        p.release_at = None;
        let stale = [p.heartbeat_seq.take(), p.setup_seq.take()];
        let id = p.id();
        for seq in stale.into_iter().flatten() {
            self.outstanding.remove(&seq);
        }
        if let Some(id) = id {
            tracing::info!(peer = %id.addr, node_id = ?id.node_id, "PFCP association set up");
            self.events.push_back(Event::Associated(id));
        }
    }

    /// Releases the association at `ip` and its sessions (Association
    /// Release, or a release the peer asked for).
    fn release(&mut self, ip: IpAddr, now: Instant, h: &mut dyn SessionHandler) {
        if let Some(id) = self.peers.get(&ip).and_then(Peer::id) {
            tracing::info!(peer = %id.addr, node_id = ?id.node_id, "PFCP association released");
            h.release_peer(&id, now);
            self.events.push_back(Event::Released(id));
        }
        self.drop_association(ip, now);
        if let Some(p) = self.peers.get_mut(&ip) {
            // A UPF-initiated peer is asked again, after a pause.
            p.next_setup = Some(now + self.cfg.heartbeat_interval);
        }
    }

    /// Forgets the association at `ip`: a UPF-initiated peer goes back to
    /// associating (right away), any other peer is removed.
    fn drop_association(&mut self, ip: IpAddr, now: Instant) {
        let Some(p) = self.peers.get_mut(&ip) else {
            return;
        };
        let stale = [p.heartbeat_seq.take(), p.setup_seq.take()];
        for seq in stale.into_iter().flatten() {
            self.outstanding.remove(&seq);
        }
        if p.initiate {
            p.state = PeerState::Associating;
            p.next_heartbeat = None;
            p.release_at = None;
            p.missed_heartbeats = 0;
            p.next_setup = Some(now);
        } else {
            self.peers.remove(&ip);
        }
    }

    /// A Heartbeat Request to an associated peer went unanswered after its
    /// retransmissions (§6.2.2: T1 × (heartbeat_retries + 1)).
    fn peer_lost(&mut self, ip: IpAddr, now: Instant, h: &mut dyn SessionHandler) {
        let Some(p) = self.peers.get_mut(&ip) else {
            return;
        };
        let Some(id) = p.id() else {
            return;
        };
        tracing::warn!(
            peer = %id.addr,
            node_id = ?id.node_id,
            missed = p.missed_heartbeats,
            policy = ?self.cfg.on_peer_loss,
            "PFCP peer lost: heartbeats unanswered"
        );
        self.events.push_back(Event::PeerLost(id.clone()));
        match self.cfg.on_peer_loss {
            PeerLossPolicy::Keep => {
                p.state = PeerState::Lost;
                // Keep probing; a UPF-initiated peer is also asked to set up
                // the association again.
                p.next_heartbeat = Some(now + self.cfg.heartbeat_interval);
                if p.initiate && p.setup_seq.is_none() {
                    p.next_setup = Some(now);
                }
            }
            PeerLossPolicy::Delete => {
                h.release_peer(&id, now);
                self.drop_association(ip, now);
            }
        }
    }

    fn give_up(&mut self, o: Outstanding, now: Instant, h: &mut dyn SessionHandler) {
        match o.kind {
            RequestKind::Heartbeat(ip) => {
                let Some(p) = self.peers.get_mut(&ip) else {
                    return;
                };
                p.heartbeat_seq = None;
                match p.state {
                    PeerState::Associated => self.peer_lost(ip, now, h),
                    PeerState::Lost => p.next_heartbeat = Some(now + self.cfg.heartbeat_interval),
                    PeerState::Associating => {}
                }
            }
            RequestKind::Setup(ip) => {
                if let Some(p) = self.peers.get_mut(&ip) {
                    tracing::debug!(peer = %ip, "Association Setup Request unanswered; retrying later");
                    p.setup_seq = None;
                    p.next_setup = Some(now + self.cfg.heartbeat_interval);
                }
            }
            RequestKind::SessionReport(peer, seid) => {
                self.stats.session_reports_unanswered += 1;
                tracing::warn!(peer = %peer.addr, seid, "Session Report Request unanswered");
                // The usage in it never reached the CP function: keep it in the log.
                if let Ok(Pdu {
                    message: Message::SessionReportRequest(r),
                    ..
                }) = Pdu::parse(&o.bytes)
                {
                    log_lost_usage(&peer.addr.to_string(), seid, &r, "unanswered");
                }
                h.session_report_response(&peer, seid, None, now);
            }
            RequestKind::NodeReport(peer) => {
                tracing::warn!(peer = %peer.addr, "Node Report Request unanswered");
            }
        }
    }

    // ---- sending ----

    fn send_heartbeat(&mut self, ip: IpAddr, now: Instant) {
        let Some(p) = self.peers.get_mut(&ip) else {
            return;
        };
        p.next_heartbeat = None;
        let to = p.addr;
        let msg = Message::HeartbeatRequest(HeartbeatRequest {
            recovery_time_stamp: self.recovery,
            unknown: Vec::new(),
        });
        let seq = self.send_request(
            to,
            Header::node(MsgType::HEARTBEAT_REQUEST, 0),
            msg,
            RequestKind::Heartbeat(ip),
            self.cfg.heartbeat_retries,
            now,
        );
        if let Some(p) = self.peers.get_mut(&ip) {
            p.heartbeat_seq = Some(seq);
        }
    }

    fn send_setup(&mut self, ip: IpAddr, now: Instant) {
        let Some(p) = self.peers.get_mut(&ip) else {
            return;
        };
        p.next_setup = None;
        let to = p.addr;
        let msg = Message::AssociationSetupRequest(AssociationSetupRequest {
            node_id: self.cfg.node_id.clone(),
            recovery_time_stamp: self.recovery,
            up_function_features: self.features(),
            cp_function_features: None,
            user_plane_ip_resource_information: self.cfg.user_plane_ip_resources.clone(),
            unknown: Vec::new(),
        });
        let seq = self.send_request(
            to,
            Header::node(MsgType::ASSOCIATION_SETUP_REQUEST, 0),
            msg,
            RequestKind::Setup(ip),
            self.cfg.n1,
            now,
        );
        if let Some(p) = self.peers.get_mut(&ip) {
            p.setup_seq = Some(seq);
        }
    }

    /// Sends a request with the next sequence number and keeps it for
    /// retransmission; returns the sequence number.
    fn send_request(
        &mut self,
        to: SocketAddr,
        mut header: Header,
        message: Message,
        kind: RequestKind,
        retries: u32,
        now: Instant,
    ) -> u32 {
        let seq = self.next_sequence();
        header.sequence = seq;
        let request_type = message.message_type();
        let bytes = Pdu { header, message }.to_bytes();
        *self.stats.tx.entry(request_type).or_default() += 1;
        self.transmits.push_back(Transmit {
            to,
            bytes: bytes.clone(),
        });
        self.outstanding.insert(
            seq,
            Outstanding {
                to,
                request_type,
                bytes,
                kind,
                next_at: now + self.cfg.t1,
                retries_left: retries,
            },
        );
        seq
    }

    /// The next 24-bit sequence number not in use by an outstanding request.
    fn next_sequence(&mut self) -> u32 {
        loop {
            let seq = self.next_seq;
            self.next_seq = (self.next_seq + 1) & 0x00ff_ffff;
            if !self.outstanding.contains_key(&seq) {
                return seq;
            }
        }
    }

    /// Emits a response, counts it and queues it; returns its bytes.
    fn transmit_response(&mut self, to: SocketAddr, pdu: &Pdu) -> Vec<u8> {
        let bytes = pdu.to_bytes();
        *self.stats.tx.entry(pdu.message.message_type()).or_default() += 1;
        if let Some(cause) = cause_of(&pdu.message) {
            *self.stats.responses_by_cause.entry(cause).or_default() += 1;
        }
        self.transmits.push_back(Transmit {
            to,
            bytes: bytes.clone(),
        });
        bytes
    }

    fn drop_msg(&mut self, reason: DropReason) {
        *self.stats.dropped.entry(reason).or_default() += 1;
    }

    fn features(&self) -> Option<UpFunctionFeatures> {
        (!self.cfg.up_function_features.is_empty())
            .then(|| UpFunctionFeatures(self.cfg.up_function_features.clone()))
    }

    /// The response to request type `t` carrying only `cause` (and Offending
    /// IE), with our Node ID and Recovery Time Stamp where the response has
    /// them.
    fn reject(&self, t: MsgType, cause: Cause, offending: Option<u16>) -> Message {
        let node_id = self.cfg.node_id.clone();
        let offending_raw: Vec<RawIe> = offending.map(offending_ie_raw).into_iter().collect();
        match t {
            MsgType::ASSOCIATION_SETUP_REQUEST => {
                Message::AssociationSetupResponse(AssociationSetupResponse {
                    node_id,
                    cause,
                    recovery_time_stamp: self.recovery,
                    up_function_features: None,
                    cp_function_features: None,
                    user_plane_ip_resource_information: Vec::new(),
                    unknown: offending_raw,
                })
            }
            MsgType::ASSOCIATION_UPDATE_REQUEST => {
                Message::AssociationUpdateResponse(AssociationUpdateResponse {
                    node_id,
                    cause,
                    up_function_features: None,
                    cp_function_features: None,
                    unknown: offending_raw,
                })
            }
            MsgType::ASSOCIATION_RELEASE_REQUEST => {
                Message::AssociationReleaseResponse(AssociationReleaseResponse {
                    node_id,
                    cause,
                    unknown: offending_raw,
                })
            }
            MsgType::SESSION_ESTABLISHMENT_REQUEST => {
                Message::SessionEstablishmentResponse(SessionEstablishmentResponse {
                    node_id,
                    cause,
                    offending_ie: offending.map(OffendingIe),
                    up_f_seid: None,
                    created_pdr: Vec::new(),
                    load_control_information: None,
                    overload_control_information: None,
                    failed_rule_id: None,
                    unknown: Vec::new(),
                })
            }
            MsgType::SESSION_MODIFICATION_REQUEST => {
                Message::SessionModificationResponse(SessionModificationResponse {
                    cause,
                    offending_ie: offending.map(OffendingIe),
                    created_pdr: Vec::new(),
                    load_control_information: None,
                    overload_control_information: None,
                    usage_report: Vec::new(),
                    failed_rule_id: None,
                    unknown: Vec::new(),
                })
            }
            MsgType::SESSION_DELETION_REQUEST => {
                Message::SessionDeletionResponse(SessionDeletionResponse {
                    cause,
                    offending_ie: offending.map(OffendingIe),
                    load_control_information: None,
                    overload_control_information: None,
                    usage_report: Vec::new(),
                    unknown: Vec::new(),
                })
            }
            _ => {
                // PFD Management / Session Set Deletion Responses, which the
                // codec does not model: built from raw IEs.
                let mut ies = Vec::new();
                if t == MsgType::SESSION_SET_DELETION_REQUEST {
                    ies.push(RawIe {
                        ie_type: types::NODE_ID,
                        enterprise_id: None,
                        value: node_id_value(&node_id),
                    });
                }
                ies.push(RawIe {
                    ie_type: types::CAUSE,
                    enterprise_id: None,
                    value: vec![cause.0],
                });
                ies.extend(offending_raw);
                Message::Unknown {
                    message_type: MsgType(t.0 + 1),
                    ies,
                }
            }
        }
    }
}

/// Offending IE (§8.2.22) as a raw IE, for responses whose struct has no
/// field for it.
fn offending_ie_raw(ie_type: u16) -> RawIe {
    RawIe {
        ie_type: types::OFFENDING_IE,
        enterprise_id: None,
        value: ie_type.to_be_bytes().to_vec(),
    }
}

/// The value octets of a Node ID IE (§8.2.38), for a raw IE.
fn node_id_value(id: &NodeId) -> Vec<u8> {
    match id {
        NodeId::Ipv4(a) => [&[0u8][..], &a.octets()].concat(),
        NodeId::Ipv6(a) => [&[1u8][..], &a.octets()].concat(),
        NodeId::Fqdn(name) => {
            let mut v = vec![2u8];
            for label in name.split('.').filter(|l| !l.is_empty()) {
                let label = &label.as_bytes()[..label.len().min(63)];
                v.push(label.len() as u8); // at most 63
                v.extend_from_slice(label);
            }
            v
        }
    }
}

/// The Cause of a response, if it has one.
fn cause_of(m: &Message) -> Option<Cause> {
    Some(match m {
        Message::AssociationSetupResponse(r) => r.cause,
        Message::AssociationUpdateResponse(r) => r.cause,
        Message::AssociationReleaseResponse(r) => r.cause,
        Message::NodeReportResponse(r) => r.cause,
        Message::SessionEstablishmentResponse(r) => r.cause,
        Message::SessionModificationResponse(r) => r.cause,
        Message::SessionDeletionResponse(r) => r.cause,
        Message::SessionReportResponse(r) => r.cause,
        Message::Unknown { ies, .. } => ies
            .iter()
            .find(|ie| ie.ie_type == types::CAUSE)
            .and_then(|ie| ie.value.first())
            .map(|c| Cause(*c))?,
        _ => return None,
    })
}

/// A Timer IE octet (§8.2.83, e.g. Graceful Release Period): unit in bits
/// 8-6, value in bits 5-1. `None` when the timer is deactivated/infinite.
fn timer_duration(octet: u8) -> Option<Duration> {
    let value = u64::from(octet & 0x1f);
    let unit = match octet >> 5 {
        0 => 2,
        1 => 60,
        2 => 600,
        3 => 3600,
        4 => 36_000,
        5 => 1,
        7 => return None,
        _ => 60,
    };
    Some(Duration::from_secs(value * unit))
}
