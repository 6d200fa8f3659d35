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

/// What `--help` says after the options: the console's commands, and examples.
fn console_help() -> String {
    format!(
        "Console commands (type them while the peer runs):
{}

Example, a three-peer network on one machine:
  peer alice 127.0.0.1 9001 8001 --bootstrap none
  peer bob   127.0.0.1 9002 8002 --bootstrap 127.0.0.1:9001
  peer carol 127.0.0.1 9003 8003 --bootstrap 127.0.0.1:9001

Or all three in one process, with sample files and a dashboard to open:
  peer demo            (see peer demo --help)",
        crate::cli::COMMANDS
    )
}

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
/// http://127.0.0.1:HTTP_PORT/ (see --http-bind). Port 0 picks a free port. Away from the class
/// network, `peer demo` starts three peers on this machine instead.
///
/// DURATION values take a unit (250ms, 30s, 2m, 1h, 7d; a bare number is seconds). SIZE values
/// take a binary unit (KiB, MiB, GiB; KB, MB and GB mean the same; a bare number is bytes).
#[derive(Parser, Debug, Clone)]
#[command(
    name = "peer",
    version,
    after_help = console_help(),
    arg_required_else_help = true
)]
pub struct Cli {
    /// Our id on the network (sent as `peerId` and as the owner of files we add): no path
    /// separators or control characters, and at most --max-field-len bytes.
    #[arg(value_parser = parse_peer_id)]
    pub peer_id: String,
    /// The host other peers reach us at; sent in every GOSSIP, so it must be reachable.
    pub host: String,
    /// TCP port of the peer protocol.
    pub p2p_port: u16,
    /// TCP port of the dashboard and its API.
    pub http_port: u16,

