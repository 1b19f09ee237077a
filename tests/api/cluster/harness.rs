//! Three (or more) callbridge processes behind a real HAProxy, sharing one PostgreSQL schema and
//! one Redis prefix: the cluster that the cluster test and the cluster benchmark drive.
//!
//! HAProxy is set up the way the README's "Several nodes" section tells an operator to: round
//! robin with no stickiness (so a call's webhook, media socket and after-stream request land on
//! different nodes), readiness checks on `/readyz` (a node that got SIGTERM leaves the rotation
//! during its `DRAIN_DELAY_SECS`), and retries on another node when a connection is refused or
//! dropped without an answer (a killed node) or a node answers 503. Its stats page tells the
//! harness when a node is back in the rotation and counts what the balancer itself saw.
//! Every process started here is ended here, by PID.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where Debian puts HAProxy, or the PATH's.
pub fn haproxy_binary() -> Option<PathBuf> {
    let debian = PathBuf::from("/usr/sbin/haproxy");
    if debian.exists() {
        return Some(debian);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("haproxy"))
            .find(|p| p.exists())
    })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn signal_pid(pid: u32, name: &str) {
    let _ = Command::new("kill").args([name, &pid.to_string()]).status();
}

/// One `callbridge serve` process; its ports stay the same across restarts (the balancer's
/// configuration names them).
pub struct Node {
    pub name: String,
    pub port: u16,
    pub metrics_port: u16,
    child: Option<Child>,
    signalled: Option<Instant>,
}

impl Node {
    fn spawn(&mut self, binary: &std::path::Path, env: &[(String, String)]) {
        let child = Command::new(binary)
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("NODE_ID", &self.name)
            .env("LISTEN_ADDR", format!("127.0.0.1:{}", self.port))
            .env("METRICS_ADDR", format!("127.0.0.1:{}", self.metrics_port))
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        self.child = Some(child);
        self.signalled = None;
    }

    /// The process id while it runs (its CPU time is the benchmark's figure).
    #[allow(dead_code)] // The cluster benchmark reads it; the tests do not.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Sends `-TERM` (drain) or `-KILL`.
    pub fn signal(&mut self, name: &str) {
        if let Some(c) = &self.child {
            signal_pid(c.id(), name);
            self.signalled.get_or_insert_with(Instant::now);
        }
    }

