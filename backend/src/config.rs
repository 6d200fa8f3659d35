//! The command line: arguments, options (each also an environment variable) and their parsers.

use crate::peer::policy::GossipPolicy;
use clap::Parser;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

/// The well-known hosts of the class network (PROTOCOL.md section 4).
pub const WELL_KNOWN: [&str; 4] = [
    "silicon.cs.umanitoba.ca:8999",
    "eagle.cs.umanitoba.ca:8999",
    "grebe.cs.umanitoba.ca:8999",
    "hawk.cs.umanitoba.ca:8999",
];

const CONSOLE_HELP: &str = "\
Console commands (type them while the peer runs):
  list                 files known on the network; * marks the ones we hold
  peers                tracked peers and when they were last heard from
  get <file_id>        fetch a file (a unique prefix of the id is enough)
  push <path>          add a local file, send it to a peer and announce it
  delete <file_id>     delete a file we own, here and on every peer
  help                 this list
  exit                 save and stop (so do Ctrl-C and SIGTERM)

Example, a three-peer network on one machine:
  peer alice 127.0.0.1 9001 8001 --bootstrap none
  peer bob   127.0.0.1 9002 8002 --bootstrap 127.0.0.1:9001
  peer carol 127.0.0.1 9003 8003 --bootstrap 127.0.0.1:9001

Or all three in one process, with sample files and a dashboard to open:
  peer demo            (see peer demo --help)";

/// `peer demo`: a small live network on this machine, for a first look without the class
/// network.
///
/// Starts three peers (alice, bob and carol) on 127.0.0.1 in this process, each with a few
/// sample files, gossiping every second (bob and carol bootstrap to alice), and prints the
/// address of alice's dashboard. The console commands act on alice.
#[derive(Parser, Debug, Clone)]
#[command(name = "peer demo", bin_name = "peer demo")]
pub struct DemoCli {
    /// Where the three storage folders go (created if missing, kept for the next run), with
    /// the log of all three, demo.log.
    #[arg(long, value_name = "DIR", default_value = "peer-demo")]
    pub dir: PathBuf,
    /// Port of alice's dashboard; 0 picks a free port.
    #[arg(long, default_value_t = 0)]
    pub http_port: u16,
}

/// A peer of the class gossip file-sharing network, with a live dashboard.
///
/// Listens for the peer protocol on P2P_PORT and serves the dashboard and its API on
/// http://HOST:HTTP_PORT/. Port 0 picks a free port. Away from the class network, `peer demo`
/// starts three peers on this machine instead.
#[derive(Parser, Debug, Clone)]
#[command(name = "peer", version, after_help = CONSOLE_HELP)]
pub struct Cli {
    /// Our id on the network (sent as `peerId` and as the owner of files we add).
    pub peer_id: String,
    /// The host other peers reach us at; sent in every GOSSIP, so it must be reachable.
    pub host: String,
    /// TCP port of the peer protocol.
    pub p2p_port: u16,
    /// TCP port of the dashboard and its API.
    pub http_port: u16,