    /// Peer to gossip to at start-up, HOST:PORT; repeat for several. `none` starts a lone
    /// first peer. Default: the four well-known hosts of the class network.
    /// In PEER_BOOTSTRAP, separate them with commas.
    #[arg(
        long,
        env = "PEER_BOOTSTRAP",
        value_delimiter = ',',
        value_name = "HOST:PORT",
        value_parser = parse_bootstrap
    )]
    pub bootstrap: Vec<String>,

    /// Storage folder. Default: ./storage_<peer_id>.
    #[arg(long, env = "PEER_STORAGE", value_name = "DIR")]
    pub storage: Option<PathBuf>,

    /// Time between our GOSSIP rounds (e.g. 30s, 250ms).
    #[arg(long, env = "PEER_GOSSIP_INTERVAL", default_value = "30s", value_name = "DURATION", value_parser = parse_duration)]
    pub gossip_interval: Duration,

    /// Silence after which a peer is dropped.
    #[arg(long, env = "PEER_TIMEOUT", default_value = "60s", value_name = "DURATION", value_parser = parse_duration)]
    pub peer_timeout: Duration,

    /// How often silent peers are swept out.
    #[arg(long, env = "PEER_SWEEP_INTERVAL", default_value = "5s", value_name = "DURATION", value_parser = parse_duration)]
    pub sweep_interval: Duration,

    /// How many missing files to fetch in the background at start-up.
    #[arg(long, env = "PEER_AUTO_FETCH", default_value_t = 3)]
    pub auto_fetch: usize,

    /// Largest file accepted, from the network or uploaded through the API (e.g. 4GiB, 500MiB).
    #[arg(long, env = "PEER_MAX_FILE_SIZE", default_value = "4GiB", value_name = "SIZE", value_parser = parse_positive_size)]
    pub max_file_size: u64,

    /// How long a connection to another peer may take to open.
    #[arg(long, env = "PEER_CONNECT_TIMEOUT", default_value = "5s", value_name = "DURATION", value_parser = parse_duration)]
    pub connect_timeout: Duration,

    /// A whole control message (GOSSIP, ANNOUNCE, …) must arrive within this, or the
    /// connection is closed.
    #[arg(long, env = "PEER_MESSAGE_DEADLINE", default_value = "10s", value_name = "DURATION", value_parser = parse_duration)]
    pub message_deadline: Duration,

    /// Most concurrent inbound connections from one source address (and 512 from all).
    #[arg(long, env = "PEER_MAX_CONNS_PER_SOURCE", default_value_t = 32, value_parser = parse_count)]
    pub max_conns_per_source: usize,

    /// Slowest transfer kept, in bytes per second on the wire (file content travels as hex,
    /// twice its size), over 10 s windows from a reply's first byte or a push's first content
    /// byte; a slower holder is abandoned and the next one tried. A peer reading a file from
    /// us is held to it too.
    #[arg(long, env = "PEER_MIN_RATE", default_value = "16KiB", value_name = "SIZE", value_parser = parse_size)]
    pub min_rate: u64,

    /// GOSSIP_REPLYs accepted per second from one source address (bursts of 5x allowed).
    #[arg(long, env = "PEER_GOSSIP_REPLY_RATE", default_value_t = 20)]
    pub gossip_reply_rate: u32,

    /// Most files known but not held; beyond it the oldest unheld one is forgotten.
    #[arg(long, env = "PEER_MAX_UNHELD_FILES", default_value_t = 10_000)]
    pub max_unheld_files: usize,

    /// Most peers tracked at once.
    #[arg(long, env = "PEER_MAX_PEERS", default_value_t = 1_000, value_parser = parse_count)]
    pub max_peers: usize,

    /// Most peer ids tracked at one host:port.
    #[arg(long, env = "PEER_MAX_IDS_PER_ADDR", default_value_t = 4, value_parser = parse_count)]
    pub max_ids_per_addr: usize,

    /// Longest file name accepted from the network, in bytes.
    #[arg(long, env = "PEER_MAX_NAME_LEN", default_value_t = shared::DEFAULT_MAX_NAME_LEN, value_parser = parse_count)]
    pub max_name_len: usize,

    /// Longest other text field accepted from the network (ids, owners, hosts), in bytes; a
    /// GOSSIP, forwarded as it came, may be four times as long in all.
    #[arg(long, env = "PEER_MAX_FIELD_LEN", default_value_t = 256, value_parser = parse_count)]
    pub max_field_len: usize,

    /// Most bytes of files pushed to us by other peers that we keep (e.g. 2GiB); each file
    /// counts as at least 1 MiB.
    #[arg(long, env = "PEER_MAX_STORAGE", default_value = "2GiB", value_name = "SIZE", value_parser = parse_size)]
    pub max_storage: u64,

    /// How long a DELETE is remembered, so late gossip cannot bring the file back.
    #[arg(long, env = "PEER_TOMBSTONE_TTL", default_value = "7d", value_name = "DURATION", value_parser = parse_duration)]
    pub tombstone_ttl: Duration,

    /// Which GOSSIPs are answered and forwarded: `lean` (a known origin only when our files
    /// changed or every half timeout; forwarded likewise) or `every` (as the protocol is
    /// written; costs N² messages per round).
    #[arg(long, env = "PEER_GOSSIP_POLICY", default_value = "lean")]
    pub gossip_policy: GossipPolicy,

    /// Log level: off, error, warn, info, debug or trace (or a tracing filter).
    #[arg(long, env = "PEER_LOG_LEVEL", default_value = "info", value_name = "LEVEL", value_parser = parse_log_level)]
    pub log_level: String,

    /// Log to stderr instead of the file .peer.log in the storage folder (PEER_LOG_STDERR
    /// takes true or false, 1 or 0, yes or no, on or off).
    #[arg(
        long,
        env = "PEER_LOG_STDERR",
        action = clap::ArgAction::SetTrue,
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub log_stderr: bool,

    /// Address the peer-protocol listener binds to.
    #[arg(long, env = "PEER_P2P_BIND", default_value = "0.0.0.0")]
    pub p2p_bind: IpAddr,

    /// Address the HTTP server binds to. The dashboard can add and delete files: expose it
    /// beyond this machine only with --api-token.
    #[arg(long, env = "PEER_HTTP_BIND", default_value = "127.0.0.1")]
    pub http_bind: IpAddr,

    /// Most HTTP connections open at once, WebSockets (one per open dashboard) included; the
    /// next waits in the kernel's backlog until one closes.
    #[arg(long, env = "PEER_HTTP_MAX_CONNECTIONS", default_value_t = crate::api::HttpLimits::default().max_connections, value_parser = parse_count)]
    pub http_max_connections: usize,

    /// How long an HTTP request's headers may take to arrive whole; a silent, trickling or
    /// idle kept-alive connection is closed after it.
    #[arg(long, env = "PEER_HTTP_HEADER_TIMEOUT", default_value = "10s", value_name = "DURATION", value_parser = parse_duration)]
    pub http_header_timeout: Duration,

    /// How long the HTTP server waits on a client that stops reading (a download, the event
    /// stream), stops sending an upload's body, or answers none of the event stream's pings
    /// (sent every third of it) before it ends the connection.
    #[arg(long, env = "PEER_HTTP_STALL", default_value = "30s", value_name = "DURATION", value_parser = parse_duration)]
    pub http_stall: Duration,

    /// Require `Authorization: Bearer <token>` (or `?token=` for the page) on the API. Not
    /// blank.
    // Its value must not show in a pasted --help.
    #[arg(
        long,
        env = "PEER_API_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN",
        value_parser = parse_token
    )]
    pub api_token: Option<String>,
}

