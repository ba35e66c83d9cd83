//! The cluster under test: a container image holding the `shoal` binary and the shared
//! libraries it loads (built `FROM scratch`, nothing pulled), one Docker network, and one
//! container per node with its own hostname and address. Faults reach into a container from
//! the host: signals through `docker kill`, packet filters through `nsenter` into the
//! container's network namespace, wall-clock offsets through libfaketime's control file.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::limits;

/// Every Docker object of a chaos run carries this label and name prefix.
const LABEL: &str = "shoal-chaos";
const NETWORK: &str = "shoal-chaos";
const IMAGE: &str = "shoal-chaos:latest";
/// Where libfaketime lives on Debian, on the host and in the image.
const FAKETIME_LIBRARY: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

#[derive(Debug, Clone)]
pub struct Node {
    /// 1-based, the node's Raft id.
    pub id: u64,
    /// `n1`, also its hostname.
    pub name: String,
    pub address: String,
    pub container: String,
}

impl Node {
    pub fn endpoint(&self) -> String {
        format!("http://{}:{}", self.address, limits::HTTP_PORT)
    }
}

#[derive(Debug, Clone)]
pub struct Cluster {
    pub nodes: Vec<Node>,
    data_groups: u32,
    /// Host directory mounted at /faketime: one offset file per node.
    clock_dir: PathBuf,
    faketime: bool,
    /// NAME=VALUE pairs given to every node.
    environment: Vec<String>,
}

/// Runs `docker` with `args`; its stdout, or an error with its stderr.
pub async fn docker(args: &[&str]) -> anyhow::Result<String> {
    run("docker", args).await
}

