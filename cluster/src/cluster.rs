//! The node in its cluster: the Raft groups it hosts (a map that gains and loses groups while
//! the node runs), and running a typed request on the leader of its group, here or one hop
//! away through the peer [`Transport`]. The same code runs in the node (gRPC, RocksDB) and in
//! the simulation (simulated network and storage); [`crate::grpc`] wires the node's.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures::future::BoxFuture;
use futures::FutureExt;
use serde_json::Value;
use shoal_engine::bodies::{outbox_key, BodyKey};
use shoal_engine::{Command, Reply};
use shoal_raft::{GroupId, NodeInfo};
use shoal_sharding::{Shards, METADATA_GROUP};

use crate::broker::Broker;
use crate::call::{EncodedCall, GroupReply, GroupRequest, GroupService, Transport};
use crate::error::{CallError, ClusterError, GroupError, Leader};
use crate::level::{Hello, WriteLevel};
use crate::limits;

pub struct Cluster<S: GroupService> {
    pub node_id: u64,
    pub shards: Shards,
    /// The groups this node hosts, by id (the metadata group's engine stays empty).
    hosted: RwLock<BTreeMap<GroupId, Arc<Broker>>>,
    /// Every node's address on the peer transport, by node id.
    peers: BTreeMap<u64, String>,
    transport: Arc<dyn Transport>,
    pub account_id: String,
    pub region: String,
    /// Runs the front door's requests on this node when it leads their group.
    service: Arc<S>,
    /// The formats this node writes, agreed with its peers.
    write_level: Arc<WriteLevel>,
}

/// What a cluster is made of; its groups are added with [`Cluster::host`].
pub struct ClusterParts<S> {
    pub node_id: u64,
    pub shards: Shards,
    pub peers: BTreeMap<u64, String>,
    pub transport: Arc<dyn Transport>,
    pub account_id: String,
    pub region: String,
    pub service: Arc<S>,
    pub write_level: Arc<WriteLevel>,
}

impl<S: GroupService> Cluster<S> {
    /// A node hosting no group yet.
    pub fn new(parts: ClusterParts<S>) -> Arc<Cluster<S>> {
        Arc::new(Cluster {
            node_id: parts.node_id,
            shards: parts.shards,
            hosted: RwLock::new(BTreeMap::new()),
            peers: parts.peers,
            transport: parts.transport,
            account_id: parts.account_id,
            region: parts.region,
            service: parts.service,
            write_level: parts.write_level,
        })
    }

    /// Starts serving `broker`'s group here (replacing a replica of the same group).
    pub fn host(&self, broker: Arc<Broker>) {
        let mut hosted = self.hosted.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        hosted.insert(broker.group, broker);
    }

    /// Stops serving `group` here; its broker is returned for shutting its Raft down.
    pub fn unhost(&self, group: GroupId) -> Option<Arc<Broker>> {
        self.hosted.write().unwrap_or_else(|poisoned| poisoned.into_inner()).remove(&group)
    }

    /// The lowest-numbered node initializes every hosted group that has never been
    /// initialized; a group that has a vote or a log is left alone, so this is safe on every
    /// restart.
    pub async fn bootstrap(&self) -> anyhow::Result<()> {
        if self.peers.keys().next() != Some(&self.node_id) {
            return Ok(());
        }
        let members: BTreeMap<u64, NodeInfo> =
            self.peers.iter().map(|(id, addr)| (*id, NodeInfo { addr: addr.clone() })).collect();
        for broker in self.brokers() {
            match broker.raft().initialize(members.clone()).await {
                Ok(true) => tracing::info!(group = broker.group, nodes = members.len(), "initialized raft group"),
                Ok(false) => {}
                Err(error) => anyhow::bail!("initializing group {}: {error}", broker.group),
            }
        }
        Ok(())
    }

