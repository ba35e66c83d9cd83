//! The nemesis: one fault at a time on a seeded schedule, each logged in the history as a
//! `fault-start` (before it acts, with the nodes it hits), a `fault-in-force` (once its action
//! returned) and a `fault-end` event, and everything healed before the final drain.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::Rng;

use crate::docker::{Cluster, Node};
use crate::limits;
use shoal_chaos::history::{Event, Function, Kind, Recorder};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fault {
    /// SIGKILL a node (often the leader of a group), start it again when the fault ends.
    Kill,
    /// SIGSTOP a node, SIGCONT when the fault ends.
    Pause,
    /// Drop packets between sets of nodes: one isolated, halves, a bridge, a majority ring.
    Partition,
    /// Move one node's wall clock minutes away (libfaketime).
    Clock,
    /// Restart every node in turn, gracefully.
    Restart,
}

impl FromStr for Fault {
    type Err = String;
    fn from_str(name: &str) -> Result<Fault, String> {
        match name {
            "kill" => Ok(Fault::Kill),
            "pause" => Ok(Fault::Pause),
            "partition" => Ok(Fault::Partition),
            "clock" => Ok(Fault::Clock),
            "restart" => Ok(Fault::Restart),
            other => Err(format!("unknown fault {other:?} (kill, pause, partition, clock, restart)")),
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Fault::Kill => "kill",
            Fault::Pause => "pause",
            Fault::Partition => "partition",
            Fault::Clock => "clock",
            Fault::Restart => "restart",
        };
        f.write_str(name)
    }
}

/// Which node a kill, pause or clock fault (and an isolating partition) hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Targeting {
    /// The leader of some group 7 times in 10, since that hurts most; else any node.
    Biased,
    /// Always the leader of this group (the queue's) when one is known; else any node.
    Leader(u64),
}

/// A node to hit, and the groups it led as the cluster saw it just before.
struct Target {
    node: Node,
    led: Vec<u64>,
}

impl Target {
    /// `SIGKILL; leader of groups 0, 2` (or of no group): what the fault did, for the history.
    fn describe(&self, action: &str) -> String {
        if self.led.is_empty() {
            return format!("{action}; leader of no group");
        }
        let groups: Vec<String> = self.led.iter().map(u64::to_string).collect();
        format!("{action}; leader of groups {}", groups.join(", "))
    }
}

/// A fault in force, with what healing it takes.
enum Active {
    Killed(Node),
    Paused(Node),
    Partitioned,
    Skewed(Node),
}

pub struct Nemesis {
    cluster: Cluster,
    recorder: Recorder,
    faults: Vec<Fault>,
    targeting: Targeting,
    rng: StdRng,
}

impl Nemesis {
    pub fn new(
        cluster: Cluster,
        recorder: Recorder,
        faults: BTreeSet<Fault>,
        targeting: Targeting,
        rng: StdRng,
    ) -> Nemesis {
        Nemesis { cluster, recorder, faults: faults.into_iter().collect(), targeting, rng }
    }

    /// Injects faults until `duration` has passed since the run began, healing each one.
    pub async fn run(mut self, until_s: f64) {
        if self.faults.is_empty() {
            return;
        }
        loop {
            let gap = Duration::from_millis(self.rng.gen_range(limits::FAULT_GAP_MS));
            let hold = Duration::from_millis(self.rng.gen_range(limits::FAULT_HOLD_MS));
            if self.recorder.elapsed_s() + (gap + hold).as_secs_f64() > until_s {
                return;
            }
            tokio::time::sleep(gap).await;
            let fault = *self.faults.choose(&mut self.rng).expect("faults is not empty");
            if fault == Fault::Restart {
                self.rolling_restart().await;
                continue;
            }
            match self.inject(fault).await {
                Ok((active, hit)) => {
                    let hit: Vec<&Node> = hit.iter().collect();
                    self.log(Function::FaultInForce, fault, &hit, "in force".into());
                    tokio::time::sleep(hold).await;
                    self.heal_one(fault, active).await;
                }
                Err(error) => {
                    // A fault may be half in force (some rules set, a node stopped): undo all.
                    let problems = heal_all(&self.cluster).await;
                    self.log(
                        Function::FaultEnd,
                        fault,
                        &[],
                        format!("could not inject: {error:#}; healed {problems:?}"),
                    );
                }
            }
        }
    }