    /// Peer to gossip to at start-up, HOST:PORT; repeat for several. `none` starts a lone
    /// first peer. Default: the four well-known hosts of the class network.
    #[arg(
        long,
        env = "PEER_BOOTSTRAP",
        value_delimiter = ',',
        value_name = "HOST:PORT"
    )]
    pub bootstrap: Vec<String>,

    /// Storage folder. Default: ./storage_<peer_id>.
    #[arg(long, env = "PEER_STORAGE", value_name = "DIR")]
    pub storage: Option<PathBuf>,

    /// Time between our GOSSIP rounds (e.g. 30s, 250ms).
    #[arg(long, env = "PEER_GOSSIP_INTERVAL", default_value = "30s", value_parser = parse_duration)]
    pub gossip_interval: Duration,

    /// Silence after which a peer is dropped.
    #[arg(long, env = "PEER_TIMEOUT", default_value = "60s", value_parser = parse_duration)]
    pub peer_timeout: Duration,

    /// How often silent peers are swept out.
    #[arg(long, env = "PEER_SWEEP_INTERVAL", default_value = "5s", value_parser = parse_duration)]
    pub sweep_interval: Duration,

    /// How many missing files to fetch in the background at start-up.
    #[arg(long, env = "PEER_AUTO_FETCH", default_value_t = 3)]
    pub auto_fetch: usize,

    /// Largest file accepted from the network (e.g. 4GiB, 500MiB).
    #[arg(long, env = "PEER_MAX_FILE_SIZE", default_value = "4GiB", value_parser = parse_size)]
    pub max_file_size: u64,

    /// How long a connection to another peer may take to open.
    #[arg(long, env = "PEER_CONNECT_TIMEOUT", default_value = "5s", value_parser = parse_duration)]
    pub connect_timeout: Duration,

    /// A whole control message (GOSSIP, ANNOUNCE, …) must arrive within this, or the
    /// connection is closed.
    #[arg(long, env = "PEER_MESSAGE_DEADLINE", default_value = "10s", value_parser = parse_duration)]
    pub message_deadline: Duration,

    /// Most concurrent inbound connections from one source address.
    #[arg(long, env = "PEER_MAX_CONNS_PER_SOURCE", default_value_t = 32)]
    pub max_conns_per_source: usize,

    /// Slowest transfer kept, in bytes per second on the wire (file content travels as hex,
    /// twice its size), over 10 s windows from a reply's first byte or a push's first content
    /// byte; a slower holder is abandoned and the next one tried. A peer reading a file from
    /// us is held to it too.
    #[arg(long, env = "PEER_MIN_RATE", default_value = "16KiB", value_parser = parse_size)]
    pub min_rate: u64,

    /// GOSSIP_REPLYs accepted per second from one source address (bursts of 5x allowed).
    #[arg(long, env = "PEER_GOSSIP_REPLY_RATE", default_value_t = 20)]
    pub gossip_reply_rate: u32,

    /// Most files known but not held; beyond it the oldest unheld one is forgotten.
    #[arg(long, env = "PEER_MAX_UNHELD_FILES", default_value_t = 10_000)]
    pub max_unheld_files: usize,

    /// Most peers tracked at once.
    #[arg(long, env = "PEER_MAX_PEERS", default_value_t = 1_000)]
    pub max_peers: usize,

    /// Most peer ids tracked at one host:port.
    #[arg(long, env = "PEER_MAX_IDS_PER_ADDR", default_value_t = 4)]
    pub max_ids_per_addr: usize,

    /// Longest file name accepted from the network, in bytes.
    #[arg(long, env = "PEER_MAX_NAME_LEN", default_value_t = 255)]
    pub max_name_len: usize,

    /// Longest other text field accepted from the network (ids, owners, hosts), in bytes; a
    /// GOSSIP, forwarded as it came, may be four times as long in all.
    #[arg(long, env = "PEER_MAX_FIELD_LEN", default_value_t = 256)]
    pub max_field_len: usize,

    /// Most bytes of files pushed to us by other peers that we keep (e.g. 2GiB); each file
    /// counts as at least 1 MiB.
    #[arg(long, env = "PEER_MAX_STORAGE", default_value = "2GiB", value_parser = parse_size)]
    pub max_storage: u64,

    /// How long a DELETE is remembered, so late gossip cannot bring the file back.
    #[arg(long, env = "PEER_TOMBSTONE_TTL", default_value = "7d", value_parser = parse_duration)]
    pub tombstone_ttl: Duration,

    /// Which GOSSIPs are answered and forwarded: `lean` (a known origin only when our files
    /// changed or every half timeout; forwarded likewise) or `every` (as the protocol is
    /// written; costs N² messages per round).
    #[arg(long, env = "PEER_GOSSIP_POLICY", default_value = "lean")]
    pub gossip_policy: GossipPolicy,

    /// Log level: error, warn, info, debug or trace (or a tracing filter).
    #[arg(long, env = "PEER_LOG_LEVEL", default_value = "info")]
    pub log_level: String,

    /// Log to stderr instead of the file .peer.log in the storage folder.
    #[arg(long, env = "PEER_LOG_STDERR")]
    pub log_stderr: bool,

    /// Address the peer-protocol listener binds to.
    #[arg(long, env = "PEER_P2P_BIND", default_value = "0.0.0.0")]
    pub p2p_bind: IpAddr,

    /// Address the HTTP server binds to. The dashboard can add and delete files: expose it
    /// beyond this machine only with --api-token.
    #[arg(long, env = "PEER_HTTP_BIND", default_value = "127.0.0.1")]
    pub http_bind: IpAddr,

    /// Require `Authorization: Bearer <token>` (or `?token=` for the page) on the API.
    #[arg(long, env = "PEER_API_TOKEN", value_name = "TOKEN")]
    pub api_token: Option<String>,
}