impl Cli {
    /// The arguments, checked against each other as well.
    pub fn parse_checked() -> Self {
        let cli = Cli::parse();
        if let Err(e) = cli.check() {
            use clap::CommandFactory;
            Cli::command()
                .error(clap::error::ErrorKind::ArgumentConflict, e)
                .exit();
        }
        cli
    }

    /// What no single argument's parser can see.
    fn check(&self) -> Result<(), String> {
        if self.peer_id.len() > self.max_field_len {
            return Err(format!(
                "the peer id is longer than --max-field-len ({} bytes): peers with that limit \
                 would refuse it, and so would we, as the owner of our own files",
                self.max_field_len
            ));
        }
        if self.p2p_port != 0 && self.p2p_port == self.http_port {
            return Err(format!(
                "P2P_PORT and HTTP_PORT are both {}: the two listeners need a port each",
                self.p2p_port
            ));
        }
        Ok(())
    }

    /// What is allowed but probably a mistake, a sentence each.
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        if !self.http_bind.is_loopback() && self.api_token.is_none() {
            warnings.push(format!(
                "the dashboard listens on {} without --api-token: anyone who can reach it can \
                 add and delete files",
                self.http_bind
            ));
        }
        if self.peer_timeout <= self.gossip_interval {
            warnings.push(format!(
                "--peer-timeout ({:?}) is not longer than --gossip-interval ({:?}): peers with \
                 the same settings will drop us between our rounds",
                self.peer_timeout, self.gossip_interval
            ));
        }
        warnings
    }

    /// The bootstrap addresses: the given ones, none, or the well-known hosts.
    pub fn bootstrap_addrs(&self) -> Vec<String> {
        if self.bootstrap.is_empty() {
            return WELL_KNOWN.iter().map(|s| s.to_string()).collect();
        }
        self.bootstrap
            .iter()
            .filter(|s| !s.eq_ignore_ascii_case("none"))
            .cloned()
            .collect()
    }
}

/// A peer id we can send and use as a folder name.
fn parse_peer_id(text: &str) -> Result<String, String> {
    if text.trim().is_empty() {
        return Err("the peer id is empty".into());
    }
    if text.contains(['/', '\\']) || text.chars().any(char::is_control) {
        return Err("the peer id must not contain '/', '\\' or control characters".into());
    }
    if text.trim() != text {
        return Err("the peer id must not start or end with a space".into());
    }
    Ok(text.to_string())
}