    fn log(&self, f: Function, fault: Fault, nodes: &[&Node], detail: String) {
        let mut event = Event::new("nemesis", Kind::Info, f).detail(detail);
        event.fault = Some(fault.to_string());
        event.nodes = nodes.iter().map(|node| node.name.clone()).collect();
        self.recorder.record(event);
        eprintln!("nemesis: {:.1}s {:?} {fault} {:?}", self.recorder.elapsed_s(), f, event_nodes(nodes));
    }

    /// Per group, its leader as the first node that knows one sees it.
    async fn leaders(&self) -> BTreeMap<u64, u64> {
        for node in &self.cluster.nodes {
            if let Some(leaders) = self.cluster.leaders_by_group(node).await.filter(|leaders| !leaders.is_empty()) {
                return leaders;
            }
        }
        BTreeMap::new()
    }

    /// A node to hit, as `targeting` says.
    async fn target(&mut self) -> Target {
        let leaders = self.leaders().await;
        let leader = match self.targeting {
            Targeting::Biased if self.rng.gen_bool(0.7) => {
                let known: Vec<u64> = leaders.values().copied().collect();
                known.choose(&mut self.rng).copied()
            }
            Targeting::Biased => None,
            Targeting::Leader(group) => leaders.get(&group).copied(),
        };
        let node = match leader.and_then(|id| self.cluster.nodes.iter().find(|node| node.id == id)) {
            Some(node) => node.clone(),
            None => self.cluster.nodes.choose(&mut self.rng).expect("a cluster has nodes").clone(),
        };
        let led = leaders.iter().filter(|(_, leader)| **leader == node.id).map(|(group, _)| *group).collect();
        Target { node, led }
    }

    /// Puts `fault` in force; what healing it takes, and the nodes it hits.
    async fn inject(&mut self, fault: Fault) -> anyhow::Result<(Active, Vec<Node>)> {
        match fault {
            Fault::Kill => {
                let target = self.target().await;
                self.log(Function::FaultStart, fault, &[&target.node], target.describe("SIGKILL"));
                self.cluster.kill(&target.node).await?;
                Ok((Active::Killed(target.node.clone()), vec![target.node]))
            }
            Fault::Pause => {
                let target = self.target().await;
                self.log(Function::FaultStart, fault, &[&target.node], target.describe("SIGSTOP"));
                self.cluster.pause(&target.node).await?;
                Ok((Active::Paused(target.node.clone()), vec![target.node]))
            }
            Fault::Partition => {
                let (shape, cuts) = self.partition_shape().await;
                let hit = cut_off_from_majority(&self.cluster.nodes, &cuts);
                let pairs: Vec<String> = cuts.iter().map(|(a, b)| format!("{}-{}", a.name, b.name)).collect();
                let hit_nodes: Vec<&Node> = hit.iter().collect();
                self.log(Function::FaultStart, fault, &hit_nodes, format!("{shape}: cut {}", pairs.join(" ")));
                for (a, b) in &cuts {
                    self.cluster.cut(a, b).await?;
                }
                Ok((Active::Partitioned, hit))
            }
            Fault::Clock => {
                let target = self.target().await;
                let magnitude = self.rng.gen_range(limits::CLOCK_SKEW_SECONDS);
                let seconds = if self.rng.gen_bool(0.5) { magnitude } else { -magnitude };
                let detail = target.describe(&format!("wall clock {seconds:+} s"));
                self.log(Function::FaultStart, fault, &[&target.node], detail);
                self.cluster.set_clock_offset(&target.node, seconds)?;
                Ok((Active::Skewed(target.node.clone()), vec![target.node]))
            }
            Fault::Restart => unreachable!("rolling restarts are not held"),
        }
    }