impl Cli {
    /// The bootstrap addresses: the given ones, none, or the well-known hosts.
    pub fn bootstrap_addrs(&self) -> Vec<String> {
        if self.bootstrap.is_empty() {
            return WELL_KNOWN.iter().map(|s| s.to_string()).collect();
        }
        self.bootstrap
            .iter()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty() && !s.eq_ignore_ascii_case("none"))
            .collect()
    }
}

/// A number followed by a unit: `("250", "ms")` as `(250.0, "ms")`.
fn number_and_unit(text: &str) -> Option<(f64, &str)> {
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    Some((number.parse().ok()?, unit.trim()))
}

/// `250ms`, `30s`, `2m`, `1h`, `7d`; a bare number is seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (value, unit) = number_and_unit(text)
        .ok_or_else(|| format!("{text:?} is not a duration like 30s or 250ms"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "" | "s" => value,
        "m" | "min" => value * 60.0,
        "h" => value * 3600.0,
        "d" => value * 86400.0,
        other => return Err(format!("unknown unit {other:?} (use ms, s, m, h or d)")),
    };
    // A timer of zero would spin (tokio refuses one outright); a hundred years is never.
    if !(0.001..=100.0 * 365.0 * 86400.0).contains(&seconds) {
        return Err(format!("{text:?} must be between 1ms and 100 years"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// `4GiB`, `500MiB`, `64KiB`, `1G`, `10MB`; a bare number is bytes.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (value, unit) =
        number_and_unit(text).ok_or_else(|| format!("{text:?} is not a size like 4GiB"))?;
    let factor: f64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" | "kib" => 1024.0,
        "m" | "mb" | "mib" => 1024.0 * 1024.0,
        "g" | "gb" | "gib" => 1024.0 * 1024.0 * 1024.0,
        other => return Err(format!("unknown unit {other:?} (use B, KiB, MiB or GiB)")),
    };
    Ok((value * factor) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_sizes() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("0.0000000001").is_err());
        assert!(parse_duration("0.5ms").is_err());
        assert_eq!(parse_duration("1ms"), Ok(Duration::from_millis(1)));
        assert!(parse_duration("100000000000000000000").is_err());
        assert!(parse_duration("NaN").is_err());
        assert!(parse_duration("fast").is_err());
        assert!(parse_duration("3 weeks").is_err());
        assert_eq!(parse_size("4GiB"), Ok(4 << 30));
        assert_eq!(parse_size("500MiB"), Ok(500 << 20));
        assert_eq!(parse_size("123"), Ok(123));
        assert!(parse_size("lots").is_err());
    }

    #[test]
    fn bootstrap_defaults_to_the_well_known_hosts() {
        let cli = |args: &[&str]| {
            Cli::try_parse_from(["peer", "me", "h", "1", "2"].iter().chain(args)).unwrap()
        };
        assert_eq!(cli(&[]).bootstrap_addrs().len(), 4);
        assert!(cli(&["--bootstrap", "none"]).bootstrap_addrs().is_empty());
        assert_eq!(
            cli(&["--bootstrap", "a:1", "--bootstrap", "b:2"]).bootstrap_addrs(),
            ["a:1", "b:2"]
        );
    }

    #[test]
    fn the_connect_timeout_is_five_seconds_unless_set() {
        let connect = |args: &[&str]| {
            let cli = Cli::try_parse_from(["peer", "me", "h", "1", "2"].iter().chain(args));
            crate::node::NodeConfig::from_cli(&cli.unwrap())
                .limits
                .connect
        };
        assert_eq!(connect(&[]), Duration::from_secs(5));
        assert_eq!(
            connect(&["--connect-timeout", "300ms"]),
            Duration::from_millis(300)
        );
    }
}
