//! One simulated node: its Raft (the real openraft and `GroupState::apply` over in-memory
//! storage) and the server that answers Raft messages and clients' SQS operations, which it
//! turns into engine commands exactly as the broker does.

use std::collections::BTreeMap;
use std::io::Cursor;
use std::sync::{Arc, Mutex};

use openraft::errors::{ClientWriteError, RaftError};
use openraft::{AsyncRuntime, Config, ReadPolicy, SnapshotPolicy};
use shoal_engine::command::{ReceiveRequest, SendEntry};
use shoal_engine::{Command, EngineConfig, LogEntry, Reply};
use shoal_raft::state::GroupState;
use shoal_raft::{NodeInfo, Proposal, Response};

use super::network::{
    call, read_frame, write_frame, Answer, CallError, ClientAnswer, ClientOp, Network, Request, PORT,
};
use super::storage::{Applied, Disk, LogStore, StateMachine};
use super::{host_of, limits, now_ms, SimRaft, SimRuntime, QUEUE};

fn raft_config(snapshots: bool) -> Arc<Config> {
    let snapshot_policy =
        if snapshots { SnapshotPolicy::LogsSinceLast(limits::SNAPSHOT_ENTRIES) } else { SnapshotPolicy::Never };
    let config = Config {
        cluster_name: "shoal-sim".into(),
        heartbeat_interval: limits::HEARTBEAT_MS,
        election_timeout_min: limits::ELECTION_TIMEOUT_MIN_MS,
        election_timeout_max: limits::ELECTION_TIMEOUT_MAX_MS,
        snapshot_policy,
        max_in_snapshot_log_to_keep: limits::LOG_KEPT_AFTER_SNAPSHOT,
        purge_batch_size: limits::LOG_KEPT_AFTER_SNAPSHOT,
        ..Default::default()
    };
    Arc::new(config.validate().expect("a valid simulation raft configuration"))
}

/// Runs node `id` until the simulation crashes it: starts its Raft from `disk`, initializes
/// the group on first start when `bootstrap`, and serves.
pub async fn run(
    id: u64,
    members: BTreeMap<u64, NodeInfo>,
    disk: Arc<Mutex<Disk>>,
    bootstrap: bool,
    snapshots: bool,
) -> turmoil::Result {
    let empty = GroupState::new(EngineConfig::new("000000000000", "us-east-1"));
    let state_machine = StateMachine::open(disk.clone(), empty)?;
    let applied = state_machine.applied.clone();
    let raft = SimRaft::new(id, raft_config(snapshots), Network, LogStore { disk }, state_machine).await?;
    if bootstrap && !raft.is_initialized().await? {
        raft.initialize(members).await?;
    }
    let listener = turmoil::net::TcpListener::bind(("0.0.0.0", PORT)).await?;
    loop {
        let (stream, _) = listener.accept().await?;
        let (raft, applied) = (raft.clone(), applied.clone());
        SimRuntime::spawn(async move {
            let _ = serve_connection(stream, &raft, &applied).await;
        });
    }
}

async fn serve_connection(
    mut stream: turmoil::net::TcpStream,
    raft: &SimRaft,
    applied: &Applied,
) -> std::io::Result<()> {
    let request: Request = read_frame(&mut stream).await?;
    let answer = match request {
        Request::Append(rpc) => raft.append_entries(rpc).await.map_or_else(failed, Answer::Append),
        Request::Vote(rpc) => raft.vote(rpc).await.map_or_else(failed, Answer::Vote),
        Request::Snapshot { vote, meta, data } => {
            let snapshot = openraft::type_config::alias::SnapshotOf::<super::SimTypes, Cursor<Vec<u8>>> {
                meta,
                snapshot: Cursor::new(data),
            };
            raft.install_full_snapshot(vote, snapshot).await.map_or_else(failed, Answer::Snapshot)
        }
        Request::Client { op, forwarded } => Answer::Client(route(raft, applied, op, forwarded).await),
    };
    write_frame(&mut stream, &answer).await
}

fn failed(error: impl std::fmt::Display) -> Answer {
    Answer::Failed(error.to_string())
}