    /// Waits up to `within` for the process to exit: whether it exited 0, and how long after
    /// the first signal.
    pub async fn exited(&mut self, within: Duration) -> Option<(bool, Duration)> {
        let deadline = Instant::now() + within;
        let child = self.child.as_mut()?;
        while Instant::now() < deadline {
            if let Some(status) = child.try_wait().unwrap() {
                let after = self.signalled.map_or(Duration::ZERO, |s| s.elapsed());
                return Some((status.success(), after));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }

    /// The node's `/metrics`, read directly (not through the balancer).
    pub async fn metrics(&self, http: &reqwest::Client) -> String {
        let url = format!("http://127.0.0.1:{}/metrics", self.metrics_port);
        match http.get(url).send().await {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(c) = &mut self.child
            && let Ok(None) = c.try_wait()
        {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The HAProxy in front of the nodes.
pub struct Balancer {
    pub port: u16,
    pub stats_port: u16,
    child: Child,
    dir: PathBuf,
}

/// One server's line on the balancer's stats page.
#[derive(Debug, Clone, Default)]
#[allow(dead_code)] // The counters are the cluster benchmark's figures; the tests read the status.
pub struct ServerStats {
    /// `UP`, `DOWN`, `MAINT`, `UP 1/2`...
    pub status: String,
    /// Requests the balancer retried or redispatched away from this server.
    pub retries: u64,
    pub redispatches: u64,
    /// Responses with a 5xx status it passed on.
    pub http_5xx: u64,
}

/// The balancer's view of the frontend and each server.
#[derive(Debug, Clone, Default)]
pub struct BalancerStats {
    pub servers: Vec<(String, ServerStats)>,
    /// Requests answered with an error by HAProxy itself (no server could take them).
    pub frontend_5xx: u64,
}

impl Balancer {
    fn config(port: u16, stats_port: u16, nodes: &[Node]) -> String {
        let servers: String = nodes
            .iter()
            .map(|n| format!("    server {} 127.0.0.1:{} check\n", n.name, n.port))
            .collect();
        format!(
            "global
    maxconn 4000
    hard-stop-after 5s
defaults
    mode http
    timeout connect 1s
    timeout client 60s
    timeout server 30s
    timeout tunnel 1h
    timeout check 1s
    timeout http-request 10s
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response 503
frontend calls
    bind 127.0.0.1:{port}
    default_backend nodes
backend nodes
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
    default-server inter 300ms fastinter 200ms downinter 500ms fall 2 rise 2
{servers}listen stats
    bind 127.0.0.1:{stats_port}
    stats enable
    stats uri /stats
"
        )
    }

    fn start(binary: &std::path::Path, nodes: &[Node]) -> Balancer {
        let port = free_port();
        let stats_port = free_port();
        let dir =
            std::env::temp_dir().join(format!("callbridge-cluster-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let config = dir.join("haproxy.cfg");
        std::fs::write(&config, Self::config(port, stats_port, nodes)).unwrap();
        let log = std::fs::File::create(dir.join("haproxy.log")).unwrap();
        let child = Command::new(binary)
            .arg("-db")
            .arg("-f")
            .arg(&config)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        Balancer {
            port,
            stats_port,
            child,
            dir,
        }
    }

    /// The stats page as CSV, parsed.
    pub async fn stats(&self, http: &reqwest::Client) -> BalancerStats {
        let url = format!("http://127.0.0.1:{}/stats;csv", self.stats_port);
        let Ok(r) = http.get(url).send().await else {
            return BalancerStats::default();
        };
        let csv = r.text().await.unwrap_or_default();
        let mut lines = csv.lines();
        let header: Vec<&str> = lines
            .next()
            .unwrap_or_default()
            .trim_start_matches("# ")
            .split(',')
            .collect();
        let col = |row: &[&str], name: &str| {
            header
                .iter()
                .position(|h| *h == name)
                .and_then(|i| row.get(i))
                .map(|v| v.to_string())
                .unwrap_or_default()
        };
        let num = |row: &[&str], name: &str| col(row, name).parse::<u64>().unwrap_or(0);
        let mut stats = BalancerStats::default();
        for line in lines {
            let row: Vec<&str> = line.split(',').collect();
            match (col(&row, "pxname").as_str(), col(&row, "svname").as_str()) {
                ("calls", "FRONTEND") => stats.frontend_5xx = num(&row, "hrsp_5xx"),
                ("nodes", "BACKEND") | ("nodes", "FRONTEND") => {}
                ("nodes", server) => stats.servers.push((
                    server.to_string(),
                    ServerStats {
                        status: col(&row, "status"),
                        retries: num(&row, "wretr"),
                        redispatches: num(&row, "wredis"),
                        http_5xx: num(&row, "hrsp_5xx"),
                    },
                )),
                _ => {}
            }
        }
        stats
    }
}

impl Balancer {
    /// The process id (its CPU time counts against the cluster's in the benchmark).
    #[allow(dead_code)] // The cluster benchmark reads it; the tests do not.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The nodes, the balancer, and the environment every node shares.
pub struct Cluster {
    pub nodes: Vec<Node>,
    pub balancer: Balancer,
    env: Vec<(String, String)>,
    binary: PathBuf,
    pub http: reqwest::Client,
}

impl Cluster {
    /// Seeds the shared database (`seed --if-empty`), then starts `count` nodes of `binary`
    /// with `env` (plus each one's `NODE_ID` and addresses; `PUBLIC_URL` is the balancer's) and
    /// the balancer, once every node is in its rotation.
    pub async fn start(
        binary: PathBuf,
        haproxy: &std::path::Path,
        mut env: Vec<(String, String)>,
        count: usize,
    ) -> Cluster {
        let seeded = Command::new(&binary)
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("PUBLIC_URL", "http://127.0.0.1:1")
            .args(["seed", "--if-empty"])
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(seeded.success(), "seeding the cluster's database");
        let mut nodes: Vec<Node> = (1..=count)
            .map(|i| Node {
                name: format!("node{i}"),
                port: free_port(),
                metrics_port: free_port(),
                child: None,
                signalled: None,
            })
            .collect();
        let balancer = Balancer::start(haproxy, &nodes);
        env.push((
            "PUBLIC_URL".into(),
            format!("http://127.0.0.1:{}", balancer.port),
        ));
        // One recordings folder the nodes share, as a deployment's must be, outside the clone.
        if !env.iter().any(|(k, _)| k == "RECORDINGS_DIR") {
            let shared = std::env::temp_dir()
                .join("callbridge-cluster")
                .join(format!(
                    "recordings-{}-{}",
                    std::process::id(),
                    balancer.port
                ));
            env.push(("RECORDINGS_DIR".into(), shared.display().to_string()));
        }
        for n in &mut nodes {
            n.spawn(&binary, &env);
        }
        let cluster = Cluster {
            nodes,
            balancer,
            env,
            binary,
            http: reqwest::Client::new(),
        };
        for i in 0..count {
            cluster.in_rotation(i, Duration::from_secs(60)).await;
        }
        cluster
    }

    /// The URL callers use (Twilio's view): the balancer.
    pub fn public_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.balancer.port)
    }

    /// Waits until node `i` answers `/healthz` and the balancer has it `UP`.
    pub async fn in_rotation(&self, i: usize, within: Duration) {
        let node = &self.nodes[i];
        let deadline = Instant::now() + within;
        loop {
            let healthy = self.http.get(node.url("/healthz")).send().await.is_ok();
            let up = healthy
                && self
                    .balancer
                    .stats(&self.http)
                    .await
                    .servers
                    .iter()
                    .any(|(name, s)| *name == node.name && s.status == "UP");
            if up {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{} joined the rotation",
                node.name
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Starts node `i` again (after it exited) on the same ports, once it is in the rotation.
    pub async fn restart(&mut self, i: usize) {
        let (binary, env) = (self.binary.clone(), self.env.clone());
        self.nodes[i].spawn(&binary, &env);
        self.in_rotation(i, Duration::from_secs(60)).await;
    }
}