/// `HOST:PORT`, `[IPv6]:PORT`, or `none`.
fn parse_bootstrap(text: &str) -> Result<String, String> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("none") {
        return Ok(text.to_string());
    }
    let (host, port) = text.rsplit_once(':').unwrap_or((text, ""));
    // An IPv6 address holds colons of its own: only in brackets can its port be told apart.
    let host_ok = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(v6) => v6.parse::<std::net::Ipv6Addr>().is_ok(),
        None => !host.is_empty() && !host.contains(':'),
    };
    let port_ok = port.parse::<u16>().is_ok_and(|port| port != 0);
    if host_ok && port_ok {
        Ok(text.to_string())
    } else {
        Err(format!(
            "{text:?} is not HOST:PORT ([ADDRESS]:PORT for IPv6), or none"
        ))
    }
}

/// A level, or a filter like `backend=debug,info`.
pub fn parse_log_level(text: &str) -> Result<String, String> {
    // A bare word is a level: any other (`warning`) would be taken for a module to log.
    const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];
    let bare = !text.contains(['=', ',', ':', '[']);
    if bare && !LEVELS.contains(&text.to_ascii_lowercase().as_str()) {
        return Err(format!(
            "use one of {}, or a tracing filter",
            LEVELS.join(", ")
        ));
    }
    tracing_subscriber::EnvFilter::try_new(text).map_err(|e| e.to_string())?;
    Ok(text.to_string())
}

/// A token a browser or `curl` can send back as it is.
fn parse_token(text: &str) -> Result<String, String> {
    if text.trim().is_empty() {
        return Err("the API token is blank: it would let anyone in".into());
    }
    if text.trim() != text || text.chars().any(char::is_control) {
        return Err(
            "the API token has spaces around it or control characters: no client could send it"
                .into(),
        );
    }
    Ok(text.to_string())
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
    let bytes = value * factor;
    // `u64::MAX as f64` is 2^64, one past the largest count.
    if !(0.0..u64::MAX as f64).contains(&bytes) {
        return Err(format!(
            "{text:?} is more bytes than this machine can count"
        ));
    }
    if bytes.fract() != 0.0 {
        return Err(format!("{text:?} is not a whole number of bytes"));
    }
    Ok(bytes as u64)
}

/// A size of at least one byte.
pub fn parse_positive_size(text: &str) -> Result<u64, String> {
    match parse_size(text)? {
        0 => Err("0 would refuse everything; give at least 1 byte".into()),
        bytes => Ok(bytes),
    }
}