    /// The background work of the data groups, for the caller to spawn on its runtime: the
    /// outbox hand-over of each, and the ticks that fire timers. Each runs forever.
    pub fn workers(self: &Arc<Self>) -> Vec<BoxFuture<'static, ()>> {
        let mut workers: Vec<BoxFuture<'static, ()>> =
            self.shards.data_group_ids().map(|group| self.clone().run_outbox(group).boxed()).collect();
        workers.push(self.clone().run_ticker().boxed());
        workers.push(self.clone().run_write_level().boxed());
        workers
    }

    /// The write level this node writes at now (see [`crate::level`]).
    pub fn write_level(&self) -> u32 {
        self.write_level.get()
    }

    /// This node's answer to a peer's `Hello`.
    pub fn hello(&self) -> Hello {
        Hello { node: self.node_id, write_level_max: self.write_level.max() }
    }

    /// Asks every peer which write level it reads and raises this node's level when all of
    /// them read a higher one. A peer that does not answer, or answers as another node, counts
    /// as the oldest level.
    pub async fn agree_write_level(&self) -> std::io::Result<u32> {
        let timeout = Duration::from_millis(limits::HELLO_TIMEOUT_MS);
        let asks = self.peers.iter().filter(|(node, _)| **node != self.node_id).map(|(&node, address)| {
            let hello = self.transport.hello(node, address, timeout);
            async move {
                let level = match hello.await {
                    Ok(hello) if hello.node == node => Some(hello.write_level_max),
                    Ok(hello) => {
                        tracing::error!(
                            node,
                            address,
                            answered = hello.node,
                            "a peer's address answers as another node"
                        );
                        None
                    }
                    Err(reason) => {
                        tracing::debug!(node, %reason, "no answer to hello");
                        None
                    }
                };
                (node, level)
            }
        });
        let answers: BTreeMap<u64, Option<u32>> = futures::future::join_all(asks).await.into_iter().collect();
        self.write_level.agree(&answers).await
    }

    /// Agrees the write level with the peers at start and then periodically. Forever.
    async fn run_write_level(self: Arc<Self>) {
        loop {
            if let Err(error) = self.agree_write_level().await {
                tracing::warn!(%error, "recording the write level failed");
            }
            tokio::time::sleep(Duration::from_millis(limits::WRITE_LEVEL_POLL_MS)).await;
        }
    }

    /// On the leader of each hosted data group, proposes a `Tick` when a timer or move task
    /// needs one. Forever.
    async fn run_ticker(self: Arc<Self>) {
        let mut interval = tokio::time::interval(Duration::from_millis(limits::TICK_INTERVAL_MS));
        loop {
            interval.tick().await;
            for broker in self.brokers().iter().filter(|broker| broker.group != METADATA_GROUP) {
                if let Err(error) = broker.tick_if_needed().await {
                    tracing::warn!(group = broker.group, %error, "tick failed");
                }
            }
        }
    }

    /// While this node leads `group`, hands its outbox to the groups the messages are bound
    /// for, one batch at a time, and drops each batch once its target has it. Forever.
    async fn run_outbox(self: Arc<Self>, group: GroupId) {
        let Ok(broker) = self.broker(group) else {
            return;
        };
        // Target groups that failed lately: their batches wait, the others' do not.
        let mut resting: BTreeMap<GroupId, tokio::time::Instant> = BTreeMap::new();
        loop {
            let applied = broker.shared().applied.notified();
            let now = tokio::time::Instant::now();
            resting.retain(|_, until| *until > now);
            let skip: BTreeSet<GroupId> = resting.keys().copied().collect();
            // A new leader first applies all its predecessors committed, so it never hands over
            // an older view of the outbox than the target has already answered.
            if broker.raft().is_leader() && broker.linearize_once_per_term().await.is_err() {
                let _ = tokio::time::timeout(Duration::from_millis(limits::OUTBOX_RETRY_MS), applied).await;
                continue;
            }
            let batch = broker
                .read(|engine, _| engine.outbox_batch(limits::OUTBOX_BATCH_ENTRIES, limits::OUTBOX_BATCH_BYTES, &skip));
            let pause = match batch {
                Some((target, entries)) if broker.raft().is_leader() => {
                    match self.hand_over(group, target, entries).await {
                        Ok(()) => continue,
                        Err(error) => {
                            tracing::warn!(group, target, %error, "handing the outbox over failed; retrying");
                            resting.insert(target, now + Duration::from_millis(limits::OUTBOX_RETRY_MS));
                            continue;
                        }
                    }
                }
                _ => Duration::from_millis(limits::OUTBOX_RETRY_MS),
            };
            let _ = tokio::time::timeout(pause, applied).await;
        }
    }

    /// One batch of `group`'s outbox into `target`, then out of the outbox.
    async fn hand_over(
        &self,
        group: GroupId,
        target: GroupId,
        entries: Vec<shoal_engine::outbox::OutboxEntry>,
    ) -> Result<(), String> {
        let entries = self.with_contents(group, entries)?;
        let positions: Vec<u64> = entries.iter().map(|entry| entry.position).collect();
        let request = GroupRequest::Import { source_group: group, entries };
        let reply = self.call(target, request).await.map_err(|error| format!("{error:?}"))?;
        let GroupReply::Imported { refused } = reply else {
            return Err(format!("unexpected reply to an import into group {target}"));
        };
        if !refused.is_empty() {
            tracing::warn!(group, target, refused = refused.len(), "the target group refused messages; they go back");
        }
        let broker = self.broker(group).map_err(|error| error.to_string())?;
        match broker.propose(Command::AckOutbox { positions, refused }).await.map_err(|error| error.to_string())? {
            Reply::Done => Ok(()),
            other => Err(format!("unexpected reply to AckOutbox: {other:?}")),
        }
    }

    /// Gives outbox entries (which, like every message the engine holds, keep no contents) their
    /// contents from the store, keeping as many as fit in one hand-over's bytes (at least one).
    /// An entry whose contents are missing is not sent: this leader has not applied its
    /// acknowledgement yet (see `raft::bodies`), and the batch is tried again.
    fn with_contents(
        &self,
        group: GroupId,
        mut entries: Vec<shoal_engine::outbox::OutboxEntry>,
    ) -> Result<Vec<shoal_engine::outbox::OutboxEntry>, String> {
        let broker = self.broker(group).map_err(|error| error.to_string())?;
        let keys: Vec<BodyKey> = entries.iter().map(|entry| outbox_key(entry.position)).collect();
        let records = broker.shared().bodies().read(group, &keys).map_err(|error| error.to_string())?;
        let mut bytes = 0;
        let mut kept = 0;
        for (entry, record) in entries.iter_mut().zip(records) {
            let Some(record) = record else {
                return Err(format!("the contents of outbox entry {} are not in the store yet", entry.position));
            };
            let size = shoal_engine::message::message_size_bytes(&record.body, &record.attributes);
            if kept > 0 && bytes + size > limits::OUTBOX_BATCH_BYTES {
                break;
            }
            bytes += size;
            kept += 1;
            entry.delivery.message.restore_contents(record);
            if entry.delivery.message.header().is_none() {
                // Sent without it, the message would arrive with no id: keep it until it has one.
                return Err(format!("outbox entry {} is stored without its header", entry.position));
            }
        }
        entries.truncate(kept);
        Ok(entries)
    }

    /// This node's view of every group: leader, term, log and applied indexes, snapshot.
    pub fn status(&self) -> Value {
        let groups: Vec<Value> = self
            .brokers()
            .iter()
            .map(|broker| {
                let status = broker.raft().status();
                serde_json::json!({
                    "group": broker.group,
                    "state": status.state,
                    "leader": status.leader,
                    "term": status.term,
                    "last_log_index": status.last_log_index,
                    "last_applied": status.last_applied,
                    "snapshot": status.snapshot,
                    "purged": status.purged,
                })
            })
            .collect();
        serde_json::json!({
            "node": self.node_id,
            "data_groups": self.shards.data_groups(),
            "write_level": self.write_level(),
            "groups": groups,
        })
    }

    /// openraft's runtime statistics of every group this node hosts, as text.
    pub async fn raft_stats(&self) -> String {
        let mut text = String::new();
        for broker in self.brokers() {
            let stats = broker.raft().raft_stats().await.unwrap_or_else(|error| format!("unavailable: {error}"));
            text.push_str(&format!("group {} ({}):\n{stats}\n\n", broker.group, broker.raft().status().state));
        }
        text
    }

    /// The groups this node hosts now.
    pub fn brokers(&self) -> Vec<Arc<Broker>> {
        self.hosted.read().unwrap_or_else(|poisoned| poisoned.into_inner()).values().cloned().collect()
    }

    /// The broker of `group`, if this node hosts it.
    pub fn broker(&self, group: GroupId) -> Result<Arc<Broker>, ClusterError> {
        let hosted = self.hosted.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        hosted.get(&group).cloned().ok_or(ClusterError::NotHosted { group })
    }

    /// The data group of queue `name`.
    pub fn group_of(&self, name: &str) -> GroupId {
        self.shards.group_of(name)
    }

    /// Runs a request on the leader of `group`: here, or forwarded there in one hop. A forward
    /// refused as not leading is tried once more, on the leader the refusing node named or else
    /// on the one this node learns of within `LEADER_WAIT_MS`;
    /// one still unanswered when another leader is elected is abandoned with its outcome
    /// unknown, rather than held until the old leader's timeout (a dead node answers nothing).
    pub async fn call(
        &self,
        group: GroupId,
        request: GroupRequest<S::Request>,
    ) -> Result<GroupReply<S::Reply>, CallError<S::Error>> {
        let broker = self.broker(group).map_err(CallError::Cluster)?;
        // The leader as this node knows it, waiting a little during an election.
        let wait = Duration::from_millis(limits::LEADER_WAIT_MS);
        let mut leader =
            broker.raft().leader(wait).await.ok_or(CallError::Cluster(ClusterError::NoLeader { group }))?;
        // The term this node knew `leader` in: a refusal from `leader` followed by its own
        // election in a later term is a change too.
        let mut term = broker.raft().status().term;
        // Whether `leader` is another node's word rather than this node's Raft's (whose
        // changes then say nothing about it).
        let mut hinted = false;
        let mut retried = false;
        loop {
            if leader == self.node_id {
                return self.execute_local(&broker, request).await.map_err(CallError::Service);
            }
            let forwarded = self.forward(group, leader, &request);
            let result = if hinted {
                forwarded.await
            } else {
                tokio::select! {
                    // A reply that is ready wins over a leader change seen at the same time.
                    biased;
                    result = forwarded => result,
                    elected = broker.raft().leader_change(leader, None) => {
                        return Err(CallError::Cluster(ClusterError::OutcomeUnknown {
                            group,
                            reason: format!("node {elected} was elected while the call to node {leader} was unanswered"),
                        }));
                    }
                }
            };
            match result {
                Err(CallError::Cluster(ClusterError::NotLeader { leader: ref hint, .. })) if !retried => {
                    retried = true;
                    // Nothing ran: go to the leader the refusing node named, or else wait (a
                    // little) until this node's Raft learns of another.
                    let named = hint.as_ref().map(|hint| hint.node);
                    match named.filter(|&named| named != leader && named != self.node_id) {
                        Some(named) => (leader, hinted) = (named, true),
                        None => {
                            let wait = Duration::from_millis(limits::LEADER_WAIT_MS);
                            match tokio::time::timeout(wait, broker.raft().leader_change(leader, Some(term))).await {
                                Ok(elected) => (leader, term) = (elected, broker.raft().status().term),
                                Err(_) => return result,
                            }
                        }
                    }
                }
                result => return result,
            }
        }
    }

    /// Sends `request` to node `leader`, which this node believes leads `group`.
    async fn forward(
        &self,
        group: GroupId,
        leader: u64,
        request: &GroupRequest<S::Request>,
    ) -> Result<GroupReply<S::Reply>, CallError<S::Error>> {
        let wait_seconds = match request {
            GroupRequest::Service(request) => self.service.wait_seconds(request),
            GroupRequest::Import { .. } => 0,
        };
        let outcome_unknown = |reason| CallError::Cluster(ClusterError::OutcomeUnknown { group, reason });
        let encoded = EncodedCall::encode(request).map_err(outcome_unknown)?;
        let timeout = Duration::from_millis(limits::CALL_TIMEOUT_MS) + Duration::from_secs(u64::from(wait_seconds));
        let address = self.peers.get(&leader).ok_or_else(|| {
            CallError::Cluster(ClusterError::Unreachable { group, node: leader, reason: "not a peer".to_string() })
        })?;
        let reply = self.transport.send(leader, address, group, encoded, timeout).await.map_err(CallError::Cluster)?;
        reply.decode().map_err(outcome_unknown)?
    }

    /// The receiving side of a forwarded call: runs it if this node leads the group, else
    /// answers not-leader with the leader it knows (one hop only: the caller retries).
    pub async fn answer(&self, group: GroupId, call: EncodedCall) -> Result<EncodedCall, String> {
        let request: GroupRequest<S::Request> = call.decode()?;
        let result: Result<GroupReply<S::Reply>, CallError<S::Error>> = match self.broker(group) {
            Err(error) => Err(CallError::Cluster(error)),
            Ok(broker) if broker.raft().is_leader() => {
                self.execute_local(&broker, request).await.map_err(CallError::Service)
            }
            Ok(broker) => {
                let leader = broker.raft().status().leader;
                let leader = leader
                    .and_then(|node| self.peers.get(&node).map(|address| Leader { node, address: address.clone() }));
                Err(CallError::Cluster(ClusterError::NotLeader { group, node: self.node_id, leader }))
            }
        };
        EncodedCall::encode(&result)
    }

    /// Runs a group request on this node, which leads the group of `broker`.
    async fn execute_local(
        &self,
        broker: &Broker,
        request: GroupRequest<S::Request>,
    ) -> Result<GroupReply<S::Reply>, S::Error> {
        match request {
            GroupRequest::Service(request) => self.service.execute(broker, request).await.map(GroupReply::Service),
            GroupRequest::Import { source_group, entries } => {
                // Like every write: the new leader first applies what its predecessors committed.
                broker.linearize_once_per_term().await.map_err(GroupError::from)?;
                match broker.propose(Command::ImportMessages { source_group, entries }).await? {
                    Reply::Imported { refused } => Ok(GroupReply::Imported { refused }),
                    other => Err(S::Error::from(GroupError::Internal(format!(
                        "unexpected reply to ImportMessages: {other:?}"
                    )))),
                }
            }
        }
    }
}
