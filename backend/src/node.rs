//! A running peer: binds both listeners, starts every background task, and stops them all.
//! `main` and the tests start a node the same way.

use crate::api;
use crate::config::Cli;
use crate::net::{self, Limits};
use crate::peer::policy::GossipPolicy;
use crate::peer::{count, Caps, Peer, PeerConfig};
use crate::store::Store;
use anyhow::Context;
use shared::LogLevel;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// Everything needed to start a node.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// Our peer id.
    pub peer_id: String,
    /// The host we advertise.
    pub host: String,
    /// Where the P2P listener binds (port 0: any free port).
    pub p2p_bind: SocketAddr,
    /// Where the HTTP server binds.
    pub http_bind: SocketAddr,
    /// Peers to GOSSIP to at start-up.
    pub bootstrap: Vec<String>,
    /// The storage folder.
    pub storage: PathBuf,
    /// Time between GOSSIP rounds.
    pub gossip_interval: Duration,
    /// Silence after which a peer is dropped.
    pub peer_timeout: Duration,
    /// Time between sweeps.
    pub sweep_interval: Duration,
    /// Files to fetch at start-up.
    pub auto_fetch: usize,
    /// Socket deadlines and size caps.
    pub limits: Limits,
    /// Caps on what strangers can make us keep.
    pub caps: Caps,
    /// Bearer token required by the API, if any.
    pub api_token: Option<String>,
    /// The HTTP server's header deadline, connection cap and stall limit.
    pub http_limits: api::HttpLimits,
    /// Which GOSSIPs are answered and forwarded.
    pub gossip_policy: GossipPolicy,
}

impl NodeConfig {
    /// The configuration the command line asks for.
    pub fn from_cli(cli: &Cli) -> Self {
        NodeConfig {
            peer_id: cli.peer_id.clone(),
            host: cli.host.clone(),
            p2p_bind: SocketAddr::new(cli.p2p_bind, cli.p2p_port),
            http_bind: SocketAddr::new(cli.http_bind, cli.http_port),
            bootstrap: cli.bootstrap_addrs(),
            storage: cli
                .storage
                .clone()
                .unwrap_or_else(|| PathBuf::from(format!("storage_{}", cli.peer_id))),
            gossip_interval: cli.gossip_interval,
            peer_timeout: cli.peer_timeout,
            sweep_interval: cli.sweep_interval,
            auto_fetch: cli.auto_fetch,
            limits: Limits {
                max_file: cli.max_file_size,
                connect: cli.connect_timeout,
                message_deadline: cli.message_deadline,
                max_per_source: cli.max_conns_per_source,
                min_rate: cli.min_rate,
                gossip_reply_rate: cli.gossip_reply_rate,
                ..Limits::default()
            },
            caps: Caps {
                max_unheld_files: cli.max_unheld_files,
                max_peers: cli.max_peers,
                max_ids_per_addr: cli.max_ids_per_addr,
                max_name: cli.max_name_len,
                max_field: cli.max_field_len,
                max_storage: cli.max_storage,
                tombstone_ttl: cli.tombstone_ttl,
            },
            api_token: cli.api_token.clone(),
            http_limits: api::HttpLimits {
                header_read: cli.http_header_timeout,
                max_connections: cli.http_max_connections,
                write_stall: cli.http_stall,
            },
            gossip_policy: cli.gossip_policy,
        }
    }

    /// A node on 127.0.0.1, both ports 0, fast timers, no bootstrap: for tests.
    pub fn for_test(peer_id: &str, storage: PathBuf) -> Self {
        let loopback = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0);
        NodeConfig {
            peer_id: peer_id.to_string(),
            host: "127.0.0.1".to_string(),
            p2p_bind: loopback,
            http_bind: loopback,
            bootstrap: Vec::new(),
            storage,
            gossip_interval: Duration::from_millis(200),
            peer_timeout: Duration::from_millis(1500),
            sweep_interval: Duration::from_millis(100),
            auto_fetch: 0,
            limits: Limits {
                connect: Duration::from_secs(2),
                first_byte: Duration::from_secs(5),
                idle: Duration::from_secs(5),
                message_deadline: Duration::from_secs(5),
                rate_window: Duration::from_secs(1),
                ..Limits::default()
            },
            caps: Caps::default(),
            api_token: None,
            http_limits: api::HttpLimits::default(),
            gossip_policy: GossipPolicy::default(),
        }
    }
}

/// A started peer.
pub struct Node {
    /// The peer's handle.
    pub peer: Peer,
    /// Where the P2P listener listens.
    pub p2p_addr: SocketAddr,
    /// Where the dashboard is served.
    pub http_addr: SocketAddr,
    /// One line per bootstrap host that could not be reached, for the console.
    pub bootstrap_warnings: Option<mpsc::UnboundedReceiver<String>>,
}