/// A count of at least one.
pub fn parse_count(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(0) => Err("0 would refuse everything; give at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("{text:?} is not a whole number")),
    }
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
        assert_eq!(parse_size("1.5KiB"), Ok(1536));
        assert!(parse_size("1.5").is_err(), "a fraction of a byte");
        assert!(parse_size("99999999999999GiB").is_err());
        assert!(parse_size("18446744073709551616").is_err());
        assert_eq!(parse_size("0"), Ok(0));
        assert!(parse_positive_size("0GiB").is_err());
        assert_eq!(parse_count("3"), Ok(3));
        assert!(parse_count("0").is_err());
        assert!(parse_count("-1").is_err());
    }

    /// The arguments as the binary takes them. Every option can come from a `PEER_*`
    /// variable as well, so these tests need an environment without any.
    fn parse(args: &[&str]) -> Result<Cli, String> {
        let set: Vec<String> = std::env::vars()
            .map(|(name, _)| name)
            .filter(|name| name.starts_with("PEER_"))
            .collect();
        assert!(set.is_empty(), "unset {set:?} to run these tests");
        let cli = Cli::try_parse_from(["peer"].iter().chain(args)).map_err(|e| e.to_string())?;
        cli.check()?;
        Ok(cli)
    }

    /// `args` after the four arguments every peer takes.
    fn options(args: &[&str]) -> Result<Cli, String> {
        let all: Vec<&str> = ["me", "h", "1", "2"].iter().chain(args).copied().collect();
        parse(&all)
    }

    #[test]
    fn a_peer_id_that_cannot_be_sent_or_be_a_folder_is_refused() {
        for id in [
            "",
            " ",
            " sp ",
            "sp ",
            "a/b",
            "a\\b",
            "a\nb",
            &"x".repeat(257),
        ] {
            assert!(parse(&[id, "h", "1", "2"]).is_err(), "{id:?}");
        }
        assert!(parse(&["Élise-2", "h", "1", "2"]).is_ok());
        let long = "x".repeat(100);
        assert!(parse(&[&long, "h", "1", "2"]).is_ok());
        assert!(parse(&[&long, "h", "1", "2", "--max-field-len", "64"]).is_err());
    }

    #[test]
    fn bootstrap_addresses_need_a_port() {
        for bad in [
            "127.0.0.1",
            "",
            "host:",
            ":9000",
            "host:0",
            "host:99999",
            "::1",
            "fe80::1",
            "[::1]",
            "[nonsense]:9000",
        ] {
            assert!(options(&["--bootstrap", bad]).is_err(), "{bad:?}");
        }
        for good in [
            "127.0.0.1:9000",
            "[::1]:9000",
            "eagle.cs.umanitoba.ca:8999",
            "none",
        ] {
            assert!(options(&["--bootstrap", good]).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn an_api_token_no_client_could_send_is_refused() {
        for bad in [" ", " s3cret", "s3cret\n", "s3\tcret"] {
            assert!(options(&["--api-token", bad]).is_err(), "{bad:?}");
        }
        assert!(options(&["--api-token", "s3cret"]).is_ok());
    }

    #[test]
    fn the_two_listeners_need_different_ports_unless_picked_free() {
        let refused = parse(&["me", "h", "8000", "8000"]).map(|_| ()).unwrap_err();
        assert!(refused.contains("both 8000"), "{refused}");
        assert!(parse(&["me", "h", "0", "0"]).is_ok());
    }

    #[test]
    fn settings_that_are_probably_mistakes_are_warned_about() {
        let warnings = |args: &[&str]| options(args).unwrap().warnings();
        assert!(warnings(&[]).is_empty());
        let exposed = warnings(&["--http-bind", "0.0.0.0"]);
        assert!(exposed[0].contains("without --api-token"), "{exposed:?}");
        assert!(warnings(&["--http-bind", "0.0.0.0", "--api-token", "t"]).is_empty());
        let timers = warnings(&["--gossip-interval", "2m"]);
        assert!(timers[0].contains("--peer-timeout"), "{timers:?}");
    }

    #[test]
    fn the_http_limits_default_to_the_servers_and_each_has_a_flag() {
        let limits = |args: &[&str]| crate::node::NodeConfig::from_cli(&options(args).unwrap());
        assert_eq!(limits(&[]).http_limits, crate::api::HttpLimits::default());
        let got = limits(&[
            "--http-max-connections",
            "8",
            "--http-header-timeout",
            "2s",
            "--http-stall",
            "1m",
        ])
        .http_limits;
        let want = crate::api::HttpLimits {
            header_read: Duration::from_secs(2),
            max_connections: 8,
            write_stall: Duration::from_secs(60),
        };
        assert_eq!(got, want);
        assert!(options(&["--http-max-connections", "0"]).is_err());
    }

    #[test]
    fn log_levels_are_levels_or_filters() {
        for good in ["info", "WARN", "off", "backend=debug,info"] {
            assert_eq!(parse_log_level(good), Ok(good.to_string()));
        }
        for bad in ["warning", "loud", "a=b=c"] {
            assert!(parse_log_level(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bootstrap_defaults_to_the_well_known_hosts() {
        let cli = |args: &[&str]| options(args).unwrap();
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
            crate::node::NodeConfig::from_cli(&options(args).unwrap())
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