async fn run(program: &str, args: &[&str]) -> anyhow::Result<String> {
    let output = tokio::process::Command::new(program)
        .args(args)
        .kill_on_drop(true)
        .output()
        .await
        .with_context(|| format!("running {program}"))?;
    if !output.status.success() {
        bail!("{program} {} failed: {}", args.join(" "), String::from_utf8_lossy(&output.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// Builds the node image from `binary` in `work` (a fresh directory).
pub async fn build_image(binary: &Path, work: &Path, faketime: bool) -> anyhow::Result<()> {
    let root = work.join("rootfs");
    std::fs::create_dir_all(root.join("data"))?;
    std::fs::create_dir_all(root.join("faketime"))?;
    std::fs::create_dir_all(root.join("tmp"))?;
    let shoal = root.join("shoal");
    // Debug information is most of a debug binary; the image does not need it.
    if run("strip", &["--strip-debug", "-o", &shoal.to_string_lossy(), &binary.to_string_lossy()]).await.is_err() {
        std::fs::copy(binary, &shoal).with_context(|| format!("copying {}", binary.display()))?;
    }
    let mut objects = vec![binary.to_path_buf()];
    // libfaketime goes into every image that can have it; only the clock fault preloads it.
    if Path::new(FAKETIME_LIBRARY).exists() {
        copy_into(&root, Path::new(FAKETIME_LIBRARY))?;
        objects.push(PathBuf::from(FAKETIME_LIBRARY));
    } else if faketime {
        bail!("the clock fault needs libfaketime ({FAKETIME_LIBRARY}): apt-get install libfaketime");
    }
    for object in objects {
        for library in shared_libraries(&object).await? {
            copy_into(&root, &library)?;
        }
    }
    std::fs::write(work.join("Dockerfile"), "FROM scratch\nCOPY rootfs/ /\nENTRYPOINT [\"/shoal\"]\n")?;
    docker(&["build", "--quiet", "--label", LABEL, "--tag", IMAGE, &work.to_string_lossy()]).await?;
    // Earlier runs' images, now untagged.
    docker(&["image", "prune", "--force", "--filter", &format!("label={LABEL}")]).await?;
    Ok(())
}

/// The shared libraries `object` loads, the dynamic loader included, as `ldd` resolves them.
async fn shared_libraries(object: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let listing = run("ldd", &[&object.to_string_lossy()]).await?;
    let mut libraries = Vec::new();
    for line in listing.lines() {
        let line = line.trim();
        let path = match line.split_once("=>") {
            Some((_, resolved)) => resolved.split_whitespace().next().unwrap_or(""),
            None => line.split_whitespace().next().unwrap_or(""),
        };
        if path.starts_with('/') {
            libraries.push(PathBuf::from(path));
        }
    }
    Ok(libraries)
}

/// Copies `file` (following links) to the same path under `root`.
fn copy_into(root: &Path, file: &Path) -> anyhow::Result<()> {
    let target = root.join(file.strip_prefix("/").unwrap_or(file));
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::copy(file, &target).with_context(|| format!("copying {}", file.display()))?;
    Ok(())
}

/// Removes every container and the network a previous run may have left.
pub async fn remove_leftovers() -> anyhow::Result<()> {
    let containers = docker(&["ps", "--all", "--quiet", "--filter", &format!("label={LABEL}")]).await?;
    for container in containers.lines().filter(|line| !line.is_empty()) {
        docker(&["rm", "--force", "--volumes", container]).await?;
    }
    if docker(&["network", "inspect", NETWORK]).await.is_ok() {
        docker(&["network", "rm", NETWORK]).await?;
    }
    Ok(())
}

impl Cluster {
    /// Creates the network and starts `nodes` containers of the image as one cluster.
    pub async fn start(
        nodes: usize,
        data_groups: u32,
        clock_dir: &Path,
        faketime: bool,
        environment: &[String],
    ) -> anyhow::Result<Cluster> {
        remove_leftovers().await?;
        docker(&["network", "create", "--label", LABEL, "--subnet", limits::SUBNET, NETWORK]).await?;
        std::fs::create_dir_all(clock_dir)?;
        let nodes: Vec<Node> = (1..=nodes as u64)
            .map(|id| Node {
                id,
                name: format!("n{id}"),
                address: format!("{}{}", limits::ADDRESS_PREFIX, limits::ADDRESS_BASE + id as u32),
                container: format!("shoal-chaos-n{id}"),
            })
            .collect();
        let cluster = Cluster {
            nodes,
            data_groups,
            clock_dir: clock_dir.canonicalize()?,
            faketime,
            environment: environment.to_vec(),
        };
        for node in &cluster.nodes {
            cluster.create(node).await?;
        }
        Ok(cluster)
    }

    async fn create(&self, node: &Node) -> anyhow::Result<()> {
        let peers: Vec<String> =
            self.nodes.iter().map(|peer| format!("{}={}:{}", peer.id, peer.address, limits::RAFT_PORT)).collect();
        self.set_clock_offset(node, 0)?;
        let mut args: Vec<String> = [
            "run",
            "--detach",
            "--label",
            LABEL,
            "--name",
            &node.container,
            "--hostname",
            &node.name,
            "--network",
            NETWORK,
            "--ip",
            &node.address,
        ]
        .iter()
        .map(|arg| arg.to_string())
        .collect();
        if self.faketime {
            args.extend([
                "--volume".to_string(),
                format!("{}:/faketime", self.clock_dir.display()),
                "--env".to_string(),
                format!("LD_PRELOAD={FAKETIME_LIBRARY}"),
                "--env".to_string(),
                format!("FAKETIME_TIMESTAMP_FILE=/faketime/{}", node.name),
                // Only the wall clock moves: Raft's timers use the monotonic clock, which a
                // real clock step does not move either.
                "--env".to_string(),
                "FAKETIME_DONT_FAKE_MONOTONIC=1".to_string(),
                "--env".to_string(),
                "FAKETIME_CACHE_DURATION=1".to_string(),
            ]);
        }
        for variable in &self.environment {
            args.extend(["--env".to_string(), variable.clone()]);
        }
        args.extend([
            IMAGE.to_string(),
            "serve".to_string(),
            format!("--node-id={}", node.id),
            format!("--peers={}", peers.join(",")),
            format!("--raft-addr=0.0.0.0:{}", limits::RAFT_PORT),
            format!("--http-addr=0.0.0.0:{}", limits::HTTP_PORT),
            "--data-dir=/data".to_string(),
            format!("--data-groups={}", self.data_groups),
        ]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        docker(&args).await?;
        Ok(())
    }

    pub async fn kill(&self, node: &Node) -> anyhow::Result<()> {
        docker(&["kill", "--signal", "KILL", &node.container]).await.map(drop)
    }

    /// Starts a stopped or killed node again, with its data.
    pub async fn start_node(&self, node: &Node) -> anyhow::Result<()> {
        docker(&["start", &node.container]).await.map(drop)
    }

    /// SIGTERM, then SIGKILL after the grace period.
    pub async fn stop_node(&self, node: &Node) -> anyhow::Result<()> {
        docker(&["stop", "--time", &limits::STOP_GRACE_SECONDS.to_string(), &node.container]).await.map(drop)
    }

    pub async fn pause(&self, node: &Node) -> anyhow::Result<()> {
        docker(&["kill", "--signal", "STOP", &node.container]).await.map(drop)
    }

    pub async fn resume(&self, node: &Node) -> anyhow::Result<()> {
        docker(&["kill", "--signal", "CONT", &node.container]).await.map(drop)
    }

    pub async fn is_running(&self, node: &Node) -> bool {
        docker(&["inspect", "--format", "{{.State.Running}}", &node.container]).await.is_ok_and(|out| out == "true")
    }

    /// Runs `iptables args` inside `node`'s network namespace.
    async fn iptables(&self, node: &Node, args: &[&str]) -> anyhow::Result<()> {
        let pid = docker(&["inspect", "--format", "{{.State.Pid}}", &node.container]).await?;
        if pid == "0" {
            bail!("{} is not running", node.name);
        }
        let mut command = vec!["--target", &pid, "--net", "iptables", "--wait"];
        command.extend_from_slice(args);
        run("nsenter", &command).await.map(drop)
    }

    /// Drops every packet between `a` and `b`, both ways.
    pub async fn cut(&self, a: &Node, b: &Node) -> anyhow::Result<()> {
        self.iptables(a, &["--append", "INPUT", "--source", &b.address, "--jump", "DROP"]).await?;
        self.iptables(b, &["--append", "INPUT", "--source", &a.address, "--jump", "DROP"]).await
    }

    /// Removes every packet filter of `node` (nothing to do when it is not running: a new
    /// network namespace comes with its next start).
    pub async fn mend(&self, node: &Node) -> anyhow::Result<()> {
        if !self.is_running(node).await {
            return Ok(());
        }
        self.iptables(node, &["--flush", "INPUT"]).await
    }

    /// Sets `node`'s wall clock `seconds` away from the host's (libfaketime rereads the file
    /// within a second).
    pub fn set_clock_offset(&self, node: &Node, seconds: i64) -> anyhow::Result<()> {
        let offset = if seconds >= 0 { format!("+{seconds}") } else { format!("{seconds}") };
        std::fs::write(self.clock_dir.join(&node.name), format!("{offset}\n"))?;
        Ok(())
    }

    pub fn has_faketime(&self) -> bool {
        self.faketime
    }

    /// Writes every node's log next to the history.
    pub async fn save_logs(&self, directory: &Path) {
        for node in &self.nodes {
            let output = tokio::process::Command::new("docker").args(["logs", &node.container]).output().await;
            if let Ok(output) = output {
                let mut log = output.stdout;
                log.extend_from_slice(&output.stderr);
                let _ = std::fs::write(directory.join(format!("{}.log", node.name)), log);
            }
        }
    }

    pub async fn remove(&self) -> anyhow::Result<()> {
        remove_leftovers().await
    }

    /// `GET /_shoal/status` of `node`, or `None` when it does not answer in time.
    pub async fn status(&self, node: &Node) -> Option<serde_json::Value> {
        let address = format!("{}:{}", node.address, limits::HTTP_PORT);
        let fetch = async {
            let mut stream = tokio::net::TcpStream::connect(&address).await.ok()?;
            let request = "GET /_shoal/status HTTP/1.1\r\nHost: shoal\r\nConnection: close\r\n\r\n";
            stream.write_all(request.as_bytes()).await.ok()?;
            let mut response = Vec::new();
            stream.read_to_end(&mut response).await.ok()?;
            let text = String::from_utf8_lossy(&response).into_owned();
            let (_, body) = text.split_once("\r\n\r\n")?;
            serde_json::from_str(body).ok()
        };
        tokio::time::timeout(limits::STATUS_TIMEOUT, fetch).await.ok().flatten()
    }

    /// Per group, the leader `node` believes in.
    pub async fn leaders_seen_by(&self, node: &Node) -> Option<Vec<Option<u64>>> {
        let status = self.status(node).await?;
        let groups = status.get("groups")?.as_array()?;
        Some(groups.iter().map(|group| group.get("leader").and_then(|leader| leader.as_u64())).collect())
    }

    /// Per group, the leader `node` believes in (groups without a known leader left out).
    pub async fn leaders_by_group(&self, node: &Node) -> Option<std::collections::BTreeMap<u64, u64>> {
        let status = self.status(node).await?;
        let groups = status.get("groups")?.as_array()?;
        let mut leaders = std::collections::BTreeMap::new();
        for group in groups {
            if let (Some(id), Some(leader)) = (group.get("group")?.as_u64(), group.get("leader")?.as_u64()) {
                leaders.insert(id, leader);
            }
        }
        Some(leaders)
    }

    /// Waits until every node answers and all agree on one leader per group; false when
    /// `bound` runs out first.
    pub async fn wait_healthy(&self, bound: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + bound;
        loop {
            let mut views = Vec::new();
            for node in &self.nodes {
                views.push(self.leaders_seen_by(node).await);
            }
            let first = views.first().cloned().flatten();
            let agreed = first.as_ref().is_some_and(|leaders| {
                leaders.iter().all(Option::is_some) && views.iter().all(|view| view.as_ref() == Some(leaders))
            });
            if agreed {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}