impl Node {
    /// Binds both listeners, opens the storage, and starts serving, gossiping, sweeping,
    /// persisting and auto-fetching. The listeners come first: opening the storage may set a
    /// damaged `metadata.json` aside and clean the folder up, which a start that then fails
    /// on a busy port must not have done unseen.
    pub async fn start(config: NodeConfig) -> anyhow::Result<Node> {
        let p2p = TcpListener::bind(config.p2p_bind)
            .await
            .with_context(|| format!("cannot listen on {}", config.p2p_bind))?;
        let http = TcpListener::bind(config.http_bind)
            .await
            .with_context(|| format!("cannot listen on {}", config.http_bind))?;
        let (store, index, report) = Store::open_with_caps(
            &config.storage,
            crate::store::EntryCaps {
                max_name: config.caps.max_name,
                max_field: config.caps.max_field,
            },
        )
        .with_context(|| format!("cannot open storage folder {}", config.storage.display()))?;
        let (tombstones, tombstones_aside) = store
            .load_tombstones(crate::store::unix_now())
            .context("cannot read the remembered DELETEs")?;
        let p2p_addr = p2p.local_addr()?;
        let http_addr = http.local_addr()?;
        let peer = Peer::new(
            PeerConfig {
                peer_id: config.peer_id.clone(),
                host: config.host.clone(),
                p2p_port: p2p_addr.port(),
                http_port: http_addr.port(),
                gossip_interval: config.gossip_interval,
                peer_timeout: config.peer_timeout,
                auto_fetch: config.auto_fetch,
                limits: config.limits,
                caps: config.caps,
            },
            store,
            index,
        );
        let forgot = peer.restore_tombstones(tombstones);
        peer.set_gossip_policy(config.gossip_policy);
        if let Some(aside) = &tombstones_aside {
            peer.log(
                LogLevel::Warn,
                format!(
                    "the remembered DELETEs were unreadable; kept them as {}",
                    aside.display()
                ),
            );
        }
        if let Some((skipped, aside)) = &report.skipped {
            peer.log(
                LogLevel::Warn,
                format!(
                    "left out {} of metadata.json without a usable file_id or timestamp; kept the file as it was as {}",
                    count(*skipped, "record"),
                    aside.display()
                ),
            );
        }
        if report.changed > 0 {
            peer.log(
                LogLevel::Warn,
                format!(
                    "{} changed in the storage folder since stored (or copied without their \
                     times): each is hashed again before it is offered",
                    count(report.changed, "file")
                ),
            );
        }
        if report.python_entries > 0 {
            let kept = (report.python_kept.as_ref())
                .map(|kept| format!("; the file as it was is kept as {}", kept.display()))
                .unwrap_or_default();
            peer.log(
                LogLevel::Info,
                format!(
                    "metadata.json lists {} held in a Python peer's layout: each copy found \
                     under its name is checked against the ids of that name before it is \
                     held{kept}",
                    count(report.python_entries, "file")
                ),
            );
        }
        if let Some((read, aside)) = &report.cut_short {
            peer.log(
                LogLevel::Warn,
                format!(
                    "metadata.json breaks off (damaged): took the {} before the damage; kept the \
                     file as it was as {}",
                    count(*read, "record"),
                    aside.display()
                ),
            );
        }
        if let Some(aside) = &report.corrupt_moved_to {
            peer.log(
                LogLevel::Warn,
                format!(
                    "metadata.json was unreadable; kept it as {}",
                    aside.display()
                ),
            );
        }
        // Saved at once when it differs from `metadata.json`, so that the folder describes
        // itself again before anything else happens. On a full disk the journals keep
        // describing it meanwhile, and the save is tried again with the others.
        let mut unsaved = false;
        let changed = forgot
            || report.replayed > 0
            || report.lost > 0
            || report.skipped.is_some()
            || report.cut_short.is_some();
        if report.rebuilt || changed {
            if let Err(e) = peer.save_now().await {
                peer.log(
                    LogLevel::Warn,
                    format!(
                        "cannot save the index at start: {e}; trying again every {SAVE_RETRY:?}"
                    ),
                );
                unsaved = true;
            }
        }
        // Every task is the peer's, so that stopping the peer stops them all.
        let cancel = peer.cancel_token().clone();
        // Subscribed before anything can change the index, so no change goes unsaved.
        peer.spawn(persist(peer.clone(), peer.dirty(), unsaved));
        peer.spawn(net::server::serve(p2p, peer.clone()));
        let app = api::router(api::ApiState::new(
            peer.clone(),
            config.api_token.clone(),
            cancel.clone(),
        ));
        // Not through `Peer::spawn`: the server shuts down gracefully on the token itself.
        peer.tasks()
            .spawn(api::serve(http, app, config.http_limits, cancel.clone()));
        let bootstrap_warnings = bootstrap(&peer, &config.bootstrap);
        {
            let gossiper = peer.clone();
            let (bootstrap, sweep) = (config.bootstrap.clone(), config.sweep_interval);
            peer.spawn(async move { gossiper.run_gossip(bootstrap, sweep).await });
        }
        {
            let fetcher = peer.clone();
            let (found, candidates) = (report.to_adopt, report.candidates);
            // A file found in the folder looks missing until it is hashed: none is fetched
            // before they all are.
            peer.spawn(async move {
                fetcher.adopt_found(found, candidates).await;
                fetcher.auto_fetch().await;
            });
        }
        Ok(Node {
            peer,
            p2p_addr,
            http_addr,
            bootstrap_warnings: Some(bootstrap_warnings),
        })
    }

