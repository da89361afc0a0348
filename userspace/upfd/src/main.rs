//! `upfd`: the mvno-upf daemon.
//!
//! Loads the XDP fast path with the configured map sizes, attaches it to the
//! configured interfaces, installs static sessions, and serves `upfctl` on a
//! Unix socket until SIGINT or SIGTERM, when it detaches cleanly.

use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use clap::Parser;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, UnixListener, UnixStream};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::{mpsc, watch};

use upf_config::pfcp::PfcpConfig;
use upf_config::{Config, SessionsFile};
use upf_control::Request;
use upf_pfcp::node::Node;
use upf_session::datapath::Datapath;
use upf_session::handler::Effects;
use upf_session::handler::Identity;
use upf_session::manager::SessionManager;
use upf_session::qos::control::QosControl;
use upfd::bpf::{BpfDatapath, LoadOptions, Port};
use upfd::control;
use upfd::gtpu_path::{self, GtpuPath};
use upfd::meter::{PoiTable, TrafficMeter, Writer};
use upfd::pfcp::recovery::RecoveryStore;
use upfd::pfcp::server;

#[derive(Parser, Debug)]
#[command(
    version,
    about = "mvno-upf: XDP GTP-U gateway daemon (4G PGW-U / 5G UPF)"
)]
struct Args {
    /// Configuration file (TOML); see configs/upf.toml.
    #[arg(short, long, default_value = "/etc/mvno-upf/upf.toml")]
    config: PathBuf,
    /// Check the configuration (and the sessions file) and exit.
    #[arg(long)]
    check: bool,
    /// Full reset, then exit: detach and unpin the fast path
    /// (gateway.pin_dir), forget the saved sessions and take a new Recovery
    /// Time Stamp, so every SMF re-establishes its sessions
    /// (docs/operations.md). Run it with the daemon stopped.
    #[arg(long)]
    reset: bool,
}

/// The session core, shared on this one thread by the PFCP server (it is
/// the node's session handler), the control connections and the timers;
/// no borrow is held across an `.await`.
type Manager = Rc<RefCell<SessionManager<BpfDatapath>>>;
/// The GTP-U signalling socket's state, shared the same way.
type Path = Rc<RefCell<GtpuPath>>;
type Meter = Rc<RefCell<TrafficMeter>>;

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let args = Args::parse();
    let cfg = Config::load(&args.config)?;
    let statics = match &cfg.gateway.static_sessions {
        Some(p) => SessionsFile::load(p)?.sessions,
        None => Vec::new(),
    };
    if args.check {
        println!(
            "{}: ok ({} static sessions)",
            args.config.display(),
            statics.len()
        );
        return Ok(());
    }
    if unsafe_is_not_root() {
        bail!("upfd must run as root (it loads BPF programs and attaches XDP)");
    }
    if args.reset {
        return full_reset(&cfg);
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    // The PFCP node and the control connections share state through Rc
    // on this one thread.
    let local = tokio::task::LocalSet::new();
    rt.block_on(local.run_until(run(cfg, statics)))
}

/// `upfd --reset`: what a restart must not re-adopt is removed.
fn full_reset(cfg: &Config) -> anyhow::Result<()> {
    if let Some(dir) = &cfg.gateway.pin_dir {
        let removed = upfd::bpf::remove_pins(dir)
            .with_context(|| format!("removing the pins in {} (gateway.pin_dir)", dir.display()))?;
        println!(
            "{}: removed {} pins ({})",
            dir.display(),
            removed.len(),
            removed.join(", ")
        );
    }
    if let Some(p) = &cfg.pfcp {
        for f in upfd::pfcp::store::SessionStore::remove(&p.state_dir)? {
            println!("{}: removed", f.display());
        }
        let ts = RecoveryStore::reset(&p.state_dir).with_context(|| {
            format!(
                "configuration field pfcp.state_dir ({})",
                p.state_dir.display()
            )
        })?;
        println!(
            "new Recovery Time Stamp {} (the SMFs will see a restart)",
            ts.0
        );
    }
    Ok(())
}

fn unsafe_is_not_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() != 0 }
}