    /// Picks a partition: which pairs of nodes cannot talk, and a name for it.
    async fn partition_shape(&mut self) -> (&'static str, Vec<(Node, Node)>) {
        let mut nodes = self.cluster.nodes.clone();
        nodes.shuffle(&mut self.rng);
        let n = nodes.len();
        let mut shapes = vec!["isolate", "halves"];
        if n >= 3 {
            shapes.push("bridge");
        }
        if n >= 5 {
            shapes.push("majority-ring");
        }
        let shape = *shapes.choose(&mut self.rng).expect("shapes is not empty");
        let mut cuts = Vec::new();
        match shape {
            "isolate" => {
                let lonely = self.target().await.node;
                for other in nodes.iter().filter(|node| node.id != lonely.id) {
                    cuts.push((lonely.clone(), other.clone()));
                }
            }
            "halves" => {
                let (left, right) = nodes.split_at(n / 2);
                for a in left {
                    for b in right {
                        cuts.push((a.clone(), b.clone()));
                    }
                }
            }
            "bridge" => {
                // nodes[0] sees everyone; the two sides see only it and themselves.
                let rest = &nodes[1..];
                let (left, right) = rest.split_at(rest.len() / 2);
                for a in left {
                    for b in right {
                        cuts.push((a.clone(), b.clone()));
                    }
                }
            }
            _ => {
                // Each node sees its neighbours on a ring: a majority, but no two the same one.
                // It and `reach` nodes either side make a majority.
                let reach = (n / 2).div_ceil(2);
                for i in 0..n {
                    for j in (i + 1)..n {
                        let distance = (j - i).min(n - (j - i));
                        if distance > reach {
                            cuts.push((nodes[i].clone(), nodes[j].clone()));
                        }
                    }
                }
            }
        }
        (shape, cuts)
    }

    async fn heal_one(&mut self, fault: Fault, active: Active) {
        let (node, result) = match &active {
            Active::Killed(node) => (Some(node), self.cluster.start_node(node).await),
            Active::Paused(node) => (Some(node), self.cluster.resume(node).await),
            Active::Skewed(node) => (Some(node), self.cluster.set_clock_offset(node, 0)),
            Active::Partitioned => {
                let mut result = Ok(());
                for node in &self.cluster.nodes {
                    if let Err(error) = self.cluster.mend(node).await {
                        result = Err(error);
                    }
                }
                (None, result)
            }
        };
        let nodes: Vec<&Node> = node.into_iter().collect();
        let detail = match result {
            Ok(()) => "healed".to_string(),
            Err(error) => format!("heal failed: {error:#}"),
        };
        self.log(Function::FaultEnd, fault, &nodes, detail);
    }

    /// Stops each node gracefully and starts it again, waiting for it to answer before the next.
    async fn rolling_restart(&mut self) {
        let nodes = self.cluster.nodes.clone();
        let all: Vec<&Node> = nodes.iter().collect();
        self.log(Function::FaultStart, Fault::Restart, &all, "rolling restart".into());
        let mut problems = Vec::new();
        for node in &nodes {
            if let Err(error) = self.cluster.stop_node(node).await {
                problems.push(format!("{}: {error:#}", node.name));
            }
            if let Err(error) = self.cluster.start_node(node).await {
                problems.push(format!("{}: {error:#}", node.name));
            }
            let deadline = tokio::time::Instant::now() + limits::RESTART_READY_BOUND;
            while self.cluster.status(node).await.is_none() && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        let detail = if problems.is_empty() { "healed".to_string() } else { problems.join("; ") };
        self.log(Function::FaultEnd, Fault::Restart, &all, detail);
    }
}

/// The nodes a partition leaves without a majority of the cluster (themselves included) to
/// talk to: they cannot serve. In a bridge or a majority ring every node still sees a majority.
fn cut_off_from_majority(nodes: &[Node], cuts: &[(Node, Node)]) -> Vec<Node> {
    let majority = nodes.len() / 2 + 1;
    let mut hit = Vec::new();
    for node in nodes {
        let cut = cuts.iter().filter(|(a, b)| a.id == node.id || b.id == node.id).count();
        if nodes.len() - cut < majority {
            hit.push(node.clone());
        }
    }
    hit
}

fn event_nodes(nodes: &[&Node]) -> Vec<String> {
    nodes.iter().map(|node| node.name.clone()).collect()
}

/// Undoes every fault that could be in force: resumes, starts, mends and resets every node.
pub async fn heal_all(cluster: &Cluster) -> Vec<String> {
    let mut problems = Vec::new();
    for node in &cluster.nodes {
        if cluster.has_faketime() {
            if let Err(error) = cluster.set_clock_offset(node, 0) {
                problems.push(format!("{} clock: {error:#}", node.name));
            }
        }
        let _ = cluster.resume(node).await;
        if !cluster.is_running(node).await {
            if let Err(error) = cluster.start_node(node).await {
                problems.push(format!("{} start: {error:#}", node.name));
            }
        }
        if let Err(error) = cluster.mend(node).await {
            problems.push(format!("{} mend: {error:#}", node.name));
        }
    }
    problems
}