    /// Stops every task, waits for them (transfers in flight are dropped whole: their
    /// temporary files are removed), and saves the index; the error says why it could not.
    pub async fn shutdown(self) -> std::io::Result<()> {
        self.peer.cancel_token().cancel();
        let tasks = self.peer.tasks();
        tasks.close();
        if tokio::time::timeout(Duration::from_secs(10), tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("some tasks did not stop within 10 s");
        }
        let saved = self.peer.save_now().await;
        if let Err(e) = &saved {
            tracing::error!("cannot save metadata.json: {e}");
        }
        self.peer.store().release();
        saved
    }
}

/// The start-up GOSSIP: one per bootstrap host, each failure a one-line warning.
fn bootstrap(peer: &Peer, addrs: &[String]) -> mpsc::UnboundedReceiver<String> {
    let (warnings, receiver) = mpsc::unbounded_channel();
    let c = peer.config().clone();
    for addr in addrs {
        let peer = peer.clone();
        let addr = addr.clone();
        let warnings = warnings.clone();
        let id = peer.new_gossip_id();
        let message = crate::protocol::encode::gossip(&c.host, c.p2p_port, &id, &c.peer_id);
        peer.clone().spawn(async move {
            if let Err(e) = net::send(&addr, &message, &peer.config().limits).await {
                let warning = format!("bootstrap host {addr} unreachable: {e}");
                peer.log(LogLevel::Warn, warning.clone());
                let _ = warnings.send(warning);
            }
        });
    }
    receiver
}

/// Saves the index whenever it changes; a burst of changes is one save of the latest state,
/// made at least [`pause_after_save`] after the one before. A save that failed
/// (a full disk, typically), `unsaved` at start among them, is tried again every
/// [`SAVE_RETRY`] until one succeeds, changes or not: the index on disk must not stay behind
/// until the next change.
async fn persist(peer: Peer, mut dirty: tokio::sync::watch::Receiver<u64>, unsaved: bool) {
    let mut failing = unsaved;
    loop {
        let changed = if failing {
            tokio::select! {
                changed = dirty.changed() => changed,
                _ = tokio::time::sleep(SAVE_RETRY) => Ok(()),
            }
        } else {
            dirty.changed().await
        };
        if changed.is_err() {
            return;
        }
        dirty.borrow_and_update();
        let started = std::time::Instant::now();
        let saved = peer.save_now().await;
        let took = started.elapsed();
        match &saved {
            // Said once a streak, not at every retry.
            Err(e) if !failing => peer.log(
                LogLevel::Warn,
                format!("cannot save the index: {e}; trying again every {SAVE_RETRY:?}"),
            ),
            Err(_) => {}
            Ok(()) if failing => peer.log(LogLevel::Info, "saved the index again"),
            Ok(()) => {}
        }
        failing = saved.is_err();
        // Changes meanwhile are kept by `dirty` and saved together after the pause.
        tokio::time::sleep(pause_after_save(took)).await;
    }
}

/// How often a failed save of the index is tried again.
const SAVE_RETRY: Duration = Duration::from_secs(1);

/// The shortest pause between two saves of the index, so that a burst of changes is one save.
const SAVE_PAUSE_MIN: Duration = Duration::from_millis(50);

/// How many times as long as a save took the pause after it lasts at least.
///
/// Nine, so that saving takes at most a tenth of the wall time: a save of `d` is followed by
/// at least `9d` without one, `d` out of every `10d`. What a save costs grows with the index,
/// which strangers can fill (10,000 unheld files of long fields make a `metadata.json` of
/// about 12 MB, and each save writes it whole and syncs it), while what triggers one can
/// cost them a 60-byte DELETE; the pause bounds their reach to a tenth of one core and of
/// the disk's time, whatever the rate of their messages. The price is latency: the index on
/// disk may trail the one in memory by nine times the last save's duration (files landed
/// meanwhile are in their commit journals, and shutdown saves at once).
const SAVE_PAUSE_FACTOR: u32 = 9;

/// How long the persister waits after a save (or a failed one) that took `took` before it
/// starts the next.
fn pause_after_save(took: Duration) -> Duration {
    took.saturating_mul(SAVE_PAUSE_FACTOR).max(SAVE_PAUSE_MIN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saving_takes_at_most_a_tenth_of_the_time() {
        let ms = Duration::from_millis;
        assert_eq!(pause_after_save(ms(0)), ms(50), "never less than 50 ms");
        assert_eq!(pause_after_save(ms(5)), ms(50));
        assert_eq!(pause_after_save(ms(6)), ms(54));
        assert_eq!(pause_after_save(ms(200)), ms(1800));
        assert_eq!(
            pause_after_save(Duration::MAX),
            Duration::MAX,
            "no overflow"
        );
        for took in [ms(1), ms(10), ms(100), Duration::from_secs(3)] {
            let share = took.as_secs_f64() / (took + pause_after_save(took)).as_secs_f64();
            assert!(share <= 0.1 + 1e-9, "{took:?}: {share}");
        }
    }
}