async fn run(
    cfg: Config,
    statics: Vec<upf_session::static_sessions::SessionSpec>,
) -> anyhow::Result<()> {
    let g = &cfg.gateway;
    let qos = cfg
        .qos_setup()
        .map_err(|(f, r)| anyhow::anyhow!("configuration field {f}: {r}"))?;
    let mut ports = Vec::new();
    for (i, itf) in cfg.interfaces.iter().enumerate() {
        let p = Port::resolve(&itf.name, itf.role_bits())
            .with_context(|| format!("configuration field interface[{i}].name"))?;
        ports.push(p);
    }
    // GTP-U only from the host network: the configured prefixes, else the
    // POIs' peers.
    let gtpu_peers = match &g.gtpu_peers {
        Some(list) => Some(list.clone()),
        None if !qos.pois.is_empty() => {
            Some(qos.pois.iter().flat_map(|p| p.peers.clone()).collect())
        }
        None => None,
    };
    match &gtpu_peers {
        Some(p) => tracing::info!(prefixes = p.len(), "GTP-U accepted only from the host network's peers"),
        None => tracing::warn!("GTP-U accepted from any source: set gateway.gtpu_peers (or [[poi]] peers) on an interconnect"),
    }
    if !g.anti_spoofing {
        tracing::warn!("uplink anti-spoofing off (gateway.anti_spoofing = false)");
    }
    let opts = LoadOptions {
        gtpu_peers,
        anti_spoofing: g.anti_spoofing,
        n3_ipv4: g.n3_address,
        ports,
        max_sessions: g.max_sessions,
        counter_slots: g.max_pdrs(),
        rule_sets: g.max_rule_sets,
        nexthop_cache: g.nexthop_cache,
        meters: qos.max_meters,
        teid_range: cfg
            .pfcp
            .as_ref()
            .map_or(upf_config::pfcp::DEFAULT_TEID_RANGE, |p| {
                (p.teid_first, p.teid_last)
            }),
        ue_prefixes: cfg.direct_ue_prefixes(),
        poi_peers: qos.pois.iter().map(|p| p.peers.clone()).collect(),
    };
    let spread_cpus = g.spread_cpu_list();
    let loaded_at = upfd::meter::unix_now();
    let mut dp =
        BpfDatapath::load_pinned(&opts, &spread_cpus, g.pin_dir.as_deref()).with_context(|| {
            match &g.pin_dir {
                Some(d) => format!(
                    "loading the fast path (pinned in {}, gateway.pin_dir)",
                    d.display()
                ),
                None => "loading the fast path".to_string(),
            }
        })?;
    let adopted = dp.adopted();
    if adopted {
        tracing::info!(pin_dir = ?g.pin_dir, "re-adopting the pinned fast path: its sessions' entries and counters carry on");
    }
    tracing::info!(
        max_sessions = g.max_sessions,
        max_pdrs = g.max_pdrs(),
        max_rule_sets = g.max_rule_sets,
        spread_cpus = ?spread_cpus,
        "XDP program loaded and verified"
    );
    dp.attach(g.attach_mode)?;
    for p in dp.ports() {
        tracing::info!(iface = %p.name, ifindex = p.ifindex, roles = upf_session::datapath::roles_name(p.roles), mode = g.attach_mode.name(), "XDP attached");
    }
    let manager: Manager = Rc::new(RefCell::new(SessionManager::with_config(
        dp,
        upf_config::pfcp::sessions_config(g.n3_address, cfg.pfcp.as_ref(), qos.params.clone()),
    )));
    manager
        .borrow_mut()
        .set_qos(QosControl::from_setup(&qos))
        .map_err(|e| anyhow::anyhow!("setting up the POI meters: {e}"))?;
    // With pinning and PFCP, sessions are saved and re-adopted with the maps.
    let fresh_start = match (&g.pin_dir, &cfg.pfcp) {
        (Some(_), Some(p)) => !open_session_store(&manager, p, &opts, adopted)?,
        _ => true,
    };
    for p in &qos.pois {
        tracing::info!(poi = %p.name, capacity_ul_bps = p.capacity_bps[0], capacity_dl_bps = p.capacity_bps[1], "POI capacity guard");
    }
    // The maps were created (at zero) when the program was loaded above.
    let meter: Meter = Rc::new(RefCell::new({
        let m = TrafficMeter::new(PoiTable::new(
            &qos.pois
                .iter()
                .map(|p| (p.name.clone(), p.peers.clone()))
                .collect::<Vec<_>>(),
        ));
        // The POI counters (STATS) are never pinned: they start at zero
        // with this program, re-adopted sessions or not.
        m.counting_from(loaded_at)
    }));
    let writer = if cfg.meter.enabled {
        let store = upf_meter::store::open(&cfg.meter.store)
            .with_context(|| format!("configuration field meter.store ({})", cfg.meter.store))?;
        tracing::info!(store = %cfg.meter.store, gateway = %cfg.meter.gateway_name(), "peak-hour meter on");
        Some(Writer::start(
            store,
            cfg.meter.gateway_name(),
            cfg.meter.retention(),
        ))
    } else {
        tracing::info!("peak-hour meter off (meter.enabled = false)");
        None
    };
    let metrics = match &cfg.metrics {
        Some(m) => {
            let l = TcpListener::bind(m.listen)
                .await
                .with_context(|| format!("configuration field metrics.listen ({})", m.listen))?;
            tracing::info!(listen = %m.listen, "Prometheus endpoint on /metrics");
            Some(l)
        }
        None => None,
    };
    let nexthop_task = if g.nexthop_cache {
        Some(start_nexthop_cache(&manager)?)
    } else {
        tracing::info!("next-hop cache off (gateway.nexthop_cache = false): bpf_fib_lookup only");
        None
    };
    let path = GtpuPath::bind(g.n3_address).await.with_context(|| {
        format!(
            "binding the GTP-U signalling socket on {}:2152 (gateway.n3_address must be an address of this host)",
            g.n3_address
        )
    })?;
    let path: Path = Rc::new(RefCell::new(path));

    for s in statics {
        let id = s.id;
        let resp = control::handle(
            &mut manager.borrow_mut(),
            Request::Install { session: s },
            None,
        );
        if !resp.ok {
            bail!("static session {id}: {}", resp.error.unwrap_or_default());
        }
        apply_effects(&path, manager.borrow_mut().take_effects());
    }
    tracing::info!(
        sessions = manager.borrow_mut().len(),
        "static sessions installed"
    );
    // Re-adopted sessions' GTP-U peers are supervised from the start too.
    manager.borrow_mut().announce_all();
    apply_effects(&path, manager.borrow_mut().take_effects());
    if adopted {
        // Entries of sessions no store holds (a crash between a map write
        // and the save; static sessions the file no longer lists).
        match manager.borrow_mut().sessions_mut().remove_orphans() {
            Ok((0, 0)) => {}
            Ok((ul, dl)) => tracing::warn!(
                uplink = ul,
                downlink = dl,
                "removed fast-path entries no session owns"
            ),
            Err(e) => tracing::warn!(error = %e, "looking for orphaned fast-path entries failed"),
        }
    }

    let (stop_tx, stop_rx) = watch::channel(false);
    let pfcp = match &cfg.pfcp {
        Some(p) => Some(start_pfcp(p, &manager, &path, stop_rx, fresh_start).await?),
        None => None,
    };
    let node = pfcp.as_ref().map(|(n, _, _)| n.clone());
    // Associations go with the re-adopted sessions (their SMFs see no restart).
    let mut saved_assoc = Vec::new();
    if let (Some(n), false) = (&node, fresh_start) {
        let saved = manager
            .borrow_mut()
            .store_mut()
            .map(|s| s.associations())
            .transpose()
            .map_err(|e| anyhow::anyhow!("reading the saved PFCP associations: {e}"))?
            .unwrap_or_default();
        let k = n.borrow_mut().restore_associations(&saved, Instant::now());
        tracing::info!(associations = k, "PFCP associations re-adopted");
        saved_assoc = saved;
    }
    let reports = pfcp.as_ref().map(|(_, _, r)| r.clone());
    // URR reporting triggers: evaluated every pfcp.usage_poll_ms.
    let usage_poll = cfg
        .pfcp
        .as_ref()
        .map(|p| Duration::from_millis(p.usage_poll_ms));
    let mut usage_tick =
        tokio::time::interval(usage_poll.unwrap_or(Duration::from_secs(3600 * 24 * 365)));
    usage_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    usage_tick.tick().await;

    if let Some(dir) = g.control_socket.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let _ = std::fs::remove_file(&g.control_socket);
    let listener = UnixListener::bind(&g.control_socket)
        .with_context(|| format!("binding the control socket {}", g.control_socket.display()))?;
    tracing::info!(socket = %g.control_socket.display(), "ready");

    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sigint = signal(SignalKind::interrupt())?;
    let echo_period = gtpu_path::echo_period(g.echo_interval_secs)
        .unwrap_or(Duration::from_secs(3600 * 24 * 365));
    let mut echo_tick = tokio::time::interval(echo_period);
    echo_tick.tick().await;
    let stats_period = Duration::from_secs(if g.stats_log_secs == 0 {
        3600 * 24 * 365
    } else {
        g.stats_log_secs
    });
    let mut stats_tick = tokio::time::interval(stats_period);
    stats_tick.tick().await;
    // The meter samples just after each wall-clock second ends.
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let to_next_second =
        Duration::from_nanos(1_000_000_000 - u64::from(since_epoch.subsec_nanos()))
            + Duration::from_millis(20);
    let mut meter_tick = tokio::time::interval_at(
        tokio::time::Instant::now() + to_next_second,
        Duration::from_secs(1),
    );
    meter_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut qos_timer = tokio::time::interval(Duration::from_millis(qos.interval_ms));
    qos_timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);

    let reader = {
        let path = path.clone();
        let sock = path.borrow().socket();
        tokio::task::spawn_local(async move {
            let mut buf = vec![0u8; 2048];
            loop {
                match sock.recv_from(&mut buf).await {
                    Ok((n, from)) => path.borrow_mut().account(&buf[..n], from),
                    Err(e) => {
                        tracing::warn!(error = %e, "GTP-U socket receive failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        })
    };

    loop {
        tokio::select! {
            _ = sigterm.recv() => { tracing::info!("SIGTERM: shutting down"); break; }
            _ = sigint.recv() => { tracing::info!("SIGINT: shutting down"); break; }
            _ = echo_tick.tick(), if g.echo_interval_secs > 0 => {
                let failed = path.borrow_mut().probe_all();
                if let (false, Some(tx)) = (failed.is_empty(), &reports) {
                    let _ = tx.try_send(server::ReportRequest::PathFailure(failed));
                }
            }
            _ = stats_tick.tick(), if g.stats_log_secs > 0 => log_stats(&manager),
            _ = qos_timer.tick() => {
                qos_tick(&manager, node.as_ref(), reports.as_ref()).await;
                save_associations(&manager, node.as_ref(), &mut saved_assoc);
            }
            _ = usage_tick.tick(), if usage_poll.is_some() => {
                if let (Some(n), Some(r)) = (&node, &reports) {
                    poll_usage(&manager, n, r).await;
                }
            }
            // Sampled for the store and for /metrics; with neither, not at all.
            _ = meter_tick.tick(), if writer.is_some() || metrics.is_some() => {
                sample_meter(&manager, &meter, writer.as_ref())
            }
            conn = accept_metrics(metrics.as_ref()) => {
                if let Ok((stream, _)) = conn {
                    let (m, mt, n) = (manager.clone(), meter.clone(), node.clone());
                    tokio::task::spawn_local(serve_metrics(stream, m, mt, n));
                }
            }
            conn = listener.accept() => match conn {
                Ok((stream, _)) => {
                    let (m, p, n) = (manager.clone(), path.clone(), node.clone());
                    tokio::task::spawn_local(async move {
                        if let Err(e) = serve(stream, m, p, n).await {
                            tracing::debug!(error = %e, "control connection ended");
                        }
                    });
                }
                Err(e) => tracing::warn!(error = %e, "control socket accept failed"),
            },
        }
    }
    reader.abort();
    if let Some(t) = nexthop_task {
        t.abort();
    }
    let _ = stop_tx.send(true);
    if let Some((_, task, _)) = pfcp {
        match task.await {
            Ok(Err(e)) => tracing::warn!(error = %e, "PFCP node stopped with an error"),
            Err(e) => tracing::warn!(error = %e, "PFCP node task failed"),
            Ok(Ok(())) => {}
        }
    }
    log_stats(&manager);
    if let Some(w) = &writer {
        // The last second, then everything queued, rolled up.
        sample_meter(&manager, &meter, Some(w));
        if !w.flush(Duration::from_secs(5)) {
            tracing::warn!("meter: the store did not finish writing within 5 s");
        }
    }
    drop(writer);
    manager.borrow_mut().persist();
    save_associations(&manager, node.as_ref(), &mut saved_assoc);
    match g.exit_policy() {
        upf_config::OnExit::Keep => {
            manager.borrow_mut().datapath_mut().keep_forwarding();
            tracing::info!("the fast path keeps forwarding (gateway.on_exit = \"keep\"); the next daemon re-adopts it");
        }
        upf_config::OnExit::Detach => manager.borrow_mut().datapath_mut().detach(),
    }
    let _ = std::fs::remove_file(&g.control_socket);
    tracing::info!("stopped");
    Ok(())
}

/// Reads the counters for the second that just ended and queues the samples.
fn sample_meter(manager: &Manager, meter: &Meter, writer: Option<&Writer>) {
    let ts = upfd::meter::unix_now() - 1;
    let samples = {
        let mut m = manager.borrow_mut();
        meter.borrow_mut().sample(m.sessions_mut(), ts)
    };
    match samples {
        Ok(v) => {
            if let Some(w) = writer {
                w.send(v);
            }
        }
        Err(e) => tracing::warn!(error = %e, "meter: reading the counters failed"),
    }
}

async fn accept_metrics(
    l: Option<&TcpListener>,
) -> std::io::Result<(tokio::net::TcpStream, std::net::SocketAddr)> {
    match l {
        Some(l) => l.accept().await,
        None => std::future::pending().await,
    }
}

/// Answers one scrape: reads the request line, builds the text, closes.
async fn serve_metrics(
    stream: tokio::net::TcpStream,
    manager: Manager,
    meter: Meter,
    node: Option<Rc<RefCell<Node>>>,
) {
    let (rd, mut wr) = stream.into_split();
    let mut line = String::new();
    let mut rd = BufReader::new(rd.take(8192));
    let read = tokio::time::timeout(Duration::from_secs(5), rd.read_line(&mut line)).await;
    if !matches!(read, Ok(Ok(n)) if n > 0) {
        return;
    }
    let response = upfd::metrics::respond(&line, || {
        let snapshot = {
            let m = manager.borrow_mut();
            let mt = meter.borrow();
            let pfcp = node
                .as_ref()
                .map(|n| control::pfcp_stats(&n.borrow(), Instant::now()));
            upfd::metrics::Snapshot {
                fastpath: m.datapath().fastpath_stats().ok(),
                sessions: m.sessions().sessions().len() as u64,
                pois: mt
                    .pois()
                    .names()
                    .iter()
                    .zip(mt.totals())
                    .zip(mt.sessions())
                    .map(|((n, t), s)| (n.clone(), *t, *s))
                    .collect(),
                qos: m.qos_view(),
                pfcp: pfcp.as_ref().map(upfd::metrics::PfcpSnapshot::from),
            }
        };
        upfd::metrics::render(&snapshot)
    });
    let _ = wr.write_all(response.as_bytes()).await;
    let _ = wr.shutdown().await;
}

/// Resolves next hops into the fast path's cache now, then again after every
/// rtnetlink event (debounced) and every 10 s.
fn start_nexthop_cache(manager: &Manager) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let ports: Vec<u32> = manager
        .borrow_mut()
        .datapath()
        .ports()
        .iter()
        .map(|p| p.ifindex)
        .collect();
    let notify = Arc::new(tokio::sync::Notify::new());
    {
        let n = notify.clone();
        upfd::nexthop::watch_events(move || n.notify_one())
            .context("subscribing to rtnetlink events for the next-hop cache")?;
    }
    let mut cache = upfd::nexthop::Cache::new();
    let mut off: Option<String> = None;
    // The snapshot runs `ip` (a few ms): off the event loop, on a blocking thread.
    let mut sync = move |manager: &Manager, snapshot| match snapshot {
        Ok(s) => {
            let want = upfd::nexthop::compute(&s, &ports);
            if want.off != off {
                match &want.off {
                    Some(why) => tracing::warn!(reason = %why, "next-hop cache off"),
                    None => tracing::info!("next-hop cache on"),
                }
                off = want.off.clone();
            }
            match cache.sync(&want, manager.borrow_mut().datapath_mut()) {
                Ok(st) if st.writes > 0 => tracing::info!(
                    routes = st.routes,
                    resolved = st.resolved,
                    neighbours = st.neighs,
                    writes = st.writes,
                    "next-hop cache updated"
                ),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "next-hop cache update failed"),
            }
        }
        Err(e) => tracing::warn!(error = %e, "reading routes and neighbours failed"),
    };
    sync(manager, upfd::nexthop::Snapshot::read());
    let manager = manager.clone();
    Ok(tokio::task::spawn_local(async move {
        loop {
            tokio::select! {
                _ = notify.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(10)) => {}
            }
            // Let a burst of events settle into one resync.
            tokio::time::sleep(Duration::from_millis(20)).await;
            match tokio::task::spawn_blocking(upfd::nexthop::Snapshot::read).await {
                Ok(snapshot) => sync(&manager, snapshot),
                Err(e) => tracing::warn!(error = %e, "reading routes and neighbours failed"),
            }
        }
    }))
}

/// Carries out what requests left to do on the GTP-U path.
fn apply_effects(path: &Path, fx: Effects) {
    if fx.is_empty() {
        return;
    }
    let mut p = path.borrow_mut();
    for t in fx.end_markers {
        p.send_end_marker(t.ipv4, t.teid);
    }
    for peer in fx.new_peers {
        p.add_peer(peer);
    }
}

type PfcpTask = (
    Rc<RefCell<Node>>,
    tokio::task::JoinHandle<std::io::Result<()>>,
    mpsc::Sender<server::ReportRequest>,
);

/// Evaluates the URRs' reporting triggers and hands each Session Report
/// Request to the PFCP node (sent with T1/N1 to the session's CP function).
async fn poll_usage(
    manager: &Manager,
    node: &Rc<RefCell<Node>>,
    reports: &mpsc::Sender<server::ReportRequest>,
) {
    let pending = {
        let mut m = manager.borrow_mut();
        let p = m.sessions_mut().poll_usage(upf_session::types::now_ntp());
        m.persist();
        p
    };
    send_reports(pending, node, reports).await;
}

/// One tick of the QoS loop; plans whose quota was used up are reported.
async fn qos_tick(
    manager: &Manager,
    node: Option<&Rc<RefCell<Node>>>,
    reports: Option<&mpsc::Sender<server::ReportRequest>>,
) {
    let unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let pending = {
        let mut m = manager.borrow_mut();
        let p = m.qos_tick(Instant::now(), unix);
        m.persist();
        p
    };
    match (node, reports) {
        (Some(n), Some(r)) => send_reports(pending, n, r).await,
        _ => {
            for p in pending {
                upf_pfcp::node::log_lost_usage(&p.peer, p.cp_seid, &p.request, "no PFCP");
            }
        }
    }
}

/// Hands Session Report Requests to the PFCP node.
async fn send_reports(
    pending: Vec<upf_session::sessions::PendingReport>,
    node: &Rc<RefCell<Node>>,
    reports: &mpsc::Sender<server::ReportRequest>,
) {
    for p in pending {
        let Some(peer) = upf_session::n4::report_target(&node.borrow(), &p) else {
            upf_pfcp::node::log_lost_usage(
                &p.peer,
                p.cp_seid,
                &p.request,
                "no association with the session's peer",
            );
            continue;
        };
        tracing::debug!(peer = %peer.addr, cp_seid = p.cp_seid, up_seid = p.up_seid, reports = p.request.usage_report.len(), "Session Report Request");
        let req = server::ReportRequest::Session {
            peer,
            cp_seid: p.cp_seid,
            req: p.request,
        };
        if let Err(e) = reports.send(req).await {
            if let server::ReportRequest::Session { peer, cp_seid, req } = e.0 {
                upf_pfcp::node::log_lost_usage(
                    &peer.addr.to_string(),
                    cp_seid,
                    &req,
                    "the PFCP node has stopped",
                );
            }
        }
    }
}

/// Binds N4, loads the Recovery Time Stamp and starts the PFCP node.
async fn start_pfcp(
    p: &PfcpConfig,
    manager: &Manager,
    path: &Path,
    stop: watch::Receiver<bool>,
    fresh_start: bool,
) -> anyhow::Result<PfcpTask> {
    // Sessions lost (nothing re-adopted): a new stamp tells every SMF so
    // (TS 29.244 §6.2.6.2); sessions kept: the same stamp, no restart seen.
    let recovery = if fresh_start {
        RecoveryStore::reset(&p.state_dir)
    } else {
        RecoveryStore::open(&p.state_dir)
    }
    .with_context(|| {
        format!(
            "configuration field pfcp.state_dir: the Recovery Time Stamp in {} cannot be kept",
            p.state_dir.display()
        )
    })?;
    let socket = tokio::net::UdpSocket::bind((p.address, p.port))
        .await
        .with_context(|| {
            format!(
                "configuration field pfcp.address: binding PFCP on {}:{} (must be an address of this host)",
                p.address, p.port
            )
        })?;
    grow_receive_buffer(&socket, N4_RCVBUF);
    let node = Rc::new(RefCell::new(Node::new(
        upf_config::pfcp::node_config(p),
        recovery,
        Instant::now(),
    )));
    let me = Identity {
        node_id: p.node_id(),
        f_seid_ipv4: p.address,
    };
    // The session core is the node's session handler.
    manager.borrow_mut().set_identity(me);
    let handler: Rc<RefCell<dyn upf_pfcp::node::SessionHandler>> = manager.clone();
    // Path failure reports and Session Report Requests (usage reports).
    let (reports_tx, reports_rx) = mpsc::channel(64);
    tracing::info!(
        address = %p.address,
        port = p.port,
        node_id = ?p.node_id(),
        recovery_time_stamp = recovery.0,
        peers = p.peers.len(),
        "PFCP node listening"
    );
    // The sessions the handled requests changed are saved before their
    // responses leave (one transaction per burst of requests), and what
    // the requests left to do on the GTP-U path is done.
    let (m, path) = (manager.clone(), path.clone());
    let task = tokio::task::spawn_local(server::run(
        socket,
        node.clone(),
        handler,
        reports_rx,
        stop,
        move || {
            let fx = {
                let mut m = m.borrow_mut();
                m.persist();
                m.take_effects()
            };
            apply_effects(&path, fx);
        },
    ));
    Ok((node, task, reports_tx))
}

/// Saves the PFCP associations when they changed (checked every QoS tick).
fn save_associations(
    manager: &Manager,
    node: Option<&Rc<RefCell<Node>>>,
    last: &mut Vec<upf_pfcp::node::SavedAssociation>,
) {
    let Some(n) = node else {
        return;
    };
    let now = n.borrow().associations();
    if now == *last {
        return;
    }
    if let Some(store) = manager.borrow_mut().store_mut() {
        match store.save_associations(&now) {
            Ok(()) => *last = now,
            Err(e) => tracing::warn!(error = %e, "saving the PFCP associations failed"),
        }
    }
}

/// Opens the session store in `pfcp.state_dir` and, when the pinned maps
/// were re-adopted, restores the sessions saved there; otherwise the saved
/// sessions went with the old maps and the store is made anew. Returns true
/// when sessions were re-adopted (the Recovery Time Stamp then stays).
fn open_session_store(
    manager: &Manager,
    p: &PfcpConfig,
    opts: &LoadOptions,
    adopted: bool,
) -> anyhow::Result<bool> {
    use upfd::pfcp::store::{SessionStore, StoreMeta};
    let field = || {
        format!(
            "configuration field pfcp.state_dir ({})",
            p.state_dir.display()
        )
    };
    let meta = StoreMeta {
        datapath: format!(
            "abi ul {} dl {} rules {} counters {} meter {}; sizes sessions {} pdrs {} rule_sets {} meters {}",
            size_of::<upf_abi::UplinkEntry>(),
            size_of::<upf_abi::DownlinkEntry>(),
            size_of::<upf_abi::RuleSet>(),
            size_of::<upf_abi::SessionCounters>(),
            size_of::<upf_abi::Meter>(),
            opts.max_sessions,
            opts.counter_slots,
            opts.rule_sets,
            opts.meters,
        ),
    };
    // Without re-adopted maps the saved sessions went with them (a host
    // restart, a reset): a new store, the old file not even read.
    let (store, restored) = if adopted {
        let store = SessionStore::open(&p.state_dir).with_context(field)?;
        let stored = store.meta().with_context(field)?;
        if stored.as_ref() == Some(&meta) {
            let records = store.load().with_context(field)?;
            let n = records.len();
            let r = manager
                .borrow_mut()
                .sessions_mut()
                .restore(records)
                .map_err(|e| {
                    anyhow::anyhow!(
                        "re-adopting {n} saved sessions: {e} (upfd --reset starts afresh)"
                    )
                })?;
            tracing::info!(
                sessions = r.sessions,
                entries = r.entries,
                "sessions re-adopted from the session store"
            );
            (store, true)
        } else {
            tracing::warn!(stored = ?stored.map(|m| m.datapath), now = %meta.datapath, "the saved sessions were made for another datapath: not re-adopted");
            drop(store);
            (
                SessionStore::recreate(&p.state_dir).with_context(field)?,
                false,
            )
        }
    } else {
        (
            SessionStore::recreate(&p.state_dir).with_context(field)?,
            false,
        )
    };
    store.set_datapath(&meta).with_context(field)?;
    manager.borrow_mut().set_store(Box::new(store));
    Ok(restored)
}

async fn serve(
    stream: UnixStream,
    m: Manager,
    path: Path,
    node: Option<Rc<RefCell<Node>>>,
) -> anyhow::Result<()> {
    let (r, mut w) = stream.into_split();
    let mut lines = BufReader::new(r).lines();
    while let Some(line) = lines.next_line().await? {
        let (resp, fx) = match upf_control::parse_request(&line) {
            Ok(req) => {
                let pfcp = node
                    .as_ref()
                    .map(|n| control::pfcp_stats(&n.borrow(), Instant::now()));
                let mut g = m.borrow_mut();
                let out = control::handle(&mut g, req, pfcp);
                g.persist();
                (out, g.take_effects())
            }
            Err(resp) => (resp, Effects::default()),
        };
        apply_effects(&path, fx);
        let mut out = serde_json::to_string(&resp)?;
        out.push('\n');
        w.write_all(out.as_bytes()).await?;
    }
    Ok(())
}

fn log_stats(m: &Manager) {
    let m = m.borrow_mut();
    match m.datapath().fastpath_stats() {
        Ok(s) => tracing::info!(
            sessions = m.len(),
            uplink_packets = s.counter("uplink_forwarded"),
            uplink_bytes = s.counter("uplink_bytes"),
            downlink_packets = s.counter("downlink_forwarded"),
            downlink_bytes = s.counter("downlink_bytes"),
            dropped = s.drops.iter().map(|(_, v)| v).sum::<u64>(),
            "fast path"
        ),
        Err(e) => tracing::warn!(error = %e, "reading counters failed"),
    }
}

/// Bytes of receive buffer the N4 socket asks for. A million sessions with
/// periodic URRs send thousands of Session Report Requests a second, and the
/// SMFs' answers come back in bursts: the default (net.core.rmem_default,
/// about 208 KiB) overflowed in cp-bench's idle scenario, and each dropped
/// answer cost a retransmitted report 3 s later.
const N4_RCVBUF: libc::c_int = 8 << 20;

/// Sets `SO_RCVBUFFORCE` (root: past net.core.rmem_max), else `SO_RCVBUF`
/// (capped by rmem_max); logs what the kernel granted.
fn grow_receive_buffer(socket: &tokio::net::UdpSocket, bytes: libc::c_int) {
    use std::os::fd::AsRawFd;
    let fd = socket.as_raw_fd();
    let set = |opt: libc::c_int| {
        // SAFETY: fd is a live socket; the option value is a c_int on our stack.
        unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                opt,
                (&bytes as *const libc::c_int).cast(),
                size_of::<libc::c_int>() as libc::socklen_t,
            )
        }
    };
    if set(libc::SO_RCVBUFFORCE) != 0 && set(libc::SO_RCVBUF) != 0 {
        tracing::warn!(error = %std::io::Error::last_os_error(), "N4 socket: cannot grow the receive buffer");
    }
    let mut got: libc::c_int = 0;
    let mut len = size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: as above; got and len are valid for the call.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&mut got as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if rc == 0 {
        tracing::info!(bytes = got, "N4 socket receive buffer");
    }
}