/// Proposes `command` through this node's Raft, as the broker does on a group's leader.
async fn propose(raft: &SimRaft, command: Command) -> Result<Reply, ClientAnswer> {
    match raft.client_write(Proposal::Engine(LogEntry::new(now_ms(), command))).await {
        Ok(written) => match written.data {
            Response::Engine(Ok(reply)) => Ok(reply),
            Response::Engine(Err(error)) => Err(ClientAnswer::Refused(error.to_string())),
            other => Err(ClientAnswer::Unknown(format!("unexpected response {other:?}"))),
        },
        Err(RaftError::APIError(ClientWriteError::ForwardToLeader(_))) => {
            Err(ClientAnswer::Refused("not the leader".into()))
        }
        Err(error) => Err(ClientAnswer::Unknown(error.to_string())),
    }
}

/// Handles `op` here when this node leads the group, else forwards it in one hop to the
/// leader it knows, as the broker does.
async fn route(raft: &SimRaft, applied: &Applied, op: ClientOp, forwarded: bool) -> ClientAnswer {
    let leader = raft.current_leader().await;
    match leader {
        Some(leader) if leader == *raft.node_id() => client_op(raft, applied, op).await,
        Some(_) if forwarded => ClientAnswer::Refused("forwarded to a node that does not lead".into()),
        Some(leader) => {
            let request = Request::Client { op, forwarded: true };
            match call(&host_of(leader), &request, limits::FORWARD_TIMEOUT).await {
                Ok(Answer::Client(answer)) => answer,
                Ok(other) => ClientAnswer::Unknown(format!("unexpected answer {other:?}")),
                Err(CallError::Unreachable(why)) => ClientAnswer::Refused(why),
                Err(CallError::Lost(why)) => ClientAnswer::Unknown(why),
            }
        }
        None => ClientAnswer::Refused("no leader".into()),
    }
}

async fn client_op(raft: &SimRaft, applied: &Applied, op: ClientOp) -> ClientAnswer {
    let result = match op {
        ClientOp::CreateQueue => {
            let command = Command::CreateQueue {
                name: QUEUE.into(),
                attributes: BTreeMap::from([(
                    "VisibilityTimeout".to_string(),
                    limits::VISIBILITY_TIMEOUT_SECONDS.to_string(),
                )]),
                tags: BTreeMap::new(),
            };
            propose(raft, command).await.map(|_| ClientAnswer::Done)
        }
        ClientOp::Send { value, message_id } => {
            let entry = SendEntry {
                id: String::new(),
                message_id,
                body: value.to_string(),
                delay_seconds: None,
                attributes: Default::default(),
                system_attributes: Default::default(),
                deduplication_id: None,
                group_id: None,
                sender_id: "000000000000".into(),
            };
            match propose(raft, Command::SendMessage { queue: QUEUE.into(), entry }).await {
                Ok(Reply::Sent(sent)) => Ok(ClientAnswer::Sent { message_id: sent.message_id }),
                Ok(other) => Err(ClientAnswer::Unknown(format!("unexpected reply {other:?}"))),
                Err(answer) => Err(answer),
            }
        }
        ClientOp::Receive => {
            let request =
                ReceiveRequest { max_messages: 10, visibility_timeout_seconds: None, receive_request_attempt_id: None };
            match propose(raft, Command::ReceiveMessage { queue: QUEUE.into(), request }).await {
                Ok(Reply::Received(messages)) => Ok(ClientAnswer::Received(
                    messages
                        .into_iter()
                        .map(|message| {
                            (message.body.parse().unwrap_or(u64::MAX), message.message_id, message.receipt_handle)
                        })
                        .collect(),
                )),
                Ok(other) => Err(ClientAnswer::Unknown(format!("unexpected reply {other:?}"))),
                Err(answer) => Err(answer),
            }
        }
        ClientOp::Delete { receipt_handle } => {
            propose(raft, Command::DeleteMessage { queue: QUEUE.into(), receipt_handle })
                .await
                .map(|_| ClientAnswer::Done)
        }
        ClientOp::Remaining => match raft.ensure_linearizable(ReadPolicy::ReadIndex).await {
            Ok(_) => {
                let state = applied.state.read().unwrap_or_else(|poisoned| poisoned.into_inner());
                match state.engine.queue(QUEUE) {
                    Ok(queue) => {
                        let counts = queue.counts(now_ms());
                        Ok(ClientAnswer::Remaining((counts.visible + counts.in_flight + counts.delayed) as u64))
                    }
                    Err(error) => Err(ClientAnswer::Refused(error.to_string())),
                }
            }
            Err(error) => Err(ClientAnswer::Refused(error.to_string())),
        },
    };
    result.unwrap_or_else(|answer| answer)
}
